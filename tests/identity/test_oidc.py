"""Production sign-in: tokens of an OpenID Connect provider (Keycloak), checked against its JWKS for issuer,
audience, signature and expiry; roles, department and agent read from configurable claims."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from core.access import Role
from core.errors import Unauthenticated
from core.settings import Settings
from services.identity import principal_from_token

ISSUER = "http://keycloak.test/realms/simbo"


@pytest.fixture(scope="module")
def provider():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(auth_mode="oidc", oidc_issuer=ISSUER, oidc_audience="simbo-api",
                        oidc_jwks_url=f"http://127.0.0.1:{server.server_port}/certs")
    yield key, settings
    server.shutdown()


def _token(key, kid="k1", **claims) -> str:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": "simbo-api", "sub": "f3a1", "preferred_username": "li.auditor", "iat": now,
            "exp": now + 300, "realm_access": {"roles": ["auditor", "offline_access"]}, "department": "billing"}
    return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": kid})


def test_a_providers_token_names_the_user_and_its_roles(provider):
    key, settings = provider
    p = principal_from_token(_token(key), settings)
    assert (p.id, p.roles, p.department) == ("li.auditor", frozenset({Role.AUDITOR}), "billing")  # unknown roles drop


@pytest.mark.parametrize(("claims", "kind"), [
    ({"aud": "someone-else"}, "invalid_token"),
    ({"iss": "http://evil.test/realms/simbo"}, "invalid_token"),
    ({"exp": int(time.time()) - 10}, "token_expired"),
])
def test_tokens_for_another_audience_issuer_or_time_are_refused(provider, claims, kind):
    key, settings = provider
    with pytest.raises(Unauthenticated) as err:
        principal_from_token(_token(key, **claims), settings)
    assert err.value.type == kind


def test_a_token_signed_by_another_key_is_refused(provider):
    _, settings = provider
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthenticated):
        principal_from_token(_token(stranger), settings)
    with pytest.raises(Unauthenticated):
        principal_from_token(_token(stranger, kid="unknown"), settings)

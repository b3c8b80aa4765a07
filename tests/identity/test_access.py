"""Every route of the app declares one permission; anonymous callers get 401, every role without the
permission 403, and the roles with it get past the door. A new route without a permission fails here."""

import pytest
from fastapi.testclient import TestClient

from core.access import ROLE_PERMISSIONS, Permission, Role
from tests.fixtures_db import bearer

# Doors that are not for signed-in people: the health check and signing in itself, and the pushes the
# carriers, couriers and the SMS gateway sign with their shared key (checked by signature instead).
PUBLIC = {("GET", "/healthz"), ("POST", "/auth/token"), ("POST", "/auth/refresh")}
SIGNED = {("POST", "/carrier-events"), ("POST", "/carrier-events/batch"), ("POST", "/complaints/sms/inbound")}
ATTRS = {Role.AGENT: {"agent_id": "A001"}, Role.COMPLAINT_HANDLER: {"department": "complaint_desk"}}


def _operations(app) -> list[tuple[str, str, dict]]:
    ops = []
    for path, methods in app.openapi()["paths"].items():
        for method, op in methods.items():
            ops.append((method.upper(), path, op))
    return ops


def _url(path: str) -> str:
    return path.replace("{year}", "2026").replace("{month}", "202611").replace("{day}", "2026-11-30") \
        .replace("{action}", "approve").replace("{", "").replace("}", "")


def _permission(op: dict) -> Permission:
    scopes = [s for req in op.get("security", []) for s in req.get("OAuth2PasswordBearer", [])]
    assert len(scopes) == 1, f"{op.get('operationId')} declares {scopes or 'no permission'}"
    return Permission(scopes[0])


def _call(client: TestClient, method: str, path: str, headers: dict[str, str] | None = None):
    kw = {"json": {}} if method in ("POST", "PUT") else {}
    return client.request(method, _url(path), headers=headers or {}, **kw)


def test_every_route_declares_one_permission(api_app):
    for method, path, op in _operations(api_app):
        if (method, path) not in PUBLIC | SIGNED:
            _permission(op)


def test_anonymous_callers_get_401_everywhere_but_the_public_doors(api_app):
    with TestClient(api_app) as client:
        for method, path, _ in _operations(api_app):
            if (method, path) in PUBLIC:
                continue
            r = _call(client, method, path)
            assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
            assert r.json()["type"] in ("unauthenticated", "bad_signature"), (method, path)


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_each_role_passes_exactly_the_routes_it_has_the_permission_for(api_app, role):
    headers = bearer(role.value, user=f"walk-{role}", **ATTRS.get(role, {}))
    with TestClient(api_app, raise_server_exceptions=False) as client:
        for method, path, op in _operations(api_app):
            if (method, path) in PUBLIC | SIGNED:
                continue
            needed = _permission(op)
            r = _call(client, method, path, headers)
            if needed in ROLE_PERMISSIONS[role]:
                assert r.status_code not in (401, 403) or r.json()["type"] not in ("unauthenticated",
                                                                                    "permission_denied"), \
                    (role, method, path, r.text[:200])
                assert r.status_code < 500, (role, method, path, r.status_code, r.text[:300])
            else:
                assert r.status_code == 403 and r.json()["type"] == "permission_denied", (role, method, path)


def test_a_merchant_key_and_a_token_are_both_offered_by_swagger(api_app):
    schemes = api_app.openapi()["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/auth/token"
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                                       "description": "a merchant's API key"}

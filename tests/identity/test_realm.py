"""The production provider's realm (Keycloak) knows every staff role the API does, and puts in the token
what the API reads from it."""

import json
from pathlib import Path

from core.access import Role
from core.settings import Settings

REALM = json.loads((Path(__file__).resolve().parents[2] / "deploy/keycloak/simbo-realm.json").read_text())


def test_every_staff_role_is_a_realm_role():
    # merchants come by API key, never through the provider
    assert {r["name"] for r in REALM["roles"]["realm"]} == {r.value for r in Role} - {Role.MERCHANT}


def test_the_token_carries_the_audience_and_the_claims_the_api_reads():
    s = Settings()
    [scope] = [c for c in REALM["clientScopes"] if c["name"] == "simbo-api"]
    mappers = {m["protocolMapper"]: m["config"] for m in scope["protocolMappers"]}
    assert mappers["oidc-audience-mapper"]["included.custom.audience"] == s.oidc_audience
    claims = {m["config"].get("claim.name") for m in scope["protocolMappers"]}
    assert {s.oidc_department_claim, s.oidc_agent_claim} <= claims
    assert s.oidc_roles_claim == "realm_access.roles"  # where Keycloak puts realm roles
    assert {c["clientId"] for c in REALM["clients"]} == {"simbo-api", "temporal-ui"}


def test_no_client_secret_is_written_in_the_realm_file():
    """Keycloak resolves `${VAR}` placeholders at import; compose gives the variable to Keycloak and the UI server."""
    from ruamel.yaml import YAML

    [ui] = [c for c in REALM["clients"] if c["clientId"] == "temporal-ui"]
    assert ui["secret"] == "${TEMPORAL_UI_CLIENT_SECRET}"
    compose = YAML(typ="safe").load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    secret = "${TEMPORAL_UI_CLIENT_SECRET:?set TEMPORAL_UI_CLIENT_SECRET}"
    assert compose["services"]["keycloak"]["environment"]["TEMPORAL_UI_CLIENT_SECRET"] == secret
    assert compose["services"]["temporal-ui"]["environment"]["TEMPORAL_AUTH_CLIENT_SECRET"] == secret

"""Who sees and does what, by identity: merchants' keys, agents, a department's handlers, and the anonymous
calls that used to move money."""

import pytest
from sqlmodel import Session

from services import identity
from tests.fixtures_db import AGENT, CHILD, PRODUCT, bearer
from tests.refunds.fixtures import MERCHANT, OTHER_MERCHANT, pay, seed_refund_reference

REFUND = {"merchant_refund_no": "R-1", "payment_id": "P1", "amount_fen": 1000, "reason": "one item returned"}


@pytest.fixture
def merchant_key(seeded):
    seed_refund_reference(seeded)
    pay(seeded, "P1")
    pay(seeded, "P2", merchant=OTHER_MERCHANT)
    with Session(seeded) as s:
        return {"X-Api-Key": identity.create_api_key(s, MERCHANT, "test")[1]}


def test_a_merchant_key_acts_only_for_its_merchant(api_client, anonymous_client, merchant_key, fake_temporal):
    assert api_client.get("/me", headers=merchant_key).json()["type"] == "two_credentials"
    r = anonymous_client.post("/refunds", json={**REFUND, "merchant_id": OTHER_MERCHANT}, headers=merchant_key)
    assert r.status_code == 403 and r.json()["type"] == "other_merchant"
    r = anonymous_client.post("/refunds", json={**REFUND, "merchant_id": MERCHANT, "source": "ops"}, headers=merchant_key)
    assert r.status_code == 403 and r.json()["type"] == "source_not_allowed"
    r = anonymous_client.post("/refunds", json={**REFUND, "merchant_id": MERCHANT}, headers=merchant_key)
    assert r.status_code == 201 and r.json()["requested_by"] == f"merchant:{MERCHANT}"
    theirs = api_client.post("/refunds", json={**REFUND, "merchant_id": OTHER_MERCHANT, "payment_id": "P2",
                                               "source": "ops"}).json()  # asked by a person: audited
    listed = anonymous_client.get("/refunds", params={"merchant_id": OTHER_MERCHANT}, headers=merchant_key).json()
    assert {x["merchant_id"] for x in listed["items"]} == {MERCHANT}  # the filter cannot widen the view
    assert anonymous_client.get(f"/refunds/{theirs['id']}", headers=merchant_key).status_code == 404
    assert anonymous_client.get("/payments/P2", headers=merchant_key).status_code == 404
    assert anonymous_client.get("/payments/P1", headers=merchant_key).status_code == 200


def test_a_merchant_never_records_the_payments_it_refunds(anonymous_client, merchant_key):
    body = {"id": "P-FAKE", "merchant_id": MERCHANT, "merchant_order_no": "X", "channel": "unionpay",
            "product": "quick", "paid_fen": 9_999_900, "fee_fen": 0}
    r = anonymous_client.post("/payments", json=body, headers=merchant_key)
    assert r.status_code == 403 and r.json()["type"] == "permission_denied"


def test_an_agent_sees_and_acts_only_for_itself(api_client, seeded, fake_temporal):
    placed = api_client.post("/orders", json={"agent_id": CHILD, "product_id": PRODUCT, "msisdn": "13812345678"},
                             headers={"Idempotency-Key": "k1"}).json()
    me = bearer("agent", user="agent-a001", agent_id=AGENT)
    assert api_client.get("/orders", headers=me).json()["total"] == 0
    assert api_client.get("/orders", params={"agent_id": CHILD}, headers=me).json()["total"] == 0
    assert api_client.get(f"/orders/{placed['id']}", headers=me).status_code == 404
    r = api_client.post("/orders", json={"agent_id": CHILD, "product_id": PRODUCT, "msisdn": "13812345679"},
                        headers={**me, "Idempotency-Key": "k2"})
    assert r.status_code == 403 and r.json()["type"] == "other_agent"
    assert api_client.get(f"/agents/{CHILD}/statements", headers=me).status_code == 403
    assert api_client.get(f"/agents/{CHILD}", headers=me).status_code == 403
    assert api_client.post(f"/agents/{CHILD}/appeal", json={"evidence": "x"}, headers=me).status_code == 403
    assert api_client.get(f"/agents/{AGENT}", headers=me).status_code == 200
    assert api_client.get("/me", headers=me).json()["agent_id"] == AGENT


def test_a_department_handler_acts_only_for_its_department(api_client, seeded):
    billing = bearer("complaint_handler", user="zhao", department="billing")
    r = api_client.post("/complaints/C1/accept", json={"department": "complaint_desk"}, headers=billing)
    assert r.status_code == 403 and r.json()["type"] == "other_department"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/refunds/R1/approve", {"reason": "looks fine"}),
    ("POST", "/refunds/R1/force_success", {"reason": "statement", "statement_ref": "S"}),
    ("POST", "/payments", {}),
    ("PUT", "/refund-error-mappings", {}),
    ("PUT", "/refund-channels/unionpay/auto-audit", {"enabled": False, "reason": "x"}),
    ("POST", "/agents/A001/suspend", {"reason": "x"}),
    ("POST", "/agents/A001/reinstate", {"reason": "x"}),
    ("GET", "/agents/A001/statements", None),
    ("POST", "/complaints/C1/fee-returns", {}),
    ("POST", "/fee-returns/F1/approve", None),
    ("POST", "/fee-returns/F1/audit", {"ok": True}),
    ("PUT", "/complaints/calendar/2027", {}),
])
def test_what_an_anonymous_caller_could_once_do_is_refused(anonymous_client, method, path, body):
    r = anonymous_client.request(method, path, json=body)
    assert r.status_code == 401 and r.json()["type"] == "unauthenticated"


def test_a_refund_auditor_may_not_force_and_ops_may_not_approve(api_client, seeded):
    body = {"reason": "checked", "statement_ref": "S-1"}
    r = api_client.post("/refunds/R1/force_success", json=body, headers=bearer("auditor", user="li"))
    assert r.status_code == 403 and "force_success" in r.json()["reason"]
    r = api_client.post("/refunds/R1/approve", json=body, headers=bearer("ops", user="wang"))
    assert r.status_code == 403 and "approve" in r.json()["reason"]


def test_a_person_asks_as_ops_or_risk_and_a_second_person_audits_it(api_client, merchant_key, fake_temporal):
    r = api_client.post("/refunds", json={**REFUND, "merchant_id": MERCHANT})  # staff claiming to be the merchant
    assert r.status_code == 403 and r.json()["type"] == "source_not_allowed"
    for source in ("exception_duplicate_payment", "exception_below_fee"):  # the platform's own, never asked for
        r = api_client.post("/refunds", json={**REFUND, "merchant_id": MERCHANT, "source": source})
        assert r.status_code == 403 and r.json()["type"] == "source_not_allowed"
    r = api_client.post("/refunds", json={**REFUND, "merchant_id": MERCHANT, "source": "ops"})
    assert r.status_code == 201 and r.json()["status"] == "awaiting_audit"


def test_scoped_roles_without_their_scope_are_refused(api_client):
    assert api_client.get("/orders", headers=bearer("agent", user="no-agent")).json()["type"] == "scope_missing"
    r = api_client.post("/complaints/C1/accept", json={"department": "billing"},
                        headers=bearer("complaint_handler", user="no-dept"))
    assert r.status_code == 403 and r.json()["type"] == "scope_missing"


def test_the_api_refuses_to_serve_real_users_with_the_repositorys_token_key():
    from core.settings import Settings

    with pytest.raises(RuntimeError, match="SIMBO_AUTH_TOKEN_SECRET"):
        identity.check_settings(Settings(demo_users=False))
    identity.check_settings(Settings(demo_users=False, auth_token_secret="x" * 40))
    identity.check_settings(Settings(demo_users=False, auth_mode="oidc"))

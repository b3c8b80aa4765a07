"""Agent suspension / appeal / reinstatement with commission holds, and the health check."""

import pytest
from sqlmodel import Session, select

from db.agents import AgentStatusChange
from db.orders import CommissionLineRecord, LineStatus
from tests.fixtures_db import AGENT, CHILD, PRODUCT, SUSPENDED, bearer


@pytest.fixture
def lines(seeded):
    with Session(seeded) as s:
        for order, agent, role, amount, status in [
            ("O1", AGENT, "agent", 12000, LineStatus.PAYABLE),
            ("O2", AGENT, "agent", 8000, LineStatus.PAID),
            ("O3", CHILD, "agent", 12000, LineStatus.PAYABLE),
            ("O3", AGENT, "parent_override", 1200, LineStatus.PAYABLE),
        ]:
            s.add(CommissionLineRecord(order_id=order, agent_id=agent, role=role, carrier="china_mobile",
                                       month="202604", amount_fen=amount, status=status))
        s.commit()
    return seeded


def statuses(engine) -> dict[tuple[str, str], LineStatus]:
    with Session(engine) as s:
        return {(ln.order_id, ln.role): ln.status for ln in s.exec(select(CommissionLineRecord)).all()}


def test_suspend_holds_unpaid_lines_and_blocks_orders(lines, api_client, fake_temporal):
    r = api_client.post(f"/agents/{AGENT}/suspend", json={"reason": "fake orders"}, headers=bearer("ops", user="ops:li"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["agent"]["status"] == "suspended" and body["agent"]["status_reason"] == "fake orders"
    assert body["change"]["action"] == "suspend" and body["change"]["actor"] == "ops:li"  # from the token
    assert body["lines_changed"] == 2
    assert statuses(lines) == {
        ("O1", "agent"): LineStatus.HELD,
        ("O2", "agent"): LineStatus.PAID,  # already paid: untouched
        ("O3", "agent"): LineStatus.PAYABLE,  # the child's own line: untouched
        ("O3", "parent_override"): LineStatus.HELD,
    }
    r = api_client.post("/orders", json={"agent_id": AGENT, "product_id": PRODUCT, "msisdn": "13812345678"},
                        headers={"Idempotency-Key": "after-suspension"})
    assert r.status_code == 403 and r.json() == {"status": 403, "type": "agent_suspended", "reason": f"agent {AGENT} is suspended: fake orders"}
    assert [s["id"] for s in fake_temporal.started if s["id"].startswith("order-")] == []  # no order started
    assert [s["id"] for s in fake_temporal.started] == [f"agent-{AGENT}"]  # the account workflow heard of it

    again = api_client.post(f"/agents/{AGENT}/suspend", json={"reason": "twice"})
    assert again.status_code == 409 and "already suspended" in again.json()["reason"]


def test_appeal_then_reinstate_releases_held_lines(lines, api_client):
    api_client.post(f"/agents/{AGENT}/suspend", json={"reason": "fake orders"}, headers=bearer("ops", user="ops:li"))
    r = api_client.post(f"/agents/{AGENT}/appeal", json={"evidence": "delivery photos"},
                        headers=bearer("agent", user="agent:A001", agent_id=AGENT))
    assert r.status_code == 200 and r.json()["change"]["action"] == "appeal"
    assert r.json()["agent"]["status"] == "suspended"

    r = api_client.post(f"/agents/{AGENT}/reinstate", json={"reason": "appeal upheld"}, headers=bearer("admin", user="admin:wang"))
    assert r.status_code == 200
    assert r.json()["agent"]["status"] == "active" and r.json()["lines_changed"] == 2
    assert statuses(lines)[("O1", "agent")] == LineStatus.PAYABLE
    assert statuses(lines)[("O3", "parent_override")] == LineStatus.PAYABLE
    assert statuses(lines)[("O2", "agent")] == LineStatus.PAID

    detail = api_client.get(f"/agents/{AGENT}").json()
    assert [(h["action"], h["reason"], h["actor"]) for h in detail["history"]] == [
        ("suspend", "fake orders", "ops:li"),
        ("appeal", "delivery photos", "agent:A001"),
        ("reinstate", "appeal upheld", "admin:wang"),
    ]
    assert (detail["payable_fen"], detail["held_fen"], detail["paid_fen"]) == (13200, 0, 8000)

    r = api_client.post("/orders", json={"agent_id": AGENT, "product_id": PRODUCT, "msisdn": "13812345678"},
                        headers={"Idempotency-Key": "after-reinstatement"})
    assert r.status_code == 201


def test_agent_detail_shows_held_amounts(lines, api_client):
    api_client.post(f"/agents/{AGENT}/suspend", json={"reason": "arrears"})
    detail = api_client.get(f"/agents/{AGENT}").json()
    assert detail["status"] == "suspended"
    assert (detail["payable_fen"], detail["held_fen"], detail["paid_fen"]) == (0, 13200, 8000)


@pytest.mark.parametrize(
    ("action", "body", "reason"),
    [
        ("reinstate", {"reason": "r"}, "not suspended; nothing to reinstate"),
        ("appeal", {"evidence": "e"}, "not suspended; there is nothing to appeal"),
    ],
)
def test_invalid_transitions_are_409(lines, api_client, action, body, reason):
    r = api_client.post(f"/agents/{AGENT}/{action}", json=body)
    assert r.status_code == 409 and reason in r.json()["reason"]
    with Session(lines) as s:
        assert s.exec(select(AgentStatusChange)).all() == []
    assert statuses(lines)[("O1", "agent")] == LineStatus.PAYABLE


def test_already_suspended_agent_can_be_reinstated(seeded, api_client):
    r = api_client.post(f"/agents/{SUSPENDED}/reinstate", json={"reason": "paid arrears"})
    assert r.status_code == 200 and r.json()["agent"]["status_reason"] == ""


@pytest.mark.parametrize("action", ["suspend", "reinstate", "appeal"])
def test_unknown_agent_is_404(seeded, api_client, action):
    body = {"evidence": "e"} if action == "appeal" else {"reason": "r"}
    r = api_client.post(f"/agents/NOPE/{action}", json=body)
    assert r.status_code == 404 and r.json()["reason"] == "unknown agent NOPE"


def test_get_unknown_agent_is_404(seeded, api_client):
    assert api_client.get("/agents/NOPE").status_code == 404


@pytest.mark.parametrize("body", [{"reason": ""}, {}, {"reason": "r", "actor": "someone else"}])
def test_status_change_body_is_validated(seeded, api_client, body):
    assert api_client.post(f"/agents/{AGENT}/suspend", json=body).status_code == 422


def test_healthz(seeded, api_client, fake_temporal):
    r = api_client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok", "temporal": "connected"}


def test_openapi_docs(seeded, api_client):
    assert api_client.get("/docs").status_code == 200
    paths = api_client.get("/openapi.json").json()["paths"]
    for p in ("/orders", "/orders/{order_id}", "/carrier-events", "/carrier-events/batch", "/settlements",
              "/agents/{agent_id}/statements/{month}.xlsx", "/agents/{agent_id}/suspend", "/healthz"):
        assert p in paths

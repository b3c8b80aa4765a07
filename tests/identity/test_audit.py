"""Every state-changing request by a person or a merchant is on record, with who, what and the outcome."""

from tests.fixtures_db import AGENT, bearer


def test_changes_are_recorded_with_the_callers_identity_and_reads_are_not(api_client, seeded):
    ops = bearer("ops", user="ops:li")
    r = api_client.post(f"/agents/{AGENT}/suspend", json={"reason": "fake orders"},
                        headers={**ops, "X-Request-Id": "req-1"})
    assert r.status_code == 200 and r.headers["X-Request-Id"] == "req-1"
    refused = api_client.post(f"/agents/{AGENT}/reinstate", json={"reason": "no"}, headers=bearer("finance", user="fin"))
    assert refused.status_code == 403
    api_client.get(f"/agents/{AGENT}", headers=ops)  # a read: not recorded

    log = api_client.get("/audit", headers=bearer("auditor", user="aud")).json()
    assert [(e["actor"], e["roles"], e["action"], e["target"], e["outcome"]) for e in log["items"]] == [
        ("fin", "finance", "POST /agents/{agent_id}/reinstate", f"agent_id={AGENT}", 403),
        ("ops:li", "ops", "POST /agents/{agent_id}/suspend", f"agent_id={AGENT}", 200),
    ]
    assert log["items"][1]["request_id"] == "req-1"
    only_refusals = api_client.get("/audit", params={"outcome_from": 400}).json()
    assert [e["actor"] for e in only_refusals["items"]] == ["fin"]
    csv = api_client.get("/audit.csv", params={"actor": "ops:li"})
    assert csv.status_code == 200 and "POST /agents/{agent_id}/suspend" in csv.content.decode("utf-8-sig")
    assert api_client.get("/audit", headers=bearer("ops")).status_code == 403  # ops do not read the audit log


def test_a_request_that_crashes_is_on_record_too(api_app, seeded, monkeypatch):
    from fastapi.testclient import TestClient

    from services import agents

    def boom(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(agents, "suspend", boom)
    with TestClient(api_app, raise_server_exceptions=False, headers=bearer("ops", user="ops:li")) as client:
        assert client.post(f"/agents/{AGENT}/suspend", json={"reason": "x"}).status_code == 500
        log = client.get("/audit", headers=bearer("auditor")).json()
    assert [(e["actor"], e["outcome"]) for e in log["items"]] == [("ops:li", 500)]


def test_sign_in_attempts_are_on_record_under_the_name_given(api_client, db):
    from sqlmodel import Session

    from core.access import Role
    from services import identity

    with Session(db) as s:
        identity.add_user(s, "li.auditor", "correct horse 42", [Role.AUDITOR])
    api_client.post("/auth/token", data={"username": "li.auditor", "password": "wrong"})
    api_client.post("/auth/token", data={"username": "li.auditor", "password": "correct horse 42"})
    log = api_client.get("/audit", params={"action": "/auth/token"}).json()
    assert [(e["actor"], e["outcome"]) for e in log["items"]] == [("li.auditor", 200), ("li.auditor", 401)]

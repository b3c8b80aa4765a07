"""Agent accounts through the API: suspension categories, appeals with attachments answered by an admin, arrears
paid by finance, maintenance windows pausing orders, the inbox, suspension cases, and the account workflow
hearing of every step (the fake Temporal client records it)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.settings import get_settings
from db.agents import AgentNotice, AgentStatusChange, SuspensionCase
from db.orders import CommissionLineRecord, LineStatus
from tests.fixtures_db import AGENT, CHILD, PRODUCT, bearer

OPS = bearer("ops", user="ops:li")
ADMIN = bearer("admin", user="admin:wang")
AGENT_A = bearer("agent", user="agent:A001", agent_id=AGENT)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
PDF = b"%PDF-1.7\n" + b"x" * 50


@pytest.fixture
def files(tmp_path, monkeypatch):
    folder = tmp_path / "attachments"
    monkeypatch.setenv("SIMBO_AGENT_ATTACHMENTS_DIR", str(folder))
    monkeypatch.setenv("SIMBO_AGENT_ATTACHMENT_MAX_BYTES", "1000")
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture
def lines(seeded):
    with Session(seeded) as s:
        s.add(CommissionLineRecord(order_id="O1", agent_id=AGENT, role="agent", carrier="china_mobile",
                                   month="202604", amount_fen=12000, status=LineStatus.PAYABLE))
        s.commit()
    return seeded


def suspend(client, **body):
    return client.post(f"/agents/{AGENT}/suspend", json={"reason": "brushing orders in May", **body}, headers=OPS)


def upload(client, content: bytes, name="proof.png", ctype="image/png", headers=AGENT_A):
    return client.post(f"/agents/{AGENT}/attachments", files={"file": (name, content, ctype)}, headers=headers)


def account_signals(fake) -> list[tuple[str, str]]:
    return [(s["id"], s["start_signal_args"][0].action) for s in fake.started if s.get("start_signal")]


@pytest.mark.parametrize(("body", "problem"), [
    ({"category": "violation"}, "names its kind"),
    ({"category": "arrears", "violation_kind": "fake_orders"}, "only a violation"),
    ({"category": "other", "until": "2030-01-01T00:00:00+08:00"}, "only a maintenance"),
    ({"category": "maintenance", "until": "2020-01-01T00:00:00+08:00"}, "in the future"),
])
def test_a_suspension_s_details_fit_its_category(seeded, api_client, body, problem):
    r = suspend(api_client, **body)
    assert r.status_code == 422 and r.json()["type"] == "suspension_details" and problem in r.json()["reason"]


def test_violation_appeal_with_attachments_answered_by_another_admin(lines, api_client, fake_temporal, files):
    r = suspend(api_client, category="violation", violation_kind="fake_orders", evidence="42 orders, one address")
    assert r.status_code == 200 and r.json()["agent"]["suspension_category"] == "violation"
    shot = upload(api_client, PNG, name="../../etc/screen shot.png")
    assert shot.status_code == 201, shot.text
    doc = upload(api_client, PDF, name="letter.pdf", ctype="application/pdf")
    att = shot.json()
    assert att["file_name"] == "screen shot.png" and att["content_type"] == "image/png" and att["size_bytes"] == len(PNG)
    stored = list(files.iterdir())
    assert sorted(p.name for p in stored) == sorted([att["id"], doc.json()["id"]])  # named by id, inside the folder

    r = api_client.post(f"/agents/{AGENT}/appeal", headers=AGENT_A, json={
        "statement": "the orders were real customers of a school", "attachment_ids": [att["id"], doc.json()["id"]]})
    assert r.status_code == 200, r.text
    appeal = r.json()["appeal"]
    filed = datetime.fromisoformat(appeal["filed_at"])
    assert datetime.fromisoformat(appeal["due_at"]) - filed == timedelta(hours=48)
    assert datetime.fromisoformat(appeal["remind_at"]) - filed == timedelta(hours=24)
    assert {a["id"] for a in appeal["attachments"]} == {att["id"], doc.json()["id"]}
    again = api_client.post(f"/agents/{AGENT}/appeal", headers=AGENT_A, json={"statement": "again"})
    assert again.status_code == 409 and "waiting for its answer" in again.json()["reason"]

    got = api_client.get(f"/agents/{AGENT}/attachments/{att['id']}", headers=AGENT_A)
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    other = bearer("agent", user="agent:A002", agent_id=CHILD)
    assert api_client.get(f"/agents/{AGENT}/attachments/{att['id']}", headers=other).status_code == 403
    assert api_client.get(f"/agents/{CHILD}/attachments/{att['id']}", headers=other).status_code == 404

    # ops decided the suspension; ops cannot answer appeals at all, and whoever suspended answers no appeal of it
    answer = {"outcome": "reinstated", "reply": "the school confirmed the orders; reinstated"}
    assert api_client.post(f"/agents/{AGENT}/appeals/{appeal['id']}/answer", json=answer, headers=OPS).status_code == 403
    same = api_client.post(f"/agents/{AGENT}/appeals/{appeal['id']}/answer", json=answer, headers=bearer("admin", user="ops:li"))
    assert same.status_code == 403 and same.json()["type"] == "same_person"
    r = api_client.post(f"/agents/{AGENT}/appeals/{appeal['id']}/answer", json=answer, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["agent"]["status"] == "active" and r.json()["lines_changed"] == 1
    assert r.json()["appeal"]["state"] == "answered" and r.json()["appeal"]["reply"] == answer["reply"]
    twice = api_client.post(f"/agents/{AGENT}/appeals/{appeal['id']}/answer", json=answer, headers=ADMIN)
    assert twice.status_code == 409

    detail = api_client.get(f"/agents/{AGENT}", headers=AGENT_A).json()
    assert [(h["action"], h["actor"]) for h in detail["history"]] == [
        ("suspend", "ops:li"), ("appeal", "agent:A001"), ("appeal_answered", "admin:wang"), ("reinstate", "admin:wang")]
    assert detail["history"][0]["violation_kind"] == "fake_orders" and detail["history"][2]["outcome"] == "reinstated"
    assert detail["appeals"][0]["reply"] == answer["reply"]
    assert account_signals(fake_temporal) == [(f"agent-{AGENT}", a) for a in
                                              ("suspend", "appeal", "appeal_answered", "reinstate")]
    with Session(lines) as s:
        assert all(c.delivered_at is not None for c in s.exec(select(AgentStatusChange)).all())


@pytest.mark.parametrize(("content", "ctype", "status", "kind"), [
    (b"hello, this is text", "image/png", 415, "attachment_type"),
    (PNG, "application/pdf", 415, "attachment_type_mismatch"),
    (b"%PDF-" + b"x" * 2000, "application/pdf", 413, "attachment_too_large"),
    (b"", "image/png", 422, "attachment_empty"),
])
def test_attachments_are_checked_by_their_content_and_size(seeded, api_client, files, content, ctype, status, kind):
    r = upload(api_client, content, ctype=ctype)
    assert r.status_code == status and r.json()["type"] == kind
    assert [p for p in files.iterdir()] == []  # nothing is left behind


def test_an_appeal_names_only_its_own_unused_attachments(seeded, api_client, files):
    suspend(api_client, category="other")
    child_file = upload(api_client, PNG, headers=bearer("agent", user="agent:A002", agent_id=CHILD))
    assert child_file.status_code == 403  # an agent uploads for itself only
    r = api_client.post(f"/agents/{AGENT}/appeal", headers=AGENT_A, json={"statement": "s", "attachment_ids": ["nope"]})
    assert r.status_code == 422 and r.json()["type"] == "unknown_attachment"


def test_upheld_appeal_keeps_the_suspension_with_its_reply(lines, api_client):
    suspend(api_client, category="violation", violation_kind="fake_promotion")
    appeal = api_client.post(f"/agents/{AGENT}/appeal", headers=AGENT_A, json={"statement": "removed the ads"}).json()["appeal"]
    r = api_client.post(f"/agents/{AGENT}/appeals/{appeal['id']}/answer", headers=ADMIN,
                        json={"outcome": "upheld", "reply": "the ads are still online"})
    assert r.status_code == 200 and r.json()["agent"]["status"] == "suspended" and r.json()["lines_changed"] == 0
    late = api_client.get("/appeals", params={"state": "answered"}).json()
    assert [(a["id"], a["outcome"]) for a in late] == [(appeal["id"], "upheld")]


def test_arrears_paid_lifts_an_arrears_suspension_once(lines, api_client, fake_temporal):
    suspend(api_client, category="arrears")
    finance = bearer("finance", user="finance:zhou")
    body = {"payment_ref": "PAY-2026-0042", "amount_fen": 35000}
    assert api_client.post(f"/agents/{AGENT}/arrears-paid", json=body, headers=OPS).status_code == 403
    r = api_client.post(f"/agents/{AGENT}/arrears-paid", json=body, headers=finance)
    assert r.status_code == 200, r.text
    assert r.json()["agent"]["status"] == "active" and r.json()["lines_changed"] == 1
    assert r.json()["change"]["action"] == "arrears_paid" and "350.00 yuan" in r.json()["change"]["reason"]
    again = api_client.post(f"/agents/{AGENT}/arrears-paid", json=body, headers=finance)
    assert again.status_code == 200 and again.json()["change"]["id"] == r.json()["change"]["id"]
    history = api_client.get(f"/agents/{AGENT}").json()["history"]
    assert [(h["action"], h["actor"]) for h in history] == [
        ("suspend", "ops:li"), ("arrears_paid", "finance:zhou"), ("reinstate", "finance:zhou")]
    assert "arrears paid" in history[-1]["reason"]


def test_arrears_paid_does_not_lift_a_violation(lines, api_client):
    suspend(api_client, category="violation", violation_kind="fake_orders")
    r = api_client.post(f"/agents/{AGENT}/arrears-paid", json={"payment_ref": "P1", "amount_fen": 100},
                        headers=bearer("finance", user="finance:zhou"))
    assert r.status_code == 200 and r.json()["agent"]["status"] == "suspended"
    assert "not suspended for arrears" in r.json()["change"]["reason"]


def test_a_step_not_delivered_goes_out_with_the_next_request(lines, api_client, fake_temporal):
    fake_temporal.unavailable = True
    assert suspend(api_client, category="other").status_code == 200  # the record is kept
    assert account_signals(fake_temporal) == []
    fake_temporal.unavailable = False
    api_client.get(f"/agents/{AGENT}")
    assert account_signals(fake_temporal) == [(f"agent-{AGENT}", "suspend")]


def test_maintenance_window_pauses_ordering_for_every_agent(seeded, api_client, fake_temporal):
    now = datetime.now(UTC)
    body = {"starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
            "message": "database upgrade"}
    assert api_client.post("/maintenance-windows", json=body, headers=OPS).status_code == 403
    r = api_client.post("/maintenance-windows", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    window = r.json()
    assert fake_temporal.starts_of(f"maintenance-{window['id']}")
    listed = api_client.get("/maintenance-windows", headers=AGENT_A).json()
    assert [w["message"] for w in listed] == ["database upgrade"]
    r = api_client.post("/orders", json={"agent_id": AGENT, "product_id": PRODUCT, "msisdn": "13812345678"},
                        headers={**AGENT_A, "Idempotency-Key": "during-maintenance"})
    assert r.status_code == 403 and r.json()["type"] == "ordering_paused" and "database upgrade" in r.json()["reason"]
    r = api_client.patch(f"/maintenance-windows/{window['id']}", json={"cancel": True}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert fake_temporal.signals[-1][1] == "change"
    r = api_client.post("/orders", json={"agent_id": AGENT, "product_id": PRODUCT, "msisdn": "13812345678"},
                        headers={**AGENT_A, "Idempotency-Key": "after-maintenance"})
    assert r.status_code == 201


def test_a_window_ends_after_it_starts(seeded, api_client):
    now = datetime.now(UTC)
    r = api_client.post("/maintenance-windows", json={"starts_at": now.isoformat(), "ends_at": now.isoformat(),
                                                      "message": "m"})
    assert r.status_code == 422 and r.json()["type"] == "maintenance_window"


def test_inbox_shows_the_agent_s_own_notices_and_announcements(seeded, api_client):
    with Session(seeded) as s:
        s.add(AgentNotice(key="k1", agent_id=AGENT, kind="suspend", text="yours"))
        s.add(AgentNotice(key="k2", agent_id=CHILD, kind="suspend", text="the child's"))
        s.add(AgentNotice(key="k3", agent_id="", kind="maintenance_announced", text="everyone's"))
        s.commit()
    inbox = api_client.get(f"/agents/{AGENT}/inbox", headers=AGENT_A).json()
    assert sorted(n["text"] for n in inbox) == ["everyone's", "yours"]
    mine = next(n for n in inbox if n["text"] == "yours")
    assert api_client.post(f"/agents/{AGENT}/inbox/{mine['id']}/read", headers=AGENT_A).json()["read_at"]
    assert [n["text"] for n in api_client.get(f"/agents/{AGENT}/inbox", params={"unread": True}, headers=AGENT_A).json()] == ["everyone's"]
    assert api_client.get(f"/agents/{CHILD}/inbox", headers=AGENT_A).status_code == 403


def test_suspension_cases_listed_for_ops_and_the_agent_and_on_the_order(seeded, api_client):
    now = datetime.now(UTC)
    with Session(seeded) as s:
        for cid, agent, state, overdue in [("O9-1", AGENT, "overdue", True), ("O9-2", AGENT, "restored", False),
                                           ("O8-1", CHILD, "open", False)]:
            s.add(SuspensionCase(id=cid, order_id=cid[:2], n=int(cid[-1]), agent_id=agent, carrier="china_mobile",
                                 msisdn_masked="138****5678", kind="risk_control", suspended_at=now - timedelta(hours=50),
                                 window_ends_at=now - timedelta(hours=2), state=state, overdue=overdue,
                                 restored_at=now if state == "restored" else None))
        s.commit()
    ops = api_client.get("/suspension-cases", params={"state": "overdue"}, headers=OPS).json()
    assert [c["case_id"] for c in ops["items"]] == ["O9-1"] and ops["items"][0]["recovery_steps"]
    mine = api_client.get("/suspension-cases", headers=AGENT_A).json()
    assert sorted(c["case_id"] for c in mine["items"]) == ["O9-1", "O9-2"]
    restored = next(c for c in mine["items"] if c["case_id"] == "O9-2")
    assert restored["restored_within_window"] is False
    assert api_client.get("/suspension-cases/O8-1", headers=AGENT_A).status_code == 404
    assert api_client.get("/suspension-cases/O8-1", headers=OPS).json()["kind"] == "risk_control"


def test_attachment_files_never_leave_their_folder(seeded, api_client, files):
    r = upload(api_client, PNG, name="..\\..\\evil.png")
    assert r.status_code == 201
    stored = Path(files) / r.json()["id"]
    assert stored.is_file() and stored.resolve().parent == Path(files).resolve()
    assert api_client.get(f"/agents/{AGENT}/attachments/..%2F..%2Fsimbo.db", headers=AGENT_A).status_code == 404


def test_late_appeals_are_the_admins_queue(seeded, api_client, monkeypatch):
    monkeypatch.setenv("SIMBO_AGENT_APPEAL_ANSWER_HOURS", "0")  # due as soon as it is filed
    get_settings.cache_clear()
    try:
        suspend(api_client, category="other")
        late = api_client.post(f"/agents/{AGENT}/appeal", headers=AGENT_A, json={"statement": "s"}).json()["appeal"]
    finally:
        get_settings.cache_clear()
    assert [a["id"] for a in api_client.get("/appeals", params={"late": True}, headers=ADMIN).json()] == [late["id"]]
    other = bearer("agent", user="agent:A002", agent_id=CHILD)
    assert api_client.get("/appeals", params={"late": True}, headers=other).json() == []  # not its appeal

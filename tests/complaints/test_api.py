"""The complaint desk's API on SQLite and PostgreSQL, with the real workflows and activities on the
time-skipping server (SMS gateway and billing system faked in memory)."""

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from io import BytesIO

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlmodel import Session, select
from temporalio.worker import Worker

from activities.complaints.complaint import ComplaintActivities
from activities.complaints.fee_return import FeeReturnActivities
from core import crypto
from core.http import PeerRejected
from core.settings import get_settings
from core.signing import signed_headers
from db.complaints import Complaint, ComplaintEvent, ComplaintNotice, FeeReturn, SmsMessage
from domain.clock import SHANGHAI
from tests.fixtures_db import bearer
from workflows.complaints import contract
from workflows.complaints.complaint import CalendarCheckWorkflow, ComplaintWorkflow
from workflows.complaints.fee_return import FeeReturnCreditWorkflow
from workflows.complaints.notice import NoticeDeliveryWorkflow

MSISDN = "13812345678"
OTHER = "13900001111"


class FakeSms:
    def __init__(self) -> None:
        self.sent: dict[str, tuple[str, str]] = {}

    async def send(self, message_id: str, to: str, text: str) -> str:
        self.sent.setdefault(message_id, (to, text))
        return "sent"


class FakeBilling:
    def __init__(self) -> None:
        self.credits: dict[str, tuple[str, int]] = {}
        self.refuse_fen: int | None = None  # the billing system refuses credits of this amount
        self.asked: list[str] = []

    async def credit(self, credit_id: str, msisdn: str, amount_fen: int, note: str) -> str:
        self.asked.append(credit_id)
        if amount_fen == self.refuse_fen:
            raise PeerRejected(422, "number suspended: the account takes no credit")
        self.credits.setdefault(credit_id, (msisdn, amount_fen))
        return f"B-{credit_id}"


@pytest.fixture
def time_env(own_time_env):
    """Each test here moves the clock by hand with real activities: a time-skipping server of its own, so no
    ticket another test left behind can hold the clock (the shared server stalled when the tests ran late in
    the Shanghai day)."""
    return own_time_env


@pytest.fixture
async def desk(db, time_env):
    """(http client, sms, billing, engine): the API app on the test DB and Temporal, a worker with real activities."""
    from api.deps import get_db_engine
    from api.main import create_app

    sms, billing = FakeSms(), FakeBilling()
    app = create_app(temporal_client=time_env.client)

    app.dependency_overrides[get_db_engine] = lambda: db
    acts = ComplaintActivities(db, sms)
    fee = FeeReturnActivities(db, billing, sms)
    worker = Worker(time_env.client, task_queue=contract.TASK_QUEUE,
                    workflows=[ComplaintWorkflow, CalendarCheckWorkflow, FeeReturnCreditWorkflow, NoticeDeliveryWorkflow],
                    activities=[acts.record_complaint, acts.compute_due, acts.send_customer_sms, acts.notify_department,
                                acts.deliver_notice, acts.check_calendar, fee.credit, fee.sms_credited,
                                fee.record_credit_failure, fee.record_credit_resolution],
                    activity_executor=ThreadPoolExecutor(4))
    async with worker, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                         headers=bearer("admin")) as http:
        yield http, sms, billing, db
        # Let the tickets finish the task in flight first: a workflow terminated in the middle of a task (a local
        # activity running) keeps the time-skipping server's clock locked, and the next test's sleep times out.
        await asyncio.sleep(1)
        with Session(db) as s:
            ids = list(s.exec(select(Complaint.id)).all())
        for cid in ids:  # leave no timers behind on the shared test server
            try:
                await time_env.client.get_workflow_handle(f"complaint-{cid}").terminate("test over")
            except Exception:  # noqa: BLE001 - closed already
                pass


BODY = {"msisdn": MSISDN, "customer": "standard", "source": "hotline", "ctype": "billing",
        "receiving_department": "complaint_desk", "text": "charged twice for May"}


async def register(http, key=None, **over):
    return await http.post("/complaints", json={**BODY, **over}, headers={"Idempotency-Key": key or uuid.uuid4().hex})


async def _until(http, cid, predicate, attempts=100):
    for _ in range(attempts):
        r = await http.get(f"/complaints/{cid}")
        if predicate(r.json()):
            return r.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached: {r.json()['state']}")


async def test_register_classifies_detects_repeats_and_explains(desk):
    http, _, _, engine = desk
    r = await register(http, key="k1")
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["level"] == "3" and c["repeat_of"] is None and c["state"] == "awaiting_department"
    assert c["msisdn_masked"] == "138****5678" and MSISDN not in r.text
    assert c["level_reasons"] and "48 clock hours" in c["due_explanation"]
    received = datetime.fromisoformat(c["received_at"])
    assert datetime.fromisoformat(c["due_at"]) == received + timedelta(hours=48)

    again = await register(http, key="k1")
    assert again.status_code == 200 and again.json()["id"] == c["id"]
    clash = await register(http, key="k1", ctype="mms")
    assert clash.status_code == 409

    rep = (await register(http, customer="premium")).json()
    assert rep["repeat_of"] == c["id"] and rep["level"] == "2" and "halved" in rep["due_limit"]
    assert datetime.fromisoformat(rep["due_at"]) - datetime.fromisoformat(rep["received_at"]) == timedelta(hours=12)

    reg = (await register(http, msisdn=OTHER, source="ministry_forwarded")).json()
    assert reg["level"] == "regulator" and reg["calendar_version"].startswith("2026:chinesecalendar")
    assert "working days" in reg["due_limit"]

    detail = await _until(http, c["id"], lambda d: d["events"])
    assert detail["events"][0]["kind"] == "registered", detail["live_error"]
    # (the test server's clock runs ahead of the wall clock after other tests' sleeps: the ticket may be overdue)
    assert detail["live"]["case"]["stage"] == "awaiting_department" and detail["live"]["case"]["facts"]["complaint_id"] == c["id"]

    listed = (await http.get("/complaints", params={"level": "regulator"})).json()
    assert [i["id"] for i in listed["items"]] == [reg["id"]]
    assert (await http.get("/complaints", params={"repeat": True})).json()["total"] == 1
    assert (await http.get("/complaints", params={"department": "complaint_desk"})).json()["total"] == 3


@pytest.mark.parametrize("over,status", [
    ({"msisdn": "2381234567"}, 422), ({"customer": "gold"}, 422), ({"receiving_department": "nowhere"}, 422),
    ({"received_at": "2026-01-01T10:00:00"}, 422), ({"source": None}, 422), ({"extra": 1}, 422),
])
async def test_register_rejects_bad_input(desk, over, status):
    http = desk[0]
    r = await register(http, **over)
    assert r.status_code == status, r.text
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    r = await register(http, received_at=future)
    assert r.status_code == 422 and "future" in r.json()["reason"]
    assert (await http.post("/complaints", json=BODY)).status_code == 400  # no Idempotency-Key


async def test_department_actions_are_refused_with_type_and_reason(desk):
    http, _, _, engine = desk
    cid = (await register(http)).json()["id"]
    r = await http.post(f"/complaints/{cid}/transfer", json={"department": "complaint_desk",
                                                             "to": "complaint_desk"})
    assert r.status_code == 422 and r.json()["type"] == "TransferToSelf"
    r = await http.post(f"/complaints/{cid}/accept", json={"department": "billing"})
    assert r.status_code == 403 and r.json()["type"] == "NotHandlingDepartment"
    r = await http.post(f"/complaints/{cid}/transfer", json={"department": "complaint_desk", "to": "billing"})
    assert r.status_code == 200 and r.json()["case"]["handling_department"] == "billing"
    r = await http.post(f"/complaints/{cid}/transfer", json={"department": "billing", "to": "complaint_desk"})
    assert r.status_code == 422 and r.json()["type"] == "TransferBack"
    assert (await http.post(f"/complaints/{cid}/accept", json={"department": "billing"})).status_code == 200
    bad = {"department": "billing", "findings": "checked", "handling": "已转相关部门处理",
           "reply_to_customer": "please wait"}
    r = await http.post(f"/complaints/{cid}/reply", json=bad)
    assert r.status_code == 422 and r.json()["type"] == "UnqualifiedReply"
    r = await http.post(f"/complaints/{cid}/reply", json={**bad, "handling": "returned 2 x 5.00",
                                                          "reply_to_customer": "we returned 10.00"})
    assert r.status_code == 200 and r.json()["state"] == "awaiting_customer"
    r = await http.post(f"/complaints/{cid}/accept", json={"department": "billing"})
    assert r.status_code == 409
    assert (await http.post(f"/complaints/{cid}/escalate", json={"reason": ""})).status_code == 422
    assert (await http.post(f"/complaints/{cid}/escalate", json={"reason": "media"})).status_code == 200
    assert (await http.post("/complaints/NOPE/accept", json={"department": "billing"})).status_code == 404
    assert (await http.post(f"/complaints/{cid}/reply", json={"department": "billing"})).status_code == 422
    with Session(engine) as s:
        refused = s.exec(select(ComplaintEvent).where(ComplaintEvent.kind == "reply_refused")).all()
    assert [(e.complaint_id, e.department) for e in refused] == [(cid, "billing")]

    month = datetime.now(SHANGHAI).strftime("%Y%m")
    await _until(http, cid, lambda d: any(e["kind"] == "escalated" for e in d["events"]))
    rows = (await http.get("/complaints/kpis", params={"month": month})).json()
    by = {r["department"]: r for r in rows}
    assert by["billing"]["unqualified_replies"] == 1
    assert by["complaint_desk"]["received"] == 1 and by["complaint_desk"]["crisis_reports"] == 1
    assert by["billing"]["replies_sent"] == 2 and by["billing"]["unqualified_rate"] == 0.5
    assert by["all"]["unqualified_replies"] == 1 and by["complaint_desk"]["targets"]["unqualified_replies"] == 0
    assert (await http.get("/complaints/kpis", params={"month": "2026-13"})).status_code == 422
    csv_text = (await http.get("/complaints/kpis.csv", params={"month": month})).content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("month,department,received") and "billing" in csv_text
    xlsx = (await http.get("/complaints/kpis.xlsx", params={"month": month})).content
    sheet = load_workbook(BytesIO(xlsx)).active
    assert sheet.cell(1, 1).value == "month" and sheet.max_row == 1 + len(rows)


def _signed(body: dict, secret=None) -> tuple[bytes, dict]:
    raw = json.dumps(body).encode()
    return raw, {**signed_headers(secret or get_settings().push_keys("sms-gateway"), raw, source="sms-gateway",
                                  method="POST", target="/complaints/sms/inbound"), "Content-Type": "application/json"}


async def test_survey_answer_by_inbound_sms_reopens_and_duplicates_count_once(desk, time_env):
    http, sms, _, engine = desk
    cid = (await register(http)).json()["id"]
    await http.post(f"/complaints/{cid}/accept", json={"department": "complaint_desk"})
    await http.post(f"/complaints/{cid}/reply", json={"department": "complaint_desk", "findings": "f",
                                                      "handling": "returned", "reply_to_customer": "done"})
    msg = {"message_id": "in-1", "from": MSISDN, "text": "2", "received_at": datetime.now(UTC).isoformat()}
    raw, headers = _signed(msg)
    r = await http.post("/complaints/sms/inbound", content=raw, headers=headers)
    assert r.json()["outcome"] == "no_open_survey"  # not archived yet
    r = await http.post(f"/complaints/{cid}/acceptance", json={"accepted": True})
    assert r.status_code == 200 and r.json()["state"] == "survey"
    await time_env.sleep(timedelta(hours=10))
    await _until(http, cid, lambda d: d["live"]["case"]["survey_sent_at"])
    assert f"{cid}-survey-1" in sms.sent and sms.sent[f"{cid}-survey-1"][0] == MSISDN

    bad_raw, bad_headers = _signed(msg, secret="wrong")
    assert (await http.post("/complaints/sms/inbound", content=bad_raw, headers=bad_headers)).status_code == 401
    junk, jh = _signed({"message_id": "x", "from": "123", "text": "2", "received_at": "now"})
    assert (await http.post("/complaints/sms/inbound", content=junk, headers=jh)).status_code == 422
    msg2 = {**msg, "message_id": "in-2"}
    raw, headers = _signed(msg2)
    r = await http.post("/complaints/sms/inbound", content=raw, headers=headers)
    assert r.status_code == 200 and r.json() == {"message_id": "in-2", "outcome": "reopened", "complaint_id": cid,
                                                 "duplicate": False}
    again = await http.post("/complaints/sms/inbound", content=raw, headers=_signed(msg2)[1])
    assert again.json()["duplicate"] is True and again.json()["outcome"] == "reopened"
    detail = await _until(http, cid, lambda d: d["cycle"] == 2)
    assert detail["handling_department"] == "complaint_desk" and detail["state"] in ("awaiting_department", "overdue")
    assert [e["kind"] for e in detail["events"]].count("reopened") == 1


async def test_loading_a_schedule_recomputes_open_regulator_tickets(desk):
    http, _, _, engine = desk
    reg = (await register(http, source="ministry_forwarded")).json()
    clock = (await register(http, msisdn=OTHER)).json()
    await _until(http, reg["id"], lambda d: d["events"])
    r = await http.put("/complaints/calendar/2027", json={"holidays": [], "workdays": ["2027-01-04"]})
    assert r.status_code == 422 and "Saturdays or Sundays" in r.json()["reason"]
    r = await http.put("/complaints/calendar/2027", json={"holidays": ["2026-12-31"]})
    assert r.status_code == 422

    # ops correct this year's schedule: two more holidays right after the ticket arrived
    received = datetime.fromisoformat(reg["received_at"]).astimezone(SHANGHAI).date()
    extra = [d for d in (received + timedelta(days=i) for i in range(1, 10)) if d.weekday() < 5][:2]
    r = await http.put(f"/complaints/calendar/{received.year}", json={"holidays": [d.isoformat() for d in extra],
                                                                       "note": "correction"},
                       headers=bearer("ops", user="ops-li"))  # who loaded it comes from the token
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["revision"] == 1 and out["signalled"] == [reg["id"]] and clock["id"] not in out["signalled"]
    detail = await _until(http, reg["id"], lambda d: d["calendar_version"] and "ops-" in d["calendar_version"])
    assert datetime.fromisoformat(detail["due_at"]) > datetime.fromisoformat(reg["due_at"])
    assert any(e["kind"] == "due_recomputed" and "ops-li" in e["detail"] for e in detail["events"])
    cal = (await http.get(f"/complaints/calendar/{received.year}")).json()
    assert cal["coverage"] == "loaded" and cal["version"] == f"ops-{received.year}-r1"
    assert (await http.get("/complaints/calendar/2030")).json()["coverage"] == "estimate"


async def test_fee_returns_rules_approval_audit_and_credit(desk, time_env):
    http, sms, billing, engine = desk
    cid = (await register(http)).json()["id"]
    fr = {"msisdn": MSISDN, "category": "receipt_mismatch", "charge_month": "202610", "charged_fen": 13800,
          "promised_fen": 3800}
    url = f"/complaints/{cid}/fee-returns"
    op1 = bearer("complaint_handler", user="op1", department="complaint_desk")
    wrong = await http.post(url, json={**fr, "msisdn": OTHER}, headers={**op1, "Idempotency-Key": "f0"})
    assert wrong.status_code == 422 and "complaint's number" in wrong.json()["reason"]
    r = await http.post(url, json=fr, headers={**op1, "Idempotency-Key": "f1"})
    assert r.status_code == 201, r.text
    assert r.json()["operator_id"] == "op1"  # from the token
    ret = r.json()
    assert (ret["decision"], ret["amount_fen"], ret["tier"], ret["needs_audit"], ret["status"]) == (
        "double", 20000, 2, True, "awaiting_approval")
    assert (await http.post(url, json=fr, headers={**op1, "Idempotency-Key": "f1"})).status_code == 200
    dup = await http.post(url, json=fr, headers={**op1, "Idempotency-Key": "f2"})
    assert dup.status_code == 409 and ret["id"] in dup.json()["reason"]

    fid = ret["id"]
    own = await http.post(f"/fee-returns/{fid}/approve", headers=bearer("manager", user="op1"))
    assert own.status_code == 403  # the operator never approves its own return, whatever its role
    clerk = await http.post(f"/fee-returns/{fid}/approve", headers=op1)
    assert clerk.status_code == 403 and clerk.json()["type"] == "permission_denied"
    r = await http.post(f"/fee-returns/{fid}/approve", headers=bearer("team_lead", user="lead"))
    assert r.status_code == 200 and r.json()["status"] == "awaiting_audit" and r.json()["approver_id"] == "lead"
    own_audit = await http.post(f"/fee-returns/{fid}/audit", json={"ok": True}, headers=bearer("auditor", user="op1"))
    assert own_audit.status_code == 403
    approver_audit = await http.post(f"/fee-returns/{fid}/audit", json={"ok": True}, headers=bearer("admin", user="lead"))
    assert approver_audit.status_code == 403  # the approver never audits the same return, even as admin
    r = await http.post(f"/fee-returns/{fid}/audit", json={"ok": True}, headers=bearer("auditor", user="aud"))
    assert r.status_code == 200 and r.json()["status"] == "approved"
    await time_env.sleep(timedelta(hours=10))  # the SMS waits for 07:00 if the test server's clock is in the night
    await time_env.client.get_workflow_handle(f"fee-return-{fid}").result()
    assert billing.credits[fid] == (MSISDN, 20000)
    assert f"{fid}-credited" in sms.sent and "200.00" in sms.sent[f"{fid}-credited"][1]
    with Session(engine) as s:
        row = s.get(FeeReturn, fid)
        assert row.status == "credited" and row.billing_reference == f"B-{fid}"
        assert s.get(SmsMessage, f"{fid}-credited").to_masked == "138****5678"

    # value-added: single now, top-up when confirmed, credited at once (50 yuan: tier 1, no audit)
    sp = await http.post(url, json={"msisdn": MSISDN, "category": "sp_unverified", "charge_month": "202609",
                                    "charged_fen": 1500, "monthly_subscription": True},
                         headers={**op1, "Idempotency-Key": "f3"})
    spr = sp.json()
    assert (spr["decision"], spr["amount_fen"], spr["status"], spr["sp_verification"], spr["offer_cancel_subscription"]) == (
        "single", 1500, "approved", "pending", True)
    v = await http.post(f"/fee-returns/{spr['id']}/verification", json={"confirmed": True}, headers=bearer("team_lead", user="op2"))
    assert v.status_code == 200 and v.json()["top_up"]["amount_fen"] == 1500 and v.json()["top_up"]["decision"] == "top_up"
    again = await http.post(f"/fee-returns/{spr['id']}/verification", json={"confirmed": True}, headers=bearer("team_lead", user="op2"))
    assert again.status_code == 409
    top = v.json()["top_up"]["id"]
    await time_env.sleep(timedelta(hours=10))
    await time_env.client.get_workflow_handle(f"fee-return-{top}").result()
    assert billing.credits[spr["id"]][1] + billing.credits[top][1] == 3000

    month = datetime.now(SHANGHAI).strftime("%Y%m")
    [row, total] = (await http.get("/complaints/kpis", params={"month": month})).json()
    assert total["department"] == "all" and total["fee_returns"] == row["fee_returns"]
    assert row["fee_returns"] == {"double": 1, "single": 1, "top_up": 1}
    assert row["fee_returns_fen"] == {"double": 20000, "single": 1500, "top_up": 1500}
    bad = await http.post(url, json={**fr, "charge_month": "2026-10"}, headers={"Idempotency-Key": "f9"})
    assert bad.status_code == 422


async def test_one_charge_is_returned_once_whatever_the_category(desk):
    """Two requests for the same number and charge month under two categories: the second is refused with the
    earlier return shown, even when both race; a refused return frees the charge for a new request."""
    http = desk[0]
    first_ticket = (await register(http)).json()["id"]
    second_ticket = (await register(http)).json()["id"]
    lead = bearer("team_lead", user="lead")
    charge = {"msisdn": MSISDN, "charge_month": "202608", "charged_fen": 13800}
    racing = await asyncio.gather(
        http.post(f"/complaints/{first_ticket}/fee-returns", json={**charge, "category": "receipt_mismatch",
                                                                   "promised_fen": 3800}, headers={"Idempotency-Key": "c1"}),
        http.post(f"/complaints/{second_ticket}/fee-returns", json={**charge, "category": "sp_unverified",
                                                                    "monthly_subscription": True},
                  headers={"Idempotency-Key": "c2"}))
    assert sorted(r.status_code for r in racing) == [201, 409], [r.text for r in racing]
    [paid] = [r.json() for r in racing if r.status_code == 201]
    [refused] = [r.json() for r in racing if r.status_code == 409]
    assert refused["type"] == "earlier_return" and paid["id"] in refused["reason"]
    other = "sp_unverified" if paid["category"] == "receipt_mismatch" else "receipt_mismatch"
    again = await http.post(f"/complaints/{second_ticket}/fee-returns",
                            json={**charge, "category": other, "promised_fen": 3800, "monthly_subscription": True},
                            headers={"Idempotency-Key": "c3"})
    assert again.status_code == 409 and paid["id"] in again.json()["reason"]
    july = {**charge, "charge_month": "202607", "category": "receipt_mismatch", "promised_fen": 3800}
    r = await http.post(f"/complaints/{first_ticket}/fee-returns", json=july, headers={"Idempotency-Key": "c4"})
    assert r.status_code == 201 and r.json()["status"] == "awaiting_approval", r.text
    refused_by_lead = await http.post(f"/fee-returns/{r.json()['id']}/reject", json={"reason": "wrong month on the ticket"},
                                      headers=lead)
    assert refused_by_lead.status_code == 200, refused_by_lead.text
    fresh = await http.post(f"/complaints/{second_ticket}/fee-returns", json={**july, "category": "sp_unverified",
                            "monthly_subscription": True}, headers={"Idempotency-Key": "c5"})
    assert fresh.status_code == 201, fresh.text  # a refused return frees its charge


async def test_vip_insisting_gets_single_once_in_two_months(desk):
    http = desk[0]
    cid = (await register(http, customer="vip")).json()["id"]
    body = {"msisdn": MSISDN, "category": "vip_insists", "charge_month": "202609", "charged_fen": 3000}
    first = (await http.post(f"/complaints/{cid}/fee-returns", json=body, headers={"Idempotency-Key": "v1"})).json()
    assert (first["decision"], first["amount_fen"]) == ("single", 3000)
    second = (await http.post(f"/complaints/{cid}/fee-returns", json={**body, "charge_month": "202610"},
                              headers={"Idempotency-Key": "v2"})).json()
    assert (second["decision"], second["amount_fen"], second["status"]) == ("none", 0, "no_return")
    std = (await register(http, msisdn=OTHER)).json()["id"]
    r = await http.post(f"/complaints/{std}/fee-returns", json={**body, "msisdn": OTHER}, headers={"Idempotency-Key": "v3"})
    assert r.status_code == 422 and "VIP" in r.json()["reason"]


async def test_notices_and_daily_calendar_check_write_rows(desk, time_env):
    http, _, _, engine = desk
    cid = (await register(http, customer="vip")).json()["id"]  # 8 h
    await time_env.sleep(timedelta(days=1))
    await _until(http, cid, lambda d: d["supervision_notices"] >= 1)
    with Session(engine) as s:
        kinds = {n.kind for n in s.exec(select(ComplaintNotice).where(ComplaintNotice.complaint_id == cid)).all()}
    assert "supervision" in kinds
    warnings = ComplaintActivities(engine, FakeSms()).check_calendar(date(2026, 12, 1))
    assert warnings and "2027" in warnings[0]
    ComplaintActivities(engine, FakeSms()).check_calendar(date(2026, 12, 1))  # the same day again: one alert
    alerts = (await http.get("/complaints/alerts")).json()
    assert len(alerts) == 1 and alerts[0]["kind"] == "calendar_missing"


async def test_actions_on_a_closed_ticket_answer_409(desk, time_env):
    http = desk[0]
    cid = (await register(http)).json()["id"]
    await _until(http, cid, lambda d: d["events"])
    await time_env.client.get_workflow_handle(f"complaint-{cid}").terminate("closed by ops for the test")
    r = await http.post(f"/complaints/{cid}/accept", json={"department": "complaint_desk"})
    assert r.status_code == 409 and "closed" in r.json()["reason"]
    detail = await http.get(f"/complaints/{cid}")  # the row still answers, with the last recorded state
    assert detail.status_code == 200 and detail.json()["id"] == cid and detail.json()["events"][0]["kind"] == "registered"


async def test_a_repeat_found_late_halves_the_due_time_but_only_for_a_real_repeat(desk):
    http = desk[0]
    # registered first, so nothing earlier was on record to make it a repeat at registration
    late = (await register(http, msisdn=OTHER)).json()
    earlier = (await register(http, received_at=(datetime.now(UTC) - timedelta(days=10)).isoformat(),
                              msisdn=OTHER)).json()
    other_number = (await register(http)).json()
    mms = (await register(http, msisdn=OTHER, ctype="mms")).json()
    assert late["repeat_of"] is None and "halved" not in late["due_limit"]
    body = {"reason": "the earlier ticket was registered late, from paper"}
    for cid, of in ((late["id"], other_number["id"]), (mms["id"], earlier["id"]), (late["id"], "C-NOPE")):
        r = await http.post(f"/complaints/{cid}/level", json={**body, "repeat_of": of})
        assert r.status_code == 422 and r.json()["type"] == "NotARepeat", (of, r.text)
    r = await http.post(f"/complaints/{late['id']}/level", json={**body, "repeat_of": earlier["id"]})
    assert r.status_code == 200, r.text
    fixed = await _until(http, late["id"], lambda d: d["repeat_of"] == earlier["id"])
    assert "halved" in fixed["due_limit"]


async def test_a_credit_refused_by_billing_fails_with_the_reason_then_is_retried_or_cancelled(desk, time_env):
    http, sms, billing, engine = desk
    billing.refuse_fen = 1200
    cid = (await register(http)).json()["id"]
    url = f"/complaints/{cid}/fee-returns"
    body = {"msisdn": MSISDN, "category": "ultra_short_call", "charge_month": "202610", "charged_fen": 600, "call_seconds": 2}
    fid = (await http.post(url, json=body, headers={"Idempotency-Key": "cf1"})).json()["id"]  # 12.00, tier 1: credited at once
    ops = bearer("ops", user="ops-wang")

    async def status(want):
        for _ in range(100):
            r = (await http.get(url)).json()
            row = next(x for x in r if x["id"] == fid)
            if row["status"] == want:
                return row
            await asyncio.sleep(0.05)
        raise AssertionError(f"never {want}: {row}")

    failed = await status("credit_failed")
    assert "number suspended" in failed["credit_failure"] and failed["credit_attempts"] == 1
    handle = time_env.client.get_workflow_handle(f"fee-return-{fid}")
    assert "waiting for an operator" in await handle.query("progress")
    viewer = bearer("read_only", user="v")
    assert (await http.post(f"/fee-returns/{fid}/retry-credit", json={"reason": "x"}, headers=viewer)).status_code == 403
    assert (await http.post(f"/fee-returns/{fid}/retry-credit", json={}, headers=ops)).status_code == 422  # a reason

    billing.refuse_fen = None  # the number was reinstated
    r = await http.post(f"/fee-returns/{fid}/retry-credit", json={"reason": "number reinstated"}, headers=ops)
    assert r.status_code == 200, r.text
    await time_env.sleep(timedelta(hours=10))  # the SMS waits for 07:00
    assert await handle.result() == f"B-{fid}"
    done = await status("credited")
    assert done["resolved_by"] == "ops-wang" and done["credit_attempts"] == 2 and "retry by ops-wang" in done["credit_failure"]
    assert billing.credits == {fid: (MSISDN, 1200)} and billing.asked == [fid, fid]  # one credit, asked twice
    again = await http.post(f"/fee-returns/{fid}/retry-credit", json={"reason": "again"}, headers=ops)
    assert again.status_code == 409

    # a second one is cancelled: nothing credited, the reason kept, no longer a live return
    billing.refuse_fen = 1200
    fid2 = (await http.post(url, json={**body, "charge_month": "202609"}, headers={"Idempotency-Key": "cf2"})).json()["id"]
    fid = fid2  # status() follows this one now
    await status("credit_failed")
    r = await http.post(f"/fee-returns/{fid2}/cancel-credit", json={"reason": "customer moved to another carrier"},
                        headers=ops)
    assert r.status_code == 200
    assert await time_env.client.get_workflow_handle(f"fee-return-{fid2}").result() == "cancelled"
    cancelled = await status("cancelled")
    assert "customer moved" in cancelled["refusal"] and fid2 not in billing.credits
    month = datetime.now(SHANGHAI).strftime("%Y%m")
    rows = {r["department"]: r for r in (await http.get("/complaints/kpis", params={"month": month})).json()}
    assert rows["complaint_desk"]["fee_returns"]["double"] == 1  # the cancelled one is not money given


async def test_special_channel_complaints_are_archived_answered_in_writing_and_reported(desk):
    http, _, _, engine = desk
    letter = (await register(http, source="letter")).json()
    flagged = (await register(http, msisdn=OTHER, special_channel=True, receiving_department="branch_gaoping")).json()
    plain = (await register(http, msisdn=OTHER, ctype="mms")).json()
    assert (letter["special_channel"], flagged["special_channel"], plain["special_channel"]) == (True, True, False)
    listed = (await http.get("/complaints", params={"special_channel": True})).json()
    assert {c["id"] for c in listed["items"]} == {letter["id"], flagged["id"]}

    scan = "客户来函 scan".encode()
    r = await http.post(f"/complaints/{letter['id']}/documents", files={"file": ("来函.pdf", scan, "application/pdf")},
                        data={"note": "the customer's letter"})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["size"] == len(scan) and doc["uploaded_by"] == "test-admin" and doc["note"] == "the customer's letter"
    got = await http.get(f"/complaints/{letter['id']}/documents/{doc['id']}")
    assert got.status_code == 200 and got.content == scan and got.headers["content-type"] == "application/pdf"
    with engine.connect() as c:  # the letter is sealed at rest
        stored = bytes(c.execute(text("SELECT content FROM complaintdocument WHERE id = :id"), {"id": doc["id"]}).scalar())
    assert stored.startswith(crypto.SEALED_BYTES_PREFIX) and scan not in stored and "客户来函".encode() not in stored
    assert (await http.get(f"/complaints/{flagged['id']}/documents/{doc['id']}")).status_code == 404
    empty = await http.post(f"/complaints/{letter['id']}/documents", files={"file": ("x.txt", b"", "text/plain")})
    assert empty.status_code == 422 and empty.json()["type"] == "empty_document"

    four = {"department": "complaint_desk", "process": "called the customer on 2 Nov, checked the bill",
            "background": "a plan changed at the counter without a signature", "measures": "plan restored, 2 x 38.00 returned",
            "customer_acceptance": "accepted on the phone, recorded"}
    url = f"/complaints/{letter['id']}/written-reply"
    r = await http.post(url, json={**four, "background": "  "})
    assert r.status_code == 422 and r.json()["type"] == "UnqualifiedReply" and "background" in r.json()["reason"]
    r = await http.post(url, json={**four, "measures": "已转相关部门处理"})
    assert r.status_code == 422 and "not a measure" in r.json()["reason"]
    r = await http.post(f"/complaints/{plain['id']}/written-reply", json=four)
    assert r.status_code == 409 and r.json()["type"] == "NotSpecialChannel"
    other = bearer("complaint_handler", user="net1", department="network")
    assert (await http.post(url, json=four, headers=other)).status_code == 403  # writes for its own department only
    r = await http.post(url, json=four)
    assert r.status_code == 201 and r.json()["written_by"] == "test-admin"
    assert [w["measures"] for w in (await http.get(url)).json()] == [four["measures"]]

    month = datetime.fromisoformat(letter["received_at"]).astimezone(SHANGHAI).strftime("%Y%m")
    rows = {r["department"]: r for r in (await http.get("/complaints/special-channels", params={"month": month})).json()}
    desk_row, branch_row = rows["complaint_desk"], rows["branch_gaoping"]
    assert (desk_row["received"], desk_row["written_replies"], desk_row["documents"]) == (1, 1, 1)
    assert desk_row["by_source"] == {"letter": 1} and desk_row["without_written_reply"] == []
    assert (branch_row["received"], branch_row["written_replies"], branch_row["without_written_reply"]) == (1, 0, [flagged["id"]])
    csv_text = (await http.get("/complaints/special-channels.csv", params={"month": month})).content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("month,department,received,written_replies") and flagged["id"] in csv_text
    kpis = {r["department"]: r for r in (await http.get("/complaints/kpis", params={"month": month})).json()}
    assert kpis["complaint_desk"]["special_channel"] == 1 and kpis["all"]["special_channel"] == 2


NAME, ID_NUMBER, CALLBACK = "张伟", "11010119900307123X", "13900001111"


async def test_customer_data_is_masked_by_default_revealed_only_to_roles_allowed_and_each_reveal_is_audited(desk):
    from sqlalchemy import text as sql

    from db.identity import AuditEntry

    http, _, _, engine = desk
    cid = (await register(http, text=f"{NAME} says: charged twice, call {CALLBACK}")).json()["id"]
    assert (await http.post(f"/complaints/{cid}/accept", json={"department": "complaint_desk"})).status_code == 200
    typed = f"customer {NAME}, ID {ID_NUMBER}, asks to be called on {CALLBACK}"
    assert (await http.post(f"/complaints/{cid}/findings", json={"department": "complaint_desk", "text": typed})).status_code == 200
    d = await _until(http, cid, lambda d: any(e["kind"] == "findings" for e in d["events"]))

    def texts(detail: dict) -> str:
        return json.dumps([detail["text"], [e["detail"] for e in detail["events"]],
                           [f["text"] for f in (detail["live"] or {}).get("case", {}).get("findings", [])]], ensure_ascii=False)

    # a role that reads customer data: numbers masked in the free text, the number masked, not on the audit log
    assert d["msisdn"] is None and d["msisdn_masked"] == "138****5678"
    shown = texts(d)
    assert "139****1111" in shown and "110101********123X" in shown and CALLBACK not in shown and ID_NUMBER not in shown
    # a role that may not: free text withheld (a name cannot be masked), and no reveal
    viewer = (await http.get(f"/complaints/{cid}", headers=bearer("read_only", user="viewer"))).json()
    assert NAME not in texts(viewer) and "withheld" in texts(viewer) and viewer["msisdn"] is None
    r = await http.get(f"/complaints/{cid}", params={"reveal": "true"}, headers=bearer("read_only", user="viewer"))
    assert r.status_code == 403
    # the reveal: everything in full, and on the audit log
    full = (await http.get(f"/complaints/{cid}", params={"reveal": "true"}, headers=bearer("ops", user="ops:wang"))).json()
    assert full["msisdn"] == MSISDN and CALLBACK in full["text"] and ID_NUMBER in texts(full)
    with Session(engine) as s:
        reads = [(e.actor, e.action, e.outcome, e.target) for e in s.exec(select(AuditEntry).order_by(AuditEntry.id))
                 if e.action.startswith("GET")]
        assert reads == [("viewer", "GET /complaints/{complaint_id} (reveal)", 403, f"complaint_id={cid}"),
                         ("ops:wang", "GET /complaints/{complaint_id} (reveal)", 200, f"complaint_id={cid}")]
        # at rest: the number, the customer's words and the handler's findings are sealed
        row = s.exec(sql("SELECT msisdn, text, msisdn_fingerprint FROM complaint WHERE id = :id"), params={"id": cid}).one()
        assert row[0].startswith("enc1:") and row[1].startswith("enc1:") and "." in row[2]
        details = s.exec(sql("SELECT detail FROM complaintevent WHERE complaint_id = :id AND detail != ''"),
                         params={"id": cid}).all()
        assert details and all(d[0].startswith("enc1:") for d in details)
        for value in (MSISDN, CALLBACK, ID_NUMBER, NAME):
            for table, column in (("complaint", "msisdn"), ("complaint", "text"), ("complaintevent", "detail")):
                hit = s.exec(sql(f"SELECT count(*) FROM {table} WHERE {column} LIKE :v"), params={"v": f"%{value}%"}).one()
                assert hit[0] == 0, (value, table, column)

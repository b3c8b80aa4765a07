"""The cancellations API on SQLite and PostgreSQL, with the real workflow and activities on the time-skipping
server and the carrier simulator answering the signed gateway (the SMS gateway faked in memory)."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from io import BytesIO

import httpx
import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select
from temporalio.worker import Worker

from activities.cancellations import CancellationActivities
from activities.quiet_hours import hold_in_quiet_hours  # noqa: F401 - the reminder activity's rule, imported once
from core.settings import get_settings
from db.cancellations import Cancellation, FollowUpCall, NumberQuarantine
from domain.clock import SHANGHAI
from gateways.carrier import CarrierGateway
from simulators.carrier import create_app as carrier_sim
from tests.fixtures_db import bearer
from tests.polling import poll
from workflows.cancellations import contract
from workflows.cancellations.cancellation import CancellationWorkflow

MSISDN = "13812345678"
APP_NUMBER = "13900001111"
CLERK = bearer("service_clerk", user="clerk-wang")
APP = bearer("self_service", user="zhangting-app")


class FakeSms:
    def __init__(self) -> None:
        self.sent: dict[str, tuple[str, str]] = {}

    async def send(self, message_id: str, to: str, text: str) -> str:
        self.sent.setdefault(message_id, (to, text))
        return "sent"


@pytest.fixture
def time_env(own_time_env):
    return own_time_env


@pytest.fixture
async def hall(db, time_env):
    """(http client, carrier simulator client, sms, engine): the API on the test DB and Temporal, a worker with
    the real activities, the carrier simulator behind the signed gateway."""
    from api.deps import get_db_engine
    from api.main import create_app

    settings = get_settings()
    sim_app = carrier_sim(None, None, settings, daily_every=0)
    sim_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), base_url="http://carrier")
    carrier = CarrierGateway("http://carrier", settings.carrier_api_secret, client=sim_http)
    sms = FakeSms()
    app = create_app(temporal_client=time_env.client)

    app.dependency_overrides[get_db_engine] = lambda: db  # the audit log's writes too
    acts = CancellationActivities(db, carrier, sms)
    from worker import activity_methods
    worker = Worker(time_env.client, task_queue=contract.TASK_QUEUE, workflows=[CancellationWorkflow],
                    activities=activity_methods([acts]), activity_executor=ThreadPoolExecutor(4))
    async with worker, sim_http, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                                   headers=CLERK) as http:
        yield http, sim_http, sms, db
        await asyncio.sleep(0.5)
        with Session(db) as s:
            ids = list(s.exec(select(Cancellation.id)).all())
        for cid in ids:
            try:
                await time_env.client.get_workflow_handle(f"cancellation-{cid}").terminate("test over")
            except Exception:  # noqa: BLE001 - closed already
                pass


async def _start(http, msisdn=MSISDN, key=None, headers=None, **over):
    body = {"msisdn": msisdn, "carrier": "china_mobile", "documents_checked": True, **over}
    return await http.post("/cancellations", json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex,
                                                                 **(headers or {})})


async def _until(http, cid, predicate, headers=None):
    """The case once `predicate` holds; the worker's activities get 30 s (a loaded machine runs them late)."""
    async def fetch():
        r = await http.get(f"/cancellations/{cid}", headers=headers or {})
        return r.json() if r.status_code == 200 else {"status": r.status_code}

    return await poll(fetch, lambda d: "id" in d and predicate(d), f"cancellation {cid}", attempts=600, every=0.05)


async def test_todo_list_recheck_cooling_off_cancelled_timeline_and_report(hall, time_env):
    http, sim, _, engine = hall
    await sim.post("/sim/accounts", json=[{
        "msisdn": MSISDN, "carrier": "china_mobile",
        "facts": {"balance_fen": 4650, "value_added": [{"service_id": "V1", "name": "video member",
                                                         "monthly_fee_fen": 99}]},
        "on_recheck": {"value_added": [{"service_id": "V2", "name": "music pack", "monthly_fee_fen": 500}]}}])
    r = await _start(http, key="k1")
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["msisdn_masked"] == "138****5678" and MSISDN not in r.text and c["requested_by"] == "clerk-wang"
    assert (await _start(http, key="k1")).json()["id"] == c["id"]
    again = await _start(http)
    assert again.status_code == 409 and again.json()["type"] == "cancellation_open"

    d = await _until(http, c["id"], lambda d: d["state"] == "todo")
    assert sorted((i["kind"], i["amount_fen"]) for i in d["todo"]) == [("balance", 4650), ("value_added", None)]
    assert all(i["reason"] for i in d["todo"])
    confirm = await http.post(f"/cancellations/{c['id']}/confirm")
    assert confirm.status_code == 409 and confirm.json()["type"] == "NotEligible"

    for item in ("balance:account", "value_added:V1"):
        r = await http.post(f"/cancellations/{c['id']}/clear", json={"item_id": item, "via": "carrier"})
        assert r.status_code == 200, r.text
    d = await _until(http, c["id"], lambda d: d["prechecks"] == 2)
    assert d["state"] == "todo" and d["ineligible_again"] and [i["item_id"] for i in d["todo"]] == ["value_added:V2"]
    no_evidence = await http.post(f"/cancellations/{c['id']}/clear", json={"item_id": "value_added:V2", "via": "evidence"})
    assert no_evidence.status_code == 422 and no_evidence.json()["type"] == "EvidenceMissing"
    r = await http.post(f"/cancellations/{c['id']}/clear", json={"item_id": "value_added:V2", "via": "evidence",
                                                                "evidence": "cancelled by SMS 0000, screenshot seen"})
    assert r.status_code == 200, r.text
    await _until(http, c["id"], lambda d: d["state"] == "ready")
    r = await http.post(f"/cancellations/{c['id']}/confirm")
    assert r.status_code == 200 and r.json()["case"]["state"] == "cooling_off"

    await time_env.sleep(timedelta(hours=72, minutes=1))
    d = await _until(http, c["id"], lambda d: d["state"] == "cancelled")
    assert d["carrier_reference"].startswith("CXL-") and d["follow_up_due"]
    stats = (await sim.get("/sim/stats")).json()
    assert stats.get("cancel_requests") == 1

    steps = (await http.get(f"/cancellations/{c['id']}/timeline")).json()
    names = [s["step"] for s in steps]
    for step in ("application", "document_review", "early_termination", "contract_handling", "confirmation",
                 "cooling_off", "cancellation"):
        assert step in names
    assert [s["seq"] for s in steps] == list(range(1, len(steps) + 1))
    assert all(s["by"] and s["at"] for s in steps)
    assert any("ineligible again" in s["what"] for s in steps)

    await time_env.sleep(timedelta(hours=49))
    for _ in range(100):
        tasks = (await http.get("/cancellations/follow-ups")).json()
        if tasks:
            break
        await asyncio.sleep(0.05)
    assert [t["cancellation_id"] for t in tasks] == [c["id"]]
    r = await http.post(f"/cancellations/{c['id']}/follow-up", json={"outcome": "reached_satisfied"})
    assert r.status_code == 200, r.text
    await _until(http, c["id"], lambda d: d["closed"])
    with Session(engine) as s:
        assert s.get(FollowUpCall, c["id"]).outcome == "reached_satisfied"
        assert s.get(Cancellation, c["id"]).open_number_key is None
        assert s.get(NumberQuarantine, c["id"]) is None  # not a number of our stock

    month = datetime.fromisoformat(c["requested_at"]).astimezone(SHANGHAI).strftime("%Y%m")
    rep = (await http.get("/cancellations/report", params={"month": month})).json()
    assert (rep["started"], rep["completed"], rep["withdrawn_in_cooling_off"], rep["failed"]) == (1, 1, 0, 0)
    va = next(o for o in rep["obstacles"] if o["kind"] == "value_added")
    assert va["items"] == 2 and va["cases"] == 1 and va["cleared"] == 2 and va["average_days_added"] is not None
    csv = await http.get("/cancellations/report.csv", params={"month": month})
    assert csv.status_code == 200 and "value_added" in csv.content.decode("utf-8-sig")
    xlsx = await http.get("/cancellations/report.xlsx", params={"month": month})
    rows = list(load_workbook(BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "month" and any(r[2] == "completed" and r[3] == 1 for r in rows)


async def test_self_service_sees_only_its_own_withdraws_in_cooling_off_and_may_start_again(hall, time_env):
    http, _, _, _ = hall
    clerk_case = (await _start(http)).json()
    docs = await _start(http, msisdn=APP_NUMBER, headers=APP)
    assert docs.status_code == 403 and docs.json()["type"] == "documents_at_counter"
    r = await _start(http, msisdn=APP_NUMBER, headers=APP, documents_checked=False)
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["channel"] == "self_service" and mine["requested_by"] == "self_service:zhangting-app"
    listed = (await http.get("/cancellations", headers=APP)).json()
    assert [c["id"] for c in listed["items"]] == [mine["id"]]
    assert (await http.get(f"/cancellations/{clerk_case['id']}", headers=APP)).status_code == 404
    assert (await http.post(f"/cancellations/{mine['id']}/documents", json={}, headers=APP)).status_code == 403

    await _until(http, mine["id"], lambda d: d["state"] == "ready", headers=APP)
    early = await http.post(f"/cancellations/{mine['id']}/confirm", headers=APP)
    assert early.status_code == 409 and early.json()["type"] == "DocumentsNotReviewed"
    assert (await http.post(f"/cancellations/{mine['id']}/documents", json={"note": "video check"})).status_code == 200
    assert (await http.post(f"/cancellations/{mine['id']}/confirm", headers=APP)).status_code == 200
    await time_env.sleep(timedelta(hours=71))
    r = await http.post(f"/cancellations/{mine['id']}/withdraw", json={"reason": "kept for my bank"}, headers=APP)
    assert r.status_code == 200 and r.json()["case"]["state"] == "withdrawn", r.text
    await _until(http, mine["id"], lambda d: d["closed"], headers=APP)
    again = await _start(http, msisdn=APP_NUMBER, headers=APP, documents_checked=False)
    assert again.status_code == 201 and again.json()["id"] != mine["id"]


async def test_two_starts_at_once_for_one_number_open_one_case(hall):
    http, _, _, engine = hall
    answers = await asyncio.gather(*(_start(http, msisdn="13655550000") for _ in range(4)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409], [r.text for r in answers]
    assert {r.json()["type"] for r in answers if r.status_code == 409} == {"cancellation_open"}
    with Session(engine) as s:
        assert len(s.exec(select(Cancellation)).all()) == 1


async def test_reminder_sms_to_the_full_number_and_our_stock_back_to_quarantine(hall, time_env, seeded):
    from core import crypto
    from db.orders import Order
    from tests.fixtures_db import AGENT, PRODUCT

    http, _, sms, engine = hall
    stock_number = "13566667777"
    with Session(engine) as s:  # the number was sold from our stock
        s.add(Order(id="O-STOCK-1", idempotency_key="o-stock-1", agent_id=AGENT, product_id=PRODUCT,
                    carrier="china_mobile", msisdn_masked="135****7777", msisdn_fingerprint=crypto.fingerprint(stock_number),
                    placed_at=datetime.now(SHANGHAI) - timedelta(days=200), status="settled"))
        s.commit()
    now = await time_env.get_current_time()
    appointment = (now + timedelta(days=5)).astimezone(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
    r = await _start(http, msisdn=stock_number, appointment_at=appointment.isoformat(), appointment_hall="Jing'an hall")
    assert r.status_code == 201 and r.json()["from_own_stock"], r.text
    cid = r.json()["id"]
    d = await _until(http, cid, lambda d: d["state"] == "ready")
    assert datetime.fromisoformat(d["reminder_at"]) == appointment - timedelta(days=3)
    await time_env.sleep(appointment - timedelta(days=3) - now + timedelta(minutes=1))
    await _until(http, cid, lambda d: d["reminder_sent_at"] is not None)
    [(to, text)] = sms.sent.values()
    assert to == stock_number and "Jing'an hall" in text and "10:00" in text
    assert (await http.post(f"/cancellations/{cid}/confirm")).status_code == 200
    await time_env.sleep(timedelta(hours=72, minutes=1))
    await _until(http, cid, lambda d: d["state"] == "cancelled")
    with Session(engine) as s:
        q = s.get(NumberQuarantine, cid)
        assert q is not None and q.stock_order_id == "O-STOCK-1" and q.until - q.since == timedelta(days=90)
        assert q.msisdn_masked == "135****7777"

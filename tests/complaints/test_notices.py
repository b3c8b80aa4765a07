"""Department notices on the time-skipping server with the real activities and database: delivered (addressee, copy,
receiving department), repeated daily while unacknowledged, stopped by the acknowledgement; the signed webhook
against the simulator's receiver; the inbox API."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.complaints.complaint import ComplaintActivities
from core.access import Principal, Role
from core.alerts import OpsAlert
from core.crypto import fingerprint as msisdn_fingerprint
from core.settings import get_settings
from db.complaints import Complaint, ComplaintNotice
from domain.complaints.complaint import Department
from domain.msisdn import mask_msisdn
from gateways.notices import NoticeGateway
from services.complaints import notices as svc
from simulators.sms_billing import create_app as simulator
from tests.fixtures_db import bearer
from workflows.complaints import contract
from workflows.complaints.contract import NoticeRequest
from workflows.complaints.notice import NoticeDeliveryWorkflow

NUMBER = "13700000042"


class FakeNotices(NoticeGateway):
    def __init__(self) -> None:
        super().__init__({}, {}, "x")
        self.sent: list[tuple[str, int, str]] = []

    async def deliver(self, department: str, body: dict, subject: str, text: str) -> str:
        self.sent.append((department, body["delivery"], body["as"]))
        assert NUMBER not in text and NUMBER not in str(body)
        return "webhook ok"


class FakeSms:
    async def send(self, message_id: str, to: str, text: str) -> str:
        return "sent"


@pytest.fixture
def time_env(own_time_env):
    return own_time_env


@pytest.fixture
def ticket(db):
    with Session(db) as s:
        now = datetime.now(UTC)
        s.add(Complaint(id="CN1", idempotency_key="CN1", msisdn=NUMBER, msisdn_masked=mask_msisdn(NUMBER),
                        msisdn_fingerprint=msisdn_fingerprint(NUMBER), source="hotline", customer="standard",
                        ctype="billing", receiving_department="branch_gaoping", handling_department="billing",
                        received_at=now, level="3", due_at=now, state="overdue"))
        s.commit()
    return "CN1"


@pytest.fixture
async def desk(db, time_env, ticket):
    fake = FakeNotices()
    acts = ComplaintActivities(db, FakeSms(), notices=fake)
    async with Worker(time_env.client, task_queue=contract.TASK_QUEUE, workflows=[NoticeDeliveryWorkflow],
                      activities=[acts.notify_department, acts.deliver_notice], activity_executor=ThreadPoolExecutor(2)):
        yield acts, fake, db


async def _notify(env, acts, key="CN1-supervision-1-1") -> ComplaintNotice:
    req = NoticeRequest(key=key, complaint_id="CN1", kind="supervision", to_department=Department.BILLING,
                        cc_department=Department.MARKET, text="supervision notice 1: complaint CN1 overdue")
    await ActivityEnvironment(client=env.client).run(acts.notify_department, req)
    with Session(acts.engine) as s:
        return s.exec(select(ComplaintNotice).where(ComplaintNotice.key == key)).one()


async def _row(engine, notice_id: int, predicate, attempts=100) -> ComplaintNotice:
    for _ in range(attempts):
        with Session(engine) as s:
            row = s.get(ComplaintNotice, notice_id)
        if predicate(row):
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"notice never reached the state: {row}")


async def test_delivered_to_addressee_copy_and_receiving_then_repeated_daily_until_acknowledged(time_env, desk):
    acts, fake, engine = desk
    notice = await _notify(time_env, acts)
    again = await _notify(time_env, acts)  # a retried activity: one notice, one delivery workflow
    assert again.id == notice.id and notice.receiving_department == "branch_gaoping"
    await _row(engine, notice.id, lambda r: r.deliveries == 1)
    assert sorted(fake.sent) == [("billing", 1, "addressee"), ("branch_gaoping", 1, "receiving department"),
                                 ("market", 1, "copy")]

    await time_env.sleep(timedelta(hours=24, minutes=5))
    row = await _row(engine, notice.id, lambda r: r.deliveries == 2)
    assert fake.sent[-1] == ("billing", 2, "addressee") and len(fake.sent) == 4  # the repeat goes to the addressee
    assert "billing (addressee): webhook ok" in row.delivery

    lead = Principal(id="billing-lead", roles=frozenset({Role.COMPLAINT_HANDLER}), department="billing")
    copy_holder = Principal(id="market-1", roles=frozenset({Role.COMPLAINT_HANDLER}), department="market")
    with Session(engine) as s, pytest.raises(svc.Forbidden):
        svc.acknowledge(s, notice.id, copy_holder)
    with Session(engine) as s:
        acked = svc.acknowledge(s, notice.id, lead, "on it")
    assert await svc.stop_repeats(time_env.client, acked)
    handle = time_env.client.get_workflow_handle(contract.notice_workflow_id(notice.id))
    assert await handle.result() == "acknowledged by billing-lead (on it)"
    await time_env.sleep(timedelta(days=3))
    assert len(fake.sent) == 4
    with Session(engine) as s, pytest.raises(svc.AlreadyAcknowledged):
        svc.acknowledge(s, notice.id, lead)


async def test_an_acknowledgement_whose_signal_was_lost_stops_the_next_repeat(time_env, desk):
    acts, fake, engine = desk
    notice = await _notify(time_env, acts, key="CN1-crisis_report-1")
    await _row(engine, notice.id, lambda r: r.deliveries == 1)
    with Session(engine) as s:  # acknowledged while Temporal was unreachable: no signal
        svc.acknowledge(s, notice.id, Principal(id="ops-1", roles=frozenset({Role.OPS})))
    await time_env.sleep(timedelta(hours=25))
    handle = time_env.client.get_workflow_handle(contract.notice_workflow_id(notice.id))
    assert await handle.result() == "acknowledged by (recorded)"
    assert len(fake.sent) == 3  # no second delivery


async def test_never_acknowledged_stops_after_the_last_repeat_and_alerts_ops(time_env, desk):
    acts, fake, engine = desk
    notice = await _notify(time_env, acts, key="CN1-handler_warning-x")
    handle = time_env.client.get_workflow_handle(contract.notice_workflow_id(notice.id))
    await time_env.sleep(timedelta(days=31))
    assert (await handle.result()).startswith("not acknowledged after 30 deliveries")
    row = await _row(engine, notice.id, lambda r: r.deliveries == 30)
    assert row.acknowledged_at is None
    with Session(engine) as s:
        [alert] = s.exec(select(OpsAlert).where(OpsAlert.kind == "notice_unacknowledged")).all()
    assert str(notice.id) in alert.message


async def test_signed_webhook_reaches_the_simulated_department_and_a_wrong_key_is_refused():
    sim = simulator()
    body = {"notice_id": 7, "delivery": 1, "kind": "supervision", "complaint_id": "C1", "department": "billing",
            "as": "addressee", "text": "overdue"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim)) as http:
        good = NoticeGateway({"billing": "http://sim/departments/notices"}, {}, get_settings().complaint_notice_secret,
                             client=http)
        assert await good.deliver("billing", body, "s", "t") == "webhook ok"
        assert await good.deliver("market", body, "s", "t") == "inbox only"
        bad = NoticeGateway({"billing": "http://sim/departments/notices"}, {}, "wrong-key", client=http)
        assert (await bad.deliver("billing", body, "s", "t")).startswith("webhook failed (HTTP 401")
        mails = []

        async def mailer(to, subject, text):
            mails.append((to, subject))

        mail = NoticeGateway({}, {"billing": "billing@example.com"}, "k", mailer=mailer, client=http)
        assert await mail.deliver("billing", body, "subject", "t") == "e-mail ok" and mails == [("billing@example.com", "subject")]
        got = (await http.get("http://sim/sim/notices", params={"department": "billing"})).json()
    assert [n["notice_id"] for n in got] == [7]


async def test_inbox_lists_a_departments_notices_and_only_the_addressee_acknowledges(db, ticket):
    from api.deps import get_db_engine
    from api.main import create_app

    with Session(db) as s:
        s.add_all([ComplaintNotice(key="k1", complaint_id=ticket, kind="supervision", to_department="billing",
                                   cc_department="market", receiving_department="branch_gaoping", at=datetime.now(UTC)),
                   ComplaintNotice(key="k2", complaint_id=ticket, kind="handler_warning", to_department="network",
                                   receiving_department="network", at=datetime.now(UTC))])
        s.commit()
    app = create_app(temporal_client=None)

    app.dependency_overrides[get_db_engine] = lambda: db
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        branch = bearer("complaint_handler", user="g1", department="branch_gaoping")
        r = await http.get("/complaints/notices", headers=branch)
        assert r.status_code == 200 and [n["kind"] for n in r.json()["items"]] == ["supervision"]
        nid = r.json()["items"][0]["id"]
        assert (await http.get("/complaints/notices", params={"department": "billing"}, headers=branch)).status_code == 403
        everyone = (await http.get("/complaints/notices", headers=bearer("admin"))).json()
        assert everyone["total"] == 2
        assert (await http.post(f"/complaints/notices/{nid}/acknowledge", headers=branch)).status_code == 403
        billing = bearer("complaint_handler", user="b1", department="billing")
        r = await http.post(f"/complaints/notices/{nid}/acknowledge", json={"note": "seen"}, headers=billing)
        assert r.status_code == 200 and r.json()["acknowledged_by"] == "b1 (seen)"
        again = await http.post(f"/complaints/notices/{nid}/acknowledge", headers=billing)
        assert again.status_code == 409 and again.json()["type"] == "already_acknowledged"
        open_ = (await http.get("/complaints/notices", params={"unacknowledged": True}, headers=bearer("admin"))).json()
        assert [n["kind"] for n in open_["items"]] == ["handler_warning"]
        assert (await http.post("/complaints/notices/999999/acknowledge", headers=billing)).status_code == 404
        assert (await http.get("/complaints/notices")).status_code == 401
        received = (await http.get("/complaints", params={"received_by": "branch_gaoping"}, headers=bearer("admin"))).json()
        assert [c["id"] for c in received["items"]] == [ticket]  # with billing now, still listed for its receiver

"""The delivery follow-up's side effects on SQLite and PostgreSQL: the customer's SMS (to the sealed contact phone,
once, never in the quiet hours), the agent's notices in the inbox and by the signed webhook, rescue reminders
counted once, the stale flag with its ops alert."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.orders.delivery import DeliveryActivities
from activities.orders.order import OrderActivities
from core.alerts import OpsAlert
from core.signing import verify
from db.agents import AgentNotice
from db.fulfilment import OrderCustomer
from db.orders import DeliverySms, Order, RescueTask
from domain.orders.delivery import StaleReason
from gateways.agents import AgentWebhookGateway
from tests.fixtures_db import AGENT, PRODUCT
from workflows.orders.contract import DeliverySmsRequest, RescueReminder, RescueRequest, StaleFlag

PHONE = "13900001111"
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


class FakeSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, message_id: str, to: str, text: str) -> str:
        self.sent.append((message_id, to, text))
        return "sent"


def _agent_system():
    received: list[dict] = []

    def handle(request: httpx.Request) -> httpx.Response:
        verify("agent-key", request.headers, request.content, request.method, request.url.raw_path.decode())
        received.append(json.loads(request.content))
        return httpx.Response(200, json={"status": "received"})

    return received, AgentWebhookGateway({AGENT: "http://agent.example/n"}, "agent-key",
                                         client=httpx.AsyncClient(transport=httpx.MockTransport(handle)))


def _order(engine, oid="O1", phone: str | None = PHONE) -> None:
    with Session(engine) as s:
        s.add(Order(id=oid, idempotency_key=f"k-{oid}", agent_id=AGENT, product_id=PRODUCT, carrier="china_mobile",
                    msisdn_masked="138****0001", msisdn_fingerprint="fp", placed_at=T0, status="shipped"))
        s.flush()
        if phone:  # the order's customer (docs/fulfilment.md): the recipient's phone, sealed
            s.add(OrderCustomer(order_id=oid, msisdn="13800000001", recipient_name="张三", recipient_phone=phone,
                                recipient_phone_fingerprint="fp-r", province="上海市", city="上海市", district="闵行区",
                                street="莘松路 100 号", holder_name="张三", id_number="110105199003071234",
                                id_fingerprint="fp-id"))
        s.commit()


async def test_the_tracking_sms_goes_to_the_sealed_contact_phone_once(seeded):
    _order(seeded)
    sms = FakeSms()
    acts = DeliveryActivities(seeded, sms)  # type: ignore[arg-type]
    req = DeliverySmsRequest(message_id="O1-tracking", order_id="O1", kind="tracking", text="tracking SF1")
    assert await ActivityEnvironment().run(acts.send_delivery_sms, req) == "sent"
    assert await ActivityEnvironment().run(acts.send_delivery_sms, req) == "sent"  # a retry texts nobody twice
    assert sms.sent == [("O1-tracking", PHONE, "tracking SF1")]
    with Session(seeded) as s:
        row = s.get(DeliverySms, "O1-tracking")
        assert row.to_masked == "139****1111" and row.status == "sent"
        raw = s.connection().exec_driver_sql("SELECT recipient_phone FROM order_customer WHERE order_id = 'O1'").scalar()
        assert PHONE not in raw  # sealed at rest


async def test_no_contact_phone_is_recorded_not_sent(seeded):
    _order(seeded, phone=None)
    sms = FakeSms()
    status = await ActivityEnvironment().run(DeliveryActivities(seeded, sms).send_delivery_sms,  # type: ignore[arg-type]
                                             DeliverySmsRequest(message_id="O1-a", order_id="O1", kind="arrival", text="x"))
    assert status == "no_contact_number" and sms.sent == []


async def test_a_night_retry_waits_for_seven(seeded):
    _order(seeded)
    env = ActivityEnvironment()
    night = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 23:00 Shanghai
    env.info = env.info.__class__(**{**env.info.__dict__, "attempt": 2, "current_attempt_scheduled_time": night})
    with pytest.raises(ApplicationError) as err:
        await env.run(DeliveryActivities(seeded, FakeSms()).send_delivery_sms,  # type: ignore[arg-type]
                      DeliverySmsRequest(message_id="O1-t", order_id="O1", kind="tracking", text="x"))
    assert err.value.type == "QuietHours" and err.value.next_retry_delay == timedelta(hours=8)


async def test_rescue_opening_and_reminders_reach_the_inbox_and_webhook_once(seeded):
    _order(seeded)
    received, hooks = _agent_system()
    acts = OrderActivities(seeded, hooks)
    give_up = T0 + timedelta(days=7)
    req = RescueRequest(order_id="O1", agent_id=AGENT, exception_event_id="ex1", kind="unreachable",
                        msisdn_masked="138****0001", give_up_at=give_up)
    await ActivityEnvironment().run(acts.open_rescue_task, req)
    await ActivityEnvironment().run(acts.open_rescue_task, req)  # retried
    reminder = RescueReminder(order_id="O1", agent_id=AGENT, exception_event_id="ex1", n=1, text="reminder 1")
    await ActivityEnvironment().run(acts.remind_rescue_task, reminder)
    await ActivityEnvironment().run(acts.remind_rescue_task, reminder)  # retried
    with Session(seeded) as s:
        [task] = s.exec(select(RescueTask)).all()
        assert task.reminders_sent == 1 and task.give_up_at == give_up and task.msisdn_masked == "138****0001"
        keys = [n.key for n in s.exec(select(AgentNotice).order_by(AgentNotice.id)).all()]
    assert keys == [f"rescue-{task.id}-opened", f"rescue-{task.id}-reminder-1"]
    assert [r["key"] for r in received] == [f"rescue-{task.id}-opened", f"rescue-{task.id}-opened",
                                            f"rescue-{task.id}-reminder-1", f"rescue-{task.id}-reminder-1"]
    assert "13800" not in json.dumps(received)  # masked numbers only


async def test_the_old_daily_reminder_counts_once_per_activity_and_tells_the_agent(seeded):
    _order(seeded)
    acts = OrderActivities(seeded)
    await ActivityEnvironment().run(acts.open_rescue_task, RescueRequest(order_id="O1", agent_id=AGENT,
                                                                         exception_event_id="ex1", kind="refused"))
    env = ActivityEnvironment()
    assert await env.run(acts.remind_rescue, "O1") == 1
    assert await env.run(acts.remind_rescue, "O1") == 1  # the same activity retried: counted once
    with Session(seeded) as s:
        assert s.exec(select(RescueTask)).one().reminders_sent == 1
        notices = s.exec(select(AgentNotice).where(AgentNotice.kind == "rescue_reminder")).all()
        assert len(notices) == 1 and "refused" in notices[0].text


async def test_a_stale_flag_tells_ops_and_the_agent_and_news_lifts_it(seeded):
    _order(seeded)
    acts = DeliveryActivities(seeded, FakeSms())  # type: ignore[arg-type]
    since = T0 + timedelta(days=3)
    flag = StaleFlag(order_id="O1", agent_id=AGENT, msisdn_masked="138****0001",
                     reason=StaleReason.NO_LOGISTICS_UPDATE, since=since)
    await ActivityEnvironment().run(acts.record_staleness, flag)
    await ActivityEnvironment().run(acts.record_staleness, flag)  # retried: one alert, one notice
    with Session(seeded) as s:
        o = s.get(Order, "O1")
        assert o.stale_reason == "no_logistics_update" and o.stale_since == since
        [alert] = s.exec(select(OpsAlert).where(OpsAlert.kind == "order_stale")).all()
        assert "O1" in alert.message and "courier" in alert.message
        assert len(s.exec(select(AgentNotice).where(AgentNotice.kind == "order_stale")).all()) == 1
    await ActivityEnvironment().run(acts.record_staleness, flag.model_copy(update={"reason": None, "since": None}))
    with Session(seeded) as s:
        o = s.get(Order, "O1")
        assert o.stale_reason is None and o.stale_since is None

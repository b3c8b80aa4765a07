"""The order workflow's delivery follow-up on the time-skipping server: the tracking SMS (never at night), the
day-before reminder, the rescue with its reminders, the agent's close and the give-up, stale flags, and
continue-as-new carrying every fact, the seen event ids and the open rescue."""

import asyncio
import uuid
from datetime import date, datetime, time, timedelta

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata

from domain.clock import SHANGHAI
from domain.orders.delivery import StaleReason
from domain.orders.order import FailureReason, OrderStatus
from tests.orders.world import FakeWorld, Script, new_order
from workflows.orders import contract
from workflows.orders.contract import RescueClosed, order_workflow_id
from workflows.orders.order import OrderSettlementWorkflow

D = timedelta(days=1)
H = timedelta(hours=1)


@pytest.fixture
def world():
    w = FakeWorld()
    w.tq = f"delivery-{uuid.uuid4().hex[:8]}"
    return w


async def _start(env, world, order):
    return await env.client.start_workflow(OrderSettlementWorkflow.run, order, id=order_workflow_id(order.order_id),
                                           task_queue=world.tq)


async def _until(predicate, what: str, attempts: int = 400):
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def _query_until(handle, predicate, attempts=400):
    for _ in range(attempts):
        view = await handle.query(OrderSettlementWorkflow.checklist)
        if predicate(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"state never reached; last: {view.verdict.status}")


def _at(at: datetime, expected: datetime) -> bool:
    """At that instant, give or take the moment the workflow task takes (never before it)."""
    return expected <= at < expected + timedelta(seconds=30)


def _shanghai(at: datetime) -> datetime:
    return at.astimezone(SHANGHAI)


async def _sleep_until_shanghai(env, hour: int) -> datetime:
    """Move the server's clock to the next `hour`:00 Shanghai."""
    now = _shanghai(await env.get_current_time())
    target = datetime.combine(now.date(), time(hour), tzinfo=SHANGHAI)
    if target <= now:
        target += D
    await env.sleep(target - now)
    return await env.get_current_time()


async def test_the_tracking_number_learned_at_night_is_texted_at_seven(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        night = await _sleep_until_shanghai(env, 23)
        order = new_order(night)
        handle = await _start(env, world, order)
        s = Script(order.order_id, night)
        await handle.signal(OrderSettlementWorkflow.carrier_event, s.ev("shipped", H / 2, tracking_no="SF77"))
        await _query_until(handle, lambda v: v.verdict.status == OrderStatus.SHIPPED)
        await env.sleep(9 * H)
        await _until(lambda: world.sms, "the tracking SMS")
        [(at, sms)] = world.sms
        assert sms.kind == "tracking" and "SF77" in sms.text and sms.message_id == f"{order.order_id}-tracking"
        seven = datetime.combine((_shanghai(night) + D).date(), time(7), tzinfo=SHANGHAI)
        assert _at(at, seven)
        await handle.terminate("test done")


async def test_the_day_before_the_expected_arrival_the_agent_and_the_customer_hear_of_it(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        morning = await _sleep_until_shanghai(env, 8)
        order = new_order(morning)
        handle = await _start(env, world, order)
        s = Script(order.order_id, morning)
        arrival = (_shanghai(morning) + 3 * D).date()
        await handle.signal(OrderSettlementWorkflow.carrier_event,
                            s.ev("shipped", H / 2, tracking_no="SF78", expected_arrival=arrival))
        await env.sleep(3 * D)
        await _until(lambda: any(n.kind == "delivery_arrival" for _, n in world.notices), "the arrival notice")
        [(at, notice)] = [(a, n) for a, n in world.notices if n.kind == "delivery_arrival"]
        assert notice.key == f"order-{order.order_id}-arrival-{arrival.isoformat()}" and notice.agent_id == "A1"
        assert _at(at, datetime.combine(arrival - D, time(10), tzinfo=SHANGHAI))
        assert "138****8000" in notice.text and arrival.isoformat() in notice.text
        assert [sms.kind for _, sms in world.sms] == ["tracking", "arrival"]
        await handle.terminate("test done")


async def test_a_rescue_without_resolution_fails_the_delivery_after_its_days(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        now = await env.get_current_time()
        order = new_order(now)
        handle = await _start(env, world, order)
        s = Script(order.order_id, now)
        await handle.signal(OrderSettlementWorkflow.carrier_event, s.ev("shipped", H, tracking_no="SF9"))
        await handle.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 2 * H, delivery_status="unreachable"))
        await _query_until(handle, lambda v: v.verdict.status == OrderStatus.DELIVERY_EXCEPTION)
        await _until(lambda: world.rescue_opened, "the rescue task")
        [opened] = world.rescue_opened
        started = await env.get_current_time()
        assert opened.kind == "unreachable" and opened.give_up_at is not None
        details = (await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)).current_details
        assert "rescue open (unreachable): 0 reminder(s)" in details and "delivery fails" in details
        # a second exception during the rescue: its own task, the same clock
        await env.sleep(2 * D + H)
        await handle.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 2 * D, delivery_status="refused"))
        verdict = await handle.result()
    assert verdict.status == OrderStatus.FAILED and verdict.failure_reason == FailureReason.DELIVERY_FAILED
    assert [r.kind for r in world.rescue_opened] == ["unreachable", "refused"]
    assert world.rescue_opened[1].give_up_at == opened.give_up_at
    reminders = [r for _, r in world.rescue_reminders]
    assert [r.n for r in reminders] == [1, 2, 3, 4, 5, 6]  # every 24 h; the 7th day gives up
    assert reminders[-1].exception_event_id == world.rescue_opened[1].exception_event_id
    assert world.resolved == [(order.order_id, "delivery_failed")]
    assert any(n.key == f"order-{order.order_id}-delivery-failed" for _, n in world.notices)
    assert opened.give_up_at - started < timedelta(days=7, minutes=1)
    assert world.reminders == []  # the old daily reminder is not used by new orders


async def test_the_agents_close_stops_the_reminders_and_given_up_fails_at_once(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        now = await env.get_current_time()
        first, second = new_order(now), new_order(now)
        h1, h2 = await _start(env, world, first), await _start(env, world, second)
        for order, h in ((first, h1), (second, h2)):
            s = Script(order.order_id, now)
            await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("shipped", H, tracking_no="SF1"))
            await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 2 * H, delivery_status="reschedule"))
        await _until(lambda: len(world.rescue_opened) == 2, "two rescue tasks")
        ex = {r.order_id: r.exception_event_id for r in world.rescue_opened}
        await h1.signal(contract.RESCUE_CLOSED, RescueClosed(exception_event_id=ex[first.order_id],
                                                            resolution="redelivery_arranged", by="agent-a1"))
        await h2.signal(contract.RESCUE_CLOSED, RescueClosed(exception_event_id=ex[second.order_id],
                                                            resolution="given_up", by="agent-a1"))
        failed = await h2.result()
        assert failed.status == OrderStatus.FAILED and failed.failure_reason == FailureReason.DELIVERY_FAILED
        await env.sleep(10 * D)  # far past the give-up: a closed rescue neither reminds nor gives up
        view = await h1.query(OrderSettlementWorkflow.checklist)
        assert view.verdict.status == OrderStatus.DELIVERY_EXCEPTION
        s = Script(first.order_id, now)
        s._n = 10
        await h1.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 3 * D, delivery_status="signed"))
        await _query_until(h1, lambda v: v.verdict.status == OrderStatus.SIGNED)
        await h1.terminate("test done")
    assert [r.order_id for _, r in world.rescue_reminders] == []
    assert sorted(world.resolved) == sorted([(first.order_id, "redelivery_arranged"), (second.order_id, "given_up")])


async def test_stale_flags_come_and_go_with_the_news(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        now = await env.get_current_time()
        order = new_order(now)
        handle = await _start(env, world, order)  # the carrier accepts at once (the fake submission)
        await _until(lambda: world.submitted, "the submission")
        await env.sleep(3 * D + H)
        await _until(lambda: world.stale, "the stale flag")
        at, flag = world.stale[0]
        accepted = (await handle.query(OrderSettlementWorkflow.checklist)).facts.submission.at
        assert flag.reason == StaleReason.NO_SHIPMENT and flag.since == accepted + 3 * D
        desc = await handle.describe()
        assert desc.typed_search_attributes.get(contract.ORDER_STALE) is True
        s = Script(order.order_id, now)
        await handle.signal(OrderSettlementWorkflow.carrier_event, s.ev("shipped", 3 * D, tracking_no="SF2"))
        await _until(lambda: len(world.stale) == 2, "the flag lifted")
        assert world.stale[1][1].reason is None
        assert (await handle.describe()).typed_search_attributes.get(contract.ORDER_STALE) is False
        await env.sleep(3 * D + H)  # shipped, then no courier news for 72 h
        await _until(lambda: len(world.stale) == 3, "stale again")
        assert world.stale[2][1].reason == StaleReason.NO_LOGISTICS_UPDATE
        await handle.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 7 * D, delivery_status="signed"))
        await _until(lambda: len(world.stale) == 4, "signed: never stale again")
        await handle.terminate("test done")


async def test_a_carrier_unreachable_past_the_acceptance_window_makes_the_order_stale(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        now = await env.get_current_time()
        order = new_order(now - 23 * H)  # an hour of the 24-hour acceptance window left
        world.unreachable.add(order.order_id)
        handle = await _start(env, world, order)
        await _until(lambda: world.submitted, "the first submission")
        await env.sleep(2 * H)
        await _until(lambda: world.stale, "the stale flag")
        flag = world.stale[0][1]
        assert flag.reason == StaleReason.NO_CARRIER_ACCEPTANCE and flag.since == order.placed_at + 24 * H
        assert (await handle.describe()).typed_search_attributes.get(contract.ORDER_STALE) is True
        tries = len(world.submitted)
        world.unreachable.clear()  # the carrier is back: the submission still being retried gets through
        await env.sleep(timedelta(minutes=6))  # past the longest retry interval
        view = await _query_until(handle, lambda v: v.facts.submission is not None)
        assert view.facts.submission.accepted and len(world.submitted) > tries
        await _until(lambda: len(world.stale) == 2, "the flag lifted by the acceptance")
        assert world.stale[1][1].reason is None
        assert (await handle.describe()).typed_search_attributes.get(contract.ORDER_STALE) is False
        await handle.terminate("test done")


async def test_continue_as_new_carries_the_facts_seen_events_and_the_open_rescue(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        now = await env.get_current_time()
        order = new_order(now).model_copy(update={"history_limit": 40})
        handle = await _start(env, world, order)
        first_run = (await handle.describe()).run_id
        s = Script(order.order_id, now)
        shipped = s.ev("shipped", H, tracking_no="SF5", expected_arrival=date(2099, 1, 2))
        await handle.signal(OrderSettlementWorkflow.carrier_event, shipped)
        await handle.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 2 * H, delivery_status="unreachable"))
        await _until(lambda: world.rescue_opened, "the rescue task")
        for k in range(12):  # courier news grow the history
            await handle.signal(OrderSettlementWorkflow.carrier_event,
                                s.ev("delivery", 3 * H + k * timedelta(minutes=5), delivery_status="in_transit"))
        await env.sleep(2 * D + H)
        await _until(lambda: len(world.rescue_reminders) >= 2, "two reminders")
        latest = env.client.get_workflow_handle(handle.id)
        assert (await latest.describe()).run_id != first_run
        await latest.signal(OrderSettlementWorkflow.carrier_event, shipped)  # a resend across the runs: a duplicate
        view = await _query_until(latest, lambda v: v.events_seen == 14)
        assert view.facts.tracking_no == "SF5" and view.facts.expected_arrival == date(2099, 1, 2)
        assert view.verdict.status == OrderStatus.DELIVERY_EXCEPTION
        verdict = await handle.result()  # the rescue's clock carried over: it gives up on day 7 of the first run
    assert verdict.failure_reason == FailureReason.DELIVERY_FAILED
    assert len(world.rescue_opened) == 1  # not opened again by the new run
    assert [r.n for _, r in world.rescue_reminders] == [1, 2, 3, 4, 5, 6]
    assert [sms.kind for _, sms in world.sms] == ["tracking"]  # not texted again by the new run

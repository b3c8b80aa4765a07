"""The order workflow's fulfilment steps on the time-skipping server: the carrier submission first (accepted: the
order goes on; refused: it fails with the carrier's precise reason), and the refund of a paid order that ends
before the customer had the card."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.orders.order import AuditResult, FailureReason, OrderStatus, Submission
from tests.orders.test_workflow import _query_until, _start
from tests.orders.world import FakeWorld, Script, new_order
from workflows.orders.order import OrderSettlementWorkflow


@pytest.fixture
def world():
    w = FakeWorld()
    w.tq = f"orders-{uuid.uuid4().hex[:8]}"
    return w


async def test_the_order_is_submitted_first_and_a_refusal_fails_it_with_the_reason(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        order = new_order(await env.get_current_time())
        world.submissions[order.order_id] = Submission(accepted=False, at=datetime.now(UTC),
                                                       reason=FailureReason.REAL_NAME_CHECK_FAILED,
                                                       detail="name and ID differ")
        handle = await _start(env, world, order)
        verdict = await handle.result()
        assert (verdict.status, verdict.failure_reason) == (OrderStatus.FAILED, FailureReason.REAL_NAME_CHECK_FAILED)
        assert verdict.failure_detail == "refused by the carrier: name and ID differ"
        assert world.submitted == [order.order_id]
        assert [p.verdict.failure_reason for p in world.progress] == [FailureReason.REAL_NAME_CHECK_FAILED]
        assert world.refunds == [(order.order_id, "failed", "real_name_check_failed")]  # paid or not: the activity knows


async def test_an_accepted_order_goes_on_and_a_cancellation_before_shipment_asks_for_the_refund(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        now = await env.get_current_time()
        order = new_order(now)
        handle = await _start(env, world, order)
        view = await _query_until(handle, lambda v: v.facts.submission is not None)
        assert view.facts.submission.accepted and view.facts.submission.carrier_order_no == f"CM-{order.order_id}"
        assert view.verdict.status == OrderStatus.PLACED
        await handle.signal(OrderSettlementWorkflow.carrier_event,
                            Script(order.order_id, now).ev("order_cancelled", timedelta(hours=2)))
        verdict = await handle.result()
        assert (verdict.status, verdict.failure_reason) == (OrderStatus.FAILED, FailureReason.ORDER_CANCELLED)
        assert world.refunds == [(order.order_id, "failed", "order_cancelled")]


async def test_a_settled_order_refunds_nothing(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        now = await env.get_current_time()
        order = new_order(now)
        handle = await _start(env, world, order)
        for ev in Script(order.order_id, now).happy():
            await handle.signal(OrderSettlementWorkflow.carrier_event, ev)
        await env.sleep(timedelta(days=70))
        await handle.signal(OrderSettlementWorkflow.audit_result, AuditResult(approved=True, month="000000",
                                                                               commission_fen=12000))
        assert (await handle.result()).status == OrderStatus.SETTLED
        assert world.refunds == []

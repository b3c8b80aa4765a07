"""What ops read in the Temporal Web UI: the static summary, the current details (checklist, what the order waits
for until when in Shanghai time, the failure in words) and the timers' summaries; never a full phone number."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata

from domain.orders.order import (
    Action,
    ChecklistItem,
    ConditionState,
    FailureReason,
    OrderStatus,
    Verdict,
    describe,
)
from tests.orders.world import MSISDN, FakeWorld, Script, new_order
from workflows.orders.contract import order_summary, order_workflow_id
from workflows.orders.order import OrderSettlementWorkflow

AT = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 2026-03-01 00:00 in Shanghai


def test_a_failed_order_says_failed_and_why():
    items = [ChecklistItem(number=1, condition="ordered and shipped", state=ConditionState.MET, at=AT),
             ChecklistItem(number=2, condition="signed for", state=ConditionState.FAILED, note="parcel returned")]
    text = describe(Verdict(status=OrderStatus.FAILED, action=Action.DONE, failure_reason=FailureReason.DELIVERY_FAILED,
                            failure_detail="parcel returned to sender", checklist=items))
    first, *rest = text.splitlines()
    assert first == "**FAILED: delivery failed** (parcel returned to sender)"
    assert "✅ 1. ordered and shipped at 2026-03-01 00:00 Shanghai" in rest
    assert "❌ 2. signed for (parcel returned)" in rest


def test_a_waiting_order_says_for_what_and_until_when_in_shanghai_time():
    text = describe(Verdict(status=OrderStatus.SIGNED, action=Action.WAIT, waiting_for="activation", until=AT))
    assert text.splitlines()[0] == "**SIGNED**: waiting for activation until 2026-03-01 00:00 Shanghai"


async def _details(handle) -> str:
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return meta.current_details


@pytest.fixture
def world():
    w = FakeWorld()
    w.tq = f"orders-ui-{uuid.uuid4().hex[:8]}"
    return w


async def test_the_web_ui_shows_summary_checklist_and_timer(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client, world.tq):
        now = await env.get_current_time()
        order = new_order(now)
        handle = await env.client.start_workflow(OrderSettlementWorkflow.run, order, id=order_workflow_id(order.order_id),
                                                 task_queue=world.tq, static_summary=order_summary(order))
        for ev in Script(order.order_id, now).happy():
            await handle.signal(OrderSettlementWorkflow.carrier_event, ev)
        for _ in range(300):
            details = await _details(handle)
            if details.startswith("**AWAITING CHECK POINT**"):
                break
            await asyncio.sleep(0.05)
        lines = details.splitlines()
        assert lines[0].startswith("**AWAITING CHECK POINT**: waiting for ") and lines[0].endswith(" Shanghai")
        assert [line[0] for line in lines[2:7]] == ["✅", "✅", "✅", "✅", "⏳"]
        assert "check point " in details and " Shanghai, settlement month " in details

        summary = await (await handle.describe()).static_summary()
        assert summary == order_summary(order) and order.msisdn_masked in summary
        conv = env.client.data_converter  # user metadata is a payload like any other: encrypted, decoded here
        timers: list[str] = []
        for _ in range(300):  # the timer lands in the history when the workflow task completes
            timers = [(await conv.decode([e.user_metadata.summary], [str]))[0]
                      for e in (await handle.fetch_history()).events
                      if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and e.user_metadata.HasField("summary")]
            if any(t.startswith("until the check point ") for t in timers):
                break
            await asyncio.sleep(0.05)
        assert any(t.startswith("until the check point ") and t.endswith(" Shanghai") for t in timers), timers
        everything = summary + details + "".join(timers)
        assert MSISDN not in everything  # masked numbers only: user metadata is plain text in the Web UI
        await env.sleep(timedelta(days=70))

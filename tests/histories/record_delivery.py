"""Record the order workflow's delivery follow-up histories (patch `delivery-follow-up`) for the replay tests:
`python -m tests.histories.record_delivery`. A rescue given up after its days (tracking SMS, reminders, a second
exception), a rescue closed by the agent then signed for, a stale order that ships and is signed for, and a run
that continued as new with an open rescue (both runs).

Keep old files when a workflow version ships: every recorded history must replay against the current code.
"""

import asyncio
import uuid
from datetime import timedelta

from tests.histories.record import write_histories
from tests.orders.world import FakeWorld, Script, new_order
from tests.temporal_env import start_time_skipping
from workflows.orders import contract
from workflows.orders.contract import RescueClosed, order_workflow_id
from workflows.orders.order import OrderSettlementWorkflow

VERSION = "v1"
D, H = timedelta(days=1), timedelta(hours=1)


async def histories(env) -> dict[str, object]:
    world = FakeWorld()
    tq = f"rec-delivery-{uuid.uuid4().hex[:6]}"
    out: dict[str, object] = {}

    async def start(order):
        return await env.client.start_workflow(OrderSettlementWorkflow.run, order,
                                               id=order_workflow_id(order.order_id), task_queue=tq)

    async with world.worker(env.client, tq):
        now = await env.get_current_time()

        order = new_order(now)
        h = await start(order)
        s = Script(order.order_id, now)
        await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("shipped", H, tracking_no="SF1",
                                                                   expected_arrival=(now + 2 * D).date()))
        await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 2 * H, delivery_status="unreachable"))
        await env.sleep(2 * D)
        await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 2 * D, delivery_status="refused"))
        await h.result()
        out["order_delivery_given_up"] = (await h.fetch_history()).to_json_dict()

        order = new_order(now)
        h = await start(order)
        s = Script(order.order_id, now)
        await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("shipped", H, tracking_no="SF2"))
        await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 2 * H, delivery_status="wrong_phone"))
        while not any(r.order_id == order.order_id for r in world.rescue_opened):
            await asyncio.sleep(0.05)
        exception_id = next(r.exception_event_id for r in world.rescue_opened if r.order_id == order.order_id)
        await env.sleep(D + H)
        await h.signal(contract.RESCUE_CLOSED, RescueClosed(exception_event_id=exception_id,
                                                           resolution="contact_corrected", by="agent-a1"))
        await env.sleep(H)
        for ev in Script(order.order_id, now).happy()[1:3]:
            await h.signal(OrderSettlementWorkflow.carrier_event, ev.model_copy(update={"event_id": ev.event_id + "b"}))
        await env.sleep(H)
        await h.terminate("recorded")
        out["order_delivery_closed_by_agent"] = (await h.fetch_history()).to_json_dict()

        order = new_order(now)
        h = await start(order)
        await env.sleep(D + H)  # stale: no carrier acceptance
        s = Script(order.order_id, now)
        await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("shipped", D, tracking_no="SF3"))
        await env.sleep(3 * D + H)  # stale: no courier news
        await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 5 * D, delivery_status="signed"))
        await env.sleep(H)
        await h.terminate("recorded")
        out["order_stale_then_signed"] = (await h.fetch_history()).to_json_dict()

        order = new_order(now).model_copy(update={"history_limit": 40})
        h = await start(order)
        first_run = h.result_run_id
        s = Script(order.order_id, now)
        await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("shipped", H, tracking_no="SF4"))
        await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", 2 * H, delivery_status="unreachable"))
        for k in range(12):
            await h.signal(OrderSettlementWorkflow.carrier_event,
                           s.ev("delivery", 3 * H + k * timedelta(minutes=5), delivery_status="in_transit"))
        await h.result()
        out["order_continued_as_new_first_run"] = (
            await env.client.get_workflow_handle(h.id, run_id=first_run).fetch_history()).to_json_dict()
        out["order_continued_as_new_next_run"] = (
            await env.client.get_workflow_handle(h.id).fetch_history()).to_json_dict()
    return out


async def record() -> None:
    env = await start_time_skipping()
    try:
        write_histories(await histories(env), VERSION)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

"""Record the fulfilment histories of the order workflow: `python -m tests.histories.record_fulfilment`.

Since patches `carrier-submission` and `order-refund` an order is first submitted to its carrier, and a paid order
that ends before the customer had the card asks for its refund. Two runs: the carrier refuses the order (real-name
check), and an accepted order the carrier cancels before shipment (refund asked). Keep old files when a workflow
version ships: every recorded history must replay against the current code.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from domain.orders.order import FailureReason, Submission
from tests.histories.record import write_histories
from tests.orders.world import FakeWorld, Script, new_order
from tests.temporal_env import start_time_skipping
from workflows.orders.contract import order_workflow_id
from workflows.orders.order import OrderSettlementWorkflow

VERSION = "v1"


async def histories(env) -> dict[str, object]:
    world = FakeWorld()
    tq = f"rec-fulfilment-{uuid.uuid4().hex[:6]}"
    out: dict[str, object] = {}
    async with world.worker(env.client, tq):
        now = await env.get_current_time()
        refused = new_order(now)
        world.submissions[refused.order_id] = Submission(
            accepted=False, at=datetime.now(UTC), reason=FailureReason.REAL_NAME_CHECK_FAILED,
            detail="the name does not match the identity card")
        h = await env.client.start_workflow(OrderSettlementWorkflow.run, refused,
                                            id=order_workflow_id(refused.order_id), task_queue=tq)
        await h.result()
        out["order_refused_by_carrier"] = (await h.fetch_history()).to_json_dict()

        cancelled = new_order(now)
        h = await env.client.start_workflow(OrderSettlementWorkflow.run, cancelled,
                                            id=order_workflow_id(cancelled.order_id), task_queue=tq)
        while not world.submitted or world.submitted[-1] != cancelled.order_id:
            await asyncio.sleep(0.05)
        await h.signal(OrderSettlementWorkflow.carrier_event,
                       Script(cancelled.order_id, now).ev("order_cancelled", timedelta(hours=3)))
        await h.result()
        out["order_accepted_cancelled_refunded"] = (await h.fetch_history()).to_json_dict()
    return out


async def record() -> None:
    env = await start_time_skipping()
    try:
        write_histories(await histories(env), VERSION)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

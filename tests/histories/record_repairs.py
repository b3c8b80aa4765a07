"""Record the repair passes' histories for the replay tests: `python -m tests.histories.record_repairs`.

The orders' and the refunds' repair passes (each started by its Schedule) run one activity that returns what it
healed; the activity is faked here with the counts it reports. Keep old files when a workflow version ships: every
recorded history must replay against the current code (a behaviour change goes behind `workflow.patched`).
"""

import asyncio
import uuid

from temporalio import activity
from temporalio.worker import Worker

from tests.histories.record import write_histories
from tests.temporal_env import start_time_skipping
from workflows.orders import contract as orders
from workflows.orders.repair import OrderRepairWorkflow
from workflows.refunds import contract as refunds
from workflows.refunds.repair import RefundRepairWorkflow


@activity.defn(name=orders.REPAIR_ORDERS)
async def repair_orders() -> dict:
    return {"processes_started": 2, "events_delivered": 3, "events_for_closed_orders": 1, "failed": 0}


@activity.defn(name=refunds.REPAIR_REFUNDS)
async def repair_refunds() -> dict:
    return {"processes_started": 1, "failed": 0}


async def histories(env) -> dict[str, object]:
    """Each pass's history as the server keeps it (payloads as stored: encrypted)."""
    tq = f"rec-repairs-{uuid.uuid4().hex[:6]}"
    out: dict[str, object] = {}
    async with Worker(env.client, task_queue=tq, workflows=[OrderRepairWorkflow, RefundRepairWorkflow],
                      activities=[repair_orders, repair_refunds]):
        for name, run, wid in (("order_repair", OrderRepairWorkflow.run, orders.REPAIR_WORKFLOW_ID),
                               ("refund_repair", RefundRepairWorkflow.run, refunds.REPAIR_WORKFLOW_ID)):
            h = await env.client.start_workflow(run, id=f"{wid}-{uuid.uuid4().hex[:6]}", task_queue=tq)
            await h.result()
            out[name] = (await h.fetch_history()).to_json_dict()
    return out


async def record() -> None:
    env = await start_time_skipping()
    try:
        write_histories(await histories(env), "v1")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

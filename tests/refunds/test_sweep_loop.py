"""The refund sweep as one long-lived execution: passes on a timer, continue-as-new, and a Schedule at the same
cadence whose fires are skipped while the sweep runs — across continue-as-new too — so the workflow list gains
one row per run, not one per minute."""

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.worker import Worker

from tests.temporal_env import start_dev_server
from workflows.refunds import contract
from workflows.refunds.contract import SweepOutcome
from workflows.refunds.sweep import PAGE, RefundSweepWorkflow

PASSES: list[int] = []


@activity.defn(name=contract.SWEEP_PROCESSING)
async def sweep(limit: int) -> SweepOutcome:
    PASSES.append(limit)
    return SweepOutcome(checked=1, signalled=1)


async def test_one_sweep_runs_on_and_the_schedule_never_adds_a_second():
    env = await start_dev_server()
    try:
        client = env.client
        tq = f"sweep-{uuid.uuid4().hex[:6]}"
        wid = f"refund-sweep-{tq}"
        async with Worker(client, task_queue=tq, workflows=[RefundSweepWorkflow], activities=[sweep]):
            handle = await client.create_schedule(f"{wid}-schedule", Schedule(
                action=ScheduleActionStartWorkflow(RefundSweepWorkflow.run, args=[PAGE, 1, 3], id=wid, task_queue=tq),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)))
            query = f'WorkflowType="{contract.SWEEP_WORKFLOW}" AND TaskQueue="{tq}"'
            for _ in range(150):  # until the first run continued as new at least twice
                runs = [w async for w in client.list_workflows(query)]
                if sum(1 for w in runs if w.status and w.status.name == "CONTINUED_AS_NEW") >= 2:
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"the sweep never continued as new: {[(w.id, w.status) for w in runs]}")
            await handle.delete()
        assert len({w.id for w in runs}) == 1, "the Schedule started a second sweep beside the running one"
        assert sum(1 for w in runs if w.status and w.status.name == "RUNNING") <= 1
        assert len(PASSES) >= 4  # a pass a second, on the sweep's own timer
    finally:
        await env.shutdown()

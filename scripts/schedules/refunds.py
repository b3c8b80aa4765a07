"""The refund sweep's Schedule: every `refund_sweep_every_s` seconds, one RefundSweep run (overlaps skipped)."""

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from core.settings import get_settings
from core.temporal import ensure_schedule
from workflows.refunds import contract
from workflows.refunds.sweep import RefundSweepWorkflow


async def ensure_refund_sweep_schedule(client: Client, every_s: int | None = None) -> str:
    s = get_settings()
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(RefundSweepWorkflow.run, id=contract.SWEEP_WORKFLOW_ID,
                                           task_queue=contract.TASK_QUEUE, static_summary=contract.SWEEP_SUMMARY),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s or s.refund_sweep_every_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    return await ensure_schedule(client, contract.SWEEP_SCHEDULE_ID, schedule)

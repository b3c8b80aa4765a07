"""The refund sweep's Schedule: every `refund_sweep_every_s` seconds, one RefundSweep run (overlaps skipped)."""

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from settings import get_settings
from workflows.refund_sweep import RefundSweepWorkflow

SCHEDULE_ID = "refund-sweep-schedule"


async def ensure_refund_sweep_schedule(client: Client, every_s: int | None = None) -> str:
    s = get_settings()
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(RefundSweepWorkflow.run, id="refund-sweep", task_queue=s.task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s or s.refund_sweep_every_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        pass
    return SCHEDULE_ID

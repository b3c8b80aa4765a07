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

from scripts.schedules.orders import create_once
from core.settings import get_settings
from workflows.refunds.sweep import RefundSweepWorkflow

SCHEDULE_ID = "refund-sweep-schedule"


async def ensure_refund_sweep_schedule(client: Client, every_s: int | None = None) -> str:
    s = get_settings()
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(RefundSweepWorkflow.run, id="refund-sweep", task_queue=s.task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s or s.refund_sweep_every_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    return await create_once(client, SCHEDULE_ID, schedule)

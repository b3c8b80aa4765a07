"""The refund sweep's Schedule. The sweep is one long-lived execution that passes every `refund_sweep_every_s`
seconds (workflows/refunds/sweep.py); the Schedule fires at that cadence with overlaps skipped, so it only ever
starts the sweep when none runs (the first start, or after one stopped)."""

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
from workflows.refunds.repair import RefundRepairWorkflow
from workflows.refunds.sweep import PAGE, RefundSweepWorkflow


async def ensure_refund_sweep_schedule(client: Client, every_s: int | None = None) -> str:
    s = get_settings()
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(RefundSweepWorkflow.run, args=[PAGE, every_s or s.refund_sweep_every_s],
                                           id=contract.SWEEP_WORKFLOW_ID,
                                           task_queue=contract.TASK_QUEUE, static_summary=contract.SWEEP_SUMMARY),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s or s.refund_sweep_every_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    return await ensure_schedule(client, contract.SWEEP_SCHEDULE_ID, schedule)


async def ensure_refund_repair_schedule(client: Client, every_s: int | None = None) -> str:
    """The repair pass every `repair_every_s` (overlaps skipped): refunds stored without a running workflow."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(RefundRepairWorkflow.run, id=contract.REPAIR_WORKFLOW_ID,
                                           task_queue=contract.TASK_QUEUE),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s or get_settings().repair_every_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    return await ensure_schedule(client, contract.REPAIR_SCHEDULE_ID, schedule)

"""The orders' Schedules: each carrier's monthly settlement (on the 3rd at 02:00 Shanghai, open last month's
batch) and the repair pass."""

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from core.settings import get_settings
from core.temporal import ensure_schedule
from domain.orders.carriers import Carrier
from workflows.orders import contract
from workflows.orders.repair import OrderRepairWorkflow
from workflows.orders.settlement import SettlementKickoffWorkflow


async def ensure_settlement_schedules(client: Client) -> list[str]:
    s = get_settings()
    ids = []
    for carrier in Carrier:
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                SettlementKickoffWorkflow.run, carrier.value, id=contract.kickoff_workflow_id(carrier.value),
                task_queue=contract.TASK_QUEUE, static_summary=contract.kickoff_summary(carrier.value),
            ),
            spec=ScheduleSpec(
                calendars=[ScheduleCalendarSpec(day_of_month=[ScheduleRange(s.settlement_schedule_day)],
                                                hour=[ScheduleRange(2)], minute=[ScheduleRange(0)])],
                time_zone_name="Asia/Shanghai",
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        )
        ids.append(await ensure_schedule(client, contract.settlement_schedule_id(carrier.value), schedule))
    return ids


async def ensure_order_repair_schedule(client: Client, every_s: int | None = None) -> str:
    """The repair pass every `repair_every_s` (overlaps skipped): orders and carrier events a crash left half done."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(OrderRepairWorkflow.run, id=contract.REPAIR_WORKFLOW_ID,
                                           task_queue=contract.TASK_QUEUE),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s or get_settings().repair_every_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    return await ensure_schedule(client, contract.REPAIR_SCHEDULE_ID, schedule)

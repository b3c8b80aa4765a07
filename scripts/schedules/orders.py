"""Each carrier's monthly settlement Schedule: on the 3rd at 02:00 Shanghai, open last month's batch."""

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from core.settings import get_settings
from core.temporal import ensure_schedule
from domain.orders.carriers import Carrier
from workflows.orders import contract
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

"""Each carrier's monthly settlement Schedule: on the 3rd at 02:00 Shanghai, open last month's batch."""

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from domain.orders.carriers import Carrier
from core.settings import get_settings
from workflows.orders.settlement import SettlementKickoffWorkflow


async def create_once(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the Schedule unless it exists: every start of the system ensures its Schedules, idempotently."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        pass
    return schedule_id


def schedule_id(carrier: str) -> str:
    return f"settlement-schedule-{carrier}"


async def ensure_settlement_schedules(client: Client) -> list[str]:
    s = get_settings()
    ids = []
    for carrier in Carrier:
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                SettlementKickoffWorkflow.run, carrier.value, id=f"settlement-kickoff-{carrier.value}",
                task_queue=s.task_queue,
            ),
            spec=ScheduleSpec(
                calendars=[ScheduleCalendarSpec(day_of_month=[ScheduleRange(s.settlement_schedule_day)],
                                                hour=[ScheduleRange(2)], minute=[ScheduleRange(0)])],
                time_zone_name="Asia/Shanghai",
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        )
        ids.append(await create_once(client, schedule_id(carrier.value), schedule))
    return ids

"""The daily working-day calendar check: a Temporal Schedule at 08:00 Shanghai (warns from 1 December when
next year's official schedule is missing; see domain.workdays.next_year_check)."""

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

from scripts.schedules.orders import create_once
from core.settings import get_settings
from workflows.complaints.complaint import CalendarCheckWorkflow

CALENDAR_CHECK_SCHEDULE = "working-day-calendar-check"


async def ensure_calendar_check_schedule(client: Client) -> str:
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(CalendarCheckWorkflow.run, id="working-day-calendar-check",
                                           task_queue=get_settings().task_queue),
        spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(8)], minute=[ScheduleRange(0)])],
                          time_zone_name="Asia/Shanghai"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    return await create_once(client, CALENDAR_CHECK_SCHEDULE, schedule)

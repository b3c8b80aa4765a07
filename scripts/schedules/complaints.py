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

from core.temporal import ensure_schedule
from workflows.complaints import contract
from workflows.complaints.complaint import CalendarCheckWorkflow


async def ensure_calendar_check_schedule(client: Client) -> str:
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(CalendarCheckWorkflow.run, id=contract.CALENDAR_CHECK_WORKFLOW_ID,
                                           task_queue=contract.TASK_QUEUE, static_summary=contract.CALENDAR_CHECK_SUMMARY),
        spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(8)], minute=[ScheduleRange(0)])],
                          time_zone_name="Asia/Shanghai"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    return await ensure_schedule(client, contract.CALENDAR_CHECK_SCHEDULE_ID, schedule)

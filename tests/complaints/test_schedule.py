"""The daily working-day calendar check runs from a Temporal Schedule (dev server: the test server has none)."""

import asyncio
import uuid
from datetime import date, datetime
from unittest import mock

from temporalio import activity
from temporalio.worker import Worker

from domain.clock import SHANGHAI
from scripts.schedules.complaints import ensure_calendar_check_schedule
from tests.temporal_env import start_dev_server
from workflows.complaints import contract
from workflows.complaints import contract as complaints_contract
from workflows.complaints.complaint import CalendarCheckWorkflow
from workflows.complaints.contract import CALENDAR_CHECK_SCHEDULE_ID as CALENDAR_CHECK_SCHEDULE


async def test_daily_calendar_check_schedule_runs_the_check_with_todays_shanghai_date():
    env = await start_dev_server()
    asked: list[date] = []

    @activity.defn(name=contract.CHECK_CALENDAR)
    async def check(today: date) -> list[str]:
        asked.append(today)
        return [f"checked {today.isoformat()}"]

    tq = f"cal-{uuid.uuid4().hex[:6]}"
    try:
        with mock.patch.object(complaints_contract, "TASK_QUEUE", "orders"):  # as created before the queue split
            sid = await ensure_calendar_check_schedule(env.client)
        with mock.patch.object(complaints_contract, "TASK_QUEUE", tq):
            assert sid == await ensure_calendar_check_schedule(env.client)  # idempotent, and moves the action
            await env.client.get_schedule_handle(sid).pause(note="ops pause")
            assert sid == await ensure_calendar_check_schedule(env.client)
        handle = env.client.get_schedule_handle(CALENDAR_CHECK_SCHEDULE)
        desc = await handle.describe()
        assert desc.schedule.action.task_queue == tq  # existing Schedules follow the business's own queue
        assert desc.schedule.state.paused  # what ops set is kept
        await handle.unpause()
        spec = desc.schedule.spec
        assert spec.time_zone_name == "Asia/Shanghai"
        assert [r.start for r in spec.calendars[0].hour] == [8] and [r.start for r in spec.calendars[0].minute] == [0]
        async with Worker(env.client, task_queue=tq, workflows=[CalendarCheckWorkflow], activities=[check]):
            await handle.trigger()
            for _ in range(100):
                if asked:
                    break
                await asyncio.sleep(0.1)
        # the workflow asks with its own clock's Shanghai date (a day apart only if the test straddles midnight)
        assert len(asked) == 1 and abs((asked[0] - datetime.now(SHANGHAI).date()).days) <= 1
    finally:
        await env.shutdown()

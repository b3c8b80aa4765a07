"""Record the housekeeping workflows' histories for the replay tests:
`python -m tests.histories.record_housekeeping` (the monthly settlement kick-off, which starts the carrier's
batch as a child, and the daily working-day calendar check).

Keep old files when a workflow version ships: every recorded history must replay against the current code.
"""

import asyncio
import uuid
from datetime import date

from temporalio import activity
from temporalio.worker import Worker

from tests.histories.record import settlement_fakes, write_histories
from tests.temporal_env import start_time_skipping
from workflows.complaints import contract as complaints
from workflows.complaints.complaint import CalendarCheckWorkflow
from workflows.orders.settlement import CarrierSettlementWorkflow, SettlementKickoffWorkflow


async def record() -> None:
    env = await start_time_skipping()
    tq = f"rec-housekeeping-{uuid.uuid4().hex[:6]}"
    out: dict[str, object] = {}

    @activity.defn(name=complaints.CHECK_CALENDAR)
    async def check_calendar(today: date) -> list[str]:
        return [f"the working-day schedule of {today.year + 1} is not loaded yet"]

    async with Worker(env.client, task_queue=tq, workflows=[SettlementKickoffWorkflow, CarrierSettlementWorkflow,
                                                           CalendarCheckWorkflow],
                      activities=[*settlement_fakes(), check_calendar]):
        h = await env.client.start_workflow(SettlementKickoffWorkflow.run, "china_mobile",
                                            id=f"settlement-kickoff-{uuid.uuid4().hex[:4]}", task_queue=tq)
        await h.result()  # the batch runs on as its own execution (parent close policy ABANDON)
        out["settlement_kickoff"] = (await h.fetch_history()).to_json_dict()

        h = await env.client.start_workflow(CalendarCheckWorkflow.run, id=f"calendar-check-{uuid.uuid4().hex[:4]}",
                                            task_queue=tq)
        await h.result()
        out["calendar_check"] = (await h.fetch_history()).to_json_dict()
    await env.shutdown()
    write_histories(out, "v1")


if __name__ == "__main__":
    asyncio.run(record())

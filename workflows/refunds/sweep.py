"""The query-back of refunds still processing at their channel (workflow `refund-sweep`).

Refunds parked at the channel (accepted, not final) are asked about again on their channel's backoff;
each answer goes to the refund's own workflow as a signal, which decides. When a channel's backoff
runs out the refund's workflow moves it to the manual queue: nothing is closed silently.

One long-lived execution: a pass, a timer of `every_s`, the next pass, and a continue-as-new about once a day
(or when Temporal suggests it), so the Web UI's list gains one row a day instead of one a minute. Its Schedule
(scripts/schedules/refunds.py) fires at the same cadence with overlaps skipped: while the sweep runs every fire
is skipped, and if it ever stops (terminated, failed) the next fire starts it again. Started with no
`every_s` (the Schedule's action before this change), it is the former one-pass run: those histories replay.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.clock import shanghai_text
    from workflows.refunds import contract
    from workflows.refunds.contract import SweepOutcome

PAGE = 200
MAX_PAGES = 20
RUN_FOR_S = 24 * 3600  # then continue as new: one row a day in the list, a bounded history


@workflow.defn(name=contract.SWEEP_WORKFLOW)
class RefundSweepWorkflow:
    @workflow.run
    async def run(self, page_size: int = PAGE, every_s: int = 0, run_for_s: int = RUN_FOR_S) -> SweepOutcome:
        started = workflow.now()
        total = SweepOutcome()
        passes = 0
        while True:
            got = await self._pass(page_size)
            passes += 1
            for field in ("checked", "signalled", "exhausted", "unavailable"):
                setattr(total, field, getattr(total, field) + getattr(got, field))
            if every_s <= 0:
                return total  # the one-pass run of the former per-minute Schedule
            nxt = workflow.now() + timedelta(seconds=every_s)
            workflow.set_current_details(
                f"pass {passes} since {shanghai_text(started)}: {total.checked} refunds checked, {total.signalled} "
                f"answers passed on, {total.exhausted} moved to manual review, {total.unavailable} channels "
                f"unavailable; next pass {shanghai_text(nxt)}")
            if workflow.now() - started >= timedelta(seconds=run_for_s) or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(args=[page_size, every_s, run_for_s])
            await workflow.sleep(timedelta(seconds=every_s), summary=f"next sweep at {shanghai_text(nxt)}")

    async def _pass(self, page_size: int) -> SweepOutcome:
        total = SweepOutcome()
        for _ in range(MAX_PAGES):  # bounded: the next pass picks up the rest
            got = await workflow.execute_activity(
                contract.SWEEP_PROCESSING, page_size, result_type=SweepOutcome,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=1),  # the activity heartbeats per refund it checks
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=3),
                summary=f"query back up to {page_size} refunds still processing at their channel",
            )
            total.checked += got.checked
            total.signalled += got.signalled
            total.exhausted += got.exhausted
            total.unavailable += got.unavailable
            if got.checked < page_size:
                break
        return total

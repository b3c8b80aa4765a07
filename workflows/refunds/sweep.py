"""The periodic query-back (workflow `refund-sweep`, started by a Temporal Schedule every minute).

Refunds parked at the channel (accepted, not final) are asked about again on their channel's backoff;
each answer goes to the refund's own workflow as a signal, which decides. When a channel's backoff
runs out the refund's workflow moves it to the manual queue: nothing is closed silently.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.refunds import contract
    from workflows.refunds.contract import SweepOutcome

PAGE = 200
MAX_PAGES = 20


@workflow.defn(name=contract.SWEEP_WORKFLOW)
class RefundSweepWorkflow:
    @workflow.run
    async def run(self, page_size: int = PAGE) -> SweepOutcome:
        total = SweepOutcome()
        for _ in range(MAX_PAGES):  # bounded: the next scheduled run picks up the rest
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

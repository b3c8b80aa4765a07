"""One retry of a payout exception (workflow id `payout-retry-<payout id>-<attempt>`).

Finance asked for it (the API moved the exception to `retrying` first, so nothing else happens to it meanwhile);
the activity pays under the payout's own id, so the bank pays it at most once whatever is retried. A bank that
does not answer within the hour puts the exception back to open, cause unavailable (a manual payment then stays
refused until a retry gets an answer: domain/finance/payouts.py).
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.finance import contract
    from workflows.finance.contract import PayoutRetryInput, PayoutRetryOutcome

BANK = dict(start_to_close_timeout=timedelta(minutes=1), schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)))
DB = dict(start_to_close_timeout=timedelta(minutes=1), retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))


@workflow.defn(name=contract.PAYOUT_RETRY_WORKFLOW)
class PayoutRetryWorkflow:
    @workflow.run
    async def run(self, inp: PayoutRetryInput) -> PayoutRetryOutcome:
        workflow.set_current_details(f"asking the bank to pay {inp.payout_id} (retry {inp.attempt - 1})")
        try:
            out = await workflow.execute_activity(contract.RETRY_PAYOUT, inp, result_type=PayoutRetryOutcome,
                                                  summary=f"pay {inp.payout_id} under its own id", **BANK)
        except ActivityError:
            out = await workflow.execute_activity(contract.RETRY_UNANSWERED, inp, result_type=PayoutRetryOutcome,
                                                  summary="the bank did not answer: back to finance", **DB)
        workflow.set_current_details(f"done: {out.state}" + (f" ({out.reason})" if out.reason else ""))
        return out

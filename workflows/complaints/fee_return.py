"""Crediting one approved fee return (workflow id `fee-return-<id>`): billing system, then the customer's SMS.

Approval and audit happen before (services/complaints/fee_return.py refuses a start without them). The credit is
idempotent at the billing system by the fee return's id, so a retried activity never pays twice; the SMS
("the money is on your account", complaint procedure 5.6.4) waits for 07:00 if the credit lands in the night.

When the billing system refuses the credit, the return is recorded `credit_failed` with the refusal, and the
workflow waits for an operator: `retry` asks again (the same credit id: never booked twice), `cancel` ends it
`cancelled` with the reason. Before that change a refusal failed the workflow and left the return "approved".
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.clock import shanghai_text
    from domain.complaints.complaint import customer_sms_time
    from domain.complaints.fee_return import CreditResolution
    from domain.money import yuan
    from workflows.complaints import contract
    from workflows.complaints.contract import CreditFailure, CreditResolved, FeeReturnCredit

BILLING = dict(start_to_close_timeout=timedelta(seconds=30),
               retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10), non_retryable_error_types=["CreditRejected"]))
RECORD = dict(start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
CREDIT_FAILURE_PATCH = "fee-return-credit-failure-waits-for-ops"


@workflow.defn(name=contract.FEE_RETURN_WORKFLOW)
class FeeReturnCreditWorkflow:
    def __init__(self) -> None:
        self._progress = "crediting"
        self._waiting = False
        self._resolution: CreditResolved | None = None

    def _set(self, progress: str) -> None:
        self._progress = progress
        workflow.set_current_details(progress)  # the Web UI's current details; no history event

    @workflow.run
    async def run(self, inp: FeeReturnCredit) -> str:
        workflow.set_current_details(self._progress)
        while True:
            try:
                reference = await workflow.execute_activity(
                    contract.CREDIT_FEE_RETURN, inp, result_type=str,
                    summary=f"credit {yuan(inp.amount_fen)} yuan at the billing system", **BILLING)
                break
            except ActivityError as err:
                refused = isinstance(err.cause, ApplicationError) and err.cause.type == "CreditRejected"
                if not refused or not workflow.patched(CREDIT_FAILURE_PATCH):
                    raise
                if await self._wait_for_operator(inp, err.cause.message) == CreditResolution.CANCEL:
                    return "cancelled"
        self._set(f"credited ({reference}); customer SMS")
        wait = customer_sms_time(workflow.now()) - workflow.now()
        if wait > timedelta(0):
            self._set(f"credited ({reference}); SMS waits for 07:00")
            await workflow.sleep(wait, summary=f"until {shanghai_text(workflow.now() + wait)}: no SMS at night")
        await workflow.execute_activity(contract.SMS_FEE_RETURN_CREDITED, inp, summary="SMS the customer: money credited",
                                        **BILLING)
        self._set(f"credited ({reference}); customer told")
        return reference

    async def _wait_for_operator(self, inp: FeeReturnCredit, reason: str) -> CreditResolution:
        await workflow.execute_activity(contract.RECORD_CREDIT_FAILURE,
                                        CreditFailure(fee_return_id=inp.fee_return_id, reason=reason), **RECORD)
        self._progress = f"credit refused by billing: {reason}; waiting for an operator (retry or cancel)"
        self._waiting = True
        await workflow.wait_condition(lambda: self._resolution is not None)
        decision, self._resolution, self._waiting = self._resolution, None, False
        assert decision is not None
        decision.fee_return_id = inp.fee_return_id
        await workflow.execute_activity(contract.RECORD_CREDIT_RESOLUTION, decision, **RECORD)
        self._progress = f"{decision.resolution} by {decision.actor}: {decision.reason}"
        return CreditResolution(decision.resolution)

    @workflow.signal(name=contract.RESOLVE_CREDIT)
    def resolve_credit(self, decision: CreditResolved) -> None:
        if self._waiting and self._resolution is None:  # the first operator's decision counts; a late one is dropped
            self._resolution = decision
        else:
            workflow.logger.info("credit resolution ignored: not waiting", extra={"resolution": decision.resolution})

    @workflow.query(name=contract.PROGRESS)
    def progress(self) -> str:
        return self._progress

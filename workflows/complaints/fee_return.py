"""Crediting one approved fee return (workflow id `fee-return-<id>`): billing system, then the customer's SMS.

Approval and audit happen before (services/complaints/fee_return.py refuses a start without them). The credit is
idempotent at the billing system by the fee return's id, so a retried activity never pays twice; the SMS
("the money is on your account", complaint procedure 5.6.4) waits for 07:00 if the credit lands in the night.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.clock import shanghai_text
    from domain.complaints.complaint import customer_sms_time
    from domain.money import yuan
    from workflows.complaints import contract
    from workflows.complaints.contract import FeeReturnCredit

BILLING = dict(start_to_close_timeout=timedelta(seconds=30),
               retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10), non_retryable_error_types=["CreditRejected"]))


@workflow.defn(name=contract.FEE_RETURN_WORKFLOW)
class FeeReturnCreditWorkflow:
    def __init__(self) -> None:
        self._progress = "crediting"

    def _set(self, progress: str) -> None:
        self._progress = progress
        workflow.set_current_details(progress)  # the Web UI's current details; no history event

    @workflow.run
    async def run(self, inp: FeeReturnCredit) -> str:
        workflow.set_current_details(self._progress)
        reference = await workflow.execute_activity(contract.CREDIT_FEE_RETURN, inp, result_type=str,
                                                    summary=f"credit {yuan(inp.amount_fen)} yuan at the billing system", **BILLING)
        self._set(f"credited ({reference}); customer SMS")
        wait = customer_sms_time(workflow.now()) - workflow.now()
        if wait > timedelta(0):
            self._set(f"credited ({reference}); SMS waits for 07:00")
            await workflow.sleep(wait, summary=f"until {shanghai_text(workflow.now() + wait)}: no SMS at night")
        await workflow.execute_activity(contract.SMS_FEE_RETURN_CREDITED, inp, summary="SMS the customer: money credited",
                                        **BILLING)
        self._set(f"credited ({reference}); customer told")
        return reference

    @workflow.query(name=contract.PROGRESS)
    def progress(self) -> str:
        return self._progress

"""Mail an invoice decision to the agent (workflow id `invoice-mail-<invoice id>`): the issued invoice as a PDF,
or the refusal with its reason. The activity renders and sends through SMTP and records that it did, so a
mail server that is down is tried again (every ten minutes at most) until it takes the mail."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.finance import contract
    from workflows.finance.contract import InvoiceMailInput

MAIL = dict(start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=10)))


@workflow.defn(name=contract.INVOICE_MAIL_WORKFLOW)
class InvoiceMailWorkflow:
    @workflow.run
    async def run(self, inp: InvoiceMailInput) -> str:
        workflow.set_current_details(f"mailing invoice {inp.invoice_id} ({inp.state}) to agent {inp.agent_id}")
        status = await workflow.execute_activity(contract.SEND_INVOICE_MAIL, inp, result_type=str,
                                                 summary=f"SMTP: invoice {inp.invoice_id} to agent {inp.agent_id}",
                                                 **MAIL)
        workflow.set_current_details(f"invoice {inp.invoice_id}: {status}")
        return status

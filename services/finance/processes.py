"""Starting finance's workflows from the API: a payout retry, an invoice mail. Each start is idempotent by its
business id (the same retry or mail asked again finds the running one, or the finished one)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows.finance import contract
from workflows.finance.contract import InvoiceMailInput, PayoutRetryInput


async def start_retry(client: Client, inp: PayoutRetryInput) -> None:
    try:
        await client.start_workflow(contract.PAYOUT_RETRY_WORKFLOW, inp,
                                    id=contract.payout_retry_workflow_id(inp.payout_id, inp.attempt),
                                    task_queue=contract.TASK_QUEUE, static_summary=contract.payout_retry_summary(inp),
                                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:
        pass  # this retry ran already: its answer is on the exception


async def start_mail(client: Client, inp: InvoiceMailInput) -> None:
    try:
        await client.start_workflow(contract.INVOICE_MAIL_WORKFLOW, inp,
                                    id=contract.invoice_mail_workflow_id(inp.invoice_id),
                                    task_queue=contract.TASK_QUEUE, static_summary=contract.invoice_mail_summary(inp),
                                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:
        pass  # mailed (or given up) already: the invoice's mail status says which

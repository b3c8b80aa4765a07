"""The finance business's contract: where the API, the workflows and the activities agree.

Finance closes each month: payout exceptions retried or paid by hand, each carrier batch reconciled with the
carrier's audit, invoices against settled statements mailed as PDF. Names here are recorded in histories:
never rename one.
"""

from pydantic import BaseModel

from domain.orders.carriers import carrier_name

TASK_QUEUE = "finance"

PAYOUT_RETRY_WORKFLOW = "PayoutRetry"
INVOICE_MAIL_WORKFLOW = "InvoiceMail"

# Activities
RECONCILE_BATCH = "reconcile_batch"  # called by the orders business's settlement batch, on this queue
RETRY_PAYOUT = "retry_payout"
RETRY_UNANSWERED = "retry_unanswered"
SEND_INVOICE_MAIL = "send_invoice_mail"

SEARCH_ATTRIBUTES = ()  # the Web UI finds these by workflow type and id; the Keyword slots are full anyway


def payout_retry_workflow_id(payout_id: str, attempt: int) -> str:
    """One workflow per retry: the payout id names the statement and its lines, the attempt which try."""
    return f"payout-retry-{payout_id}-{attempt}"


def invoice_mail_workflow_id(invoice_id: int) -> str:
    return f"invoice-mail-{invoice_id}"


class ReconcileRequest(BaseModel):
    carrier: str
    month: str

    @property
    def batch_id(self) -> str:
        return f"settlement-{self.carrier}-{self.month}"


class ReconcileOutcome(BaseModel):
    expected_fen: int = 0
    audited_fen: int = 0
    differences: int = 0
    by_cause: dict[str, int] = {}


class PayoutRetryInput(BaseModel):
    payout_id: str
    attempt: int  # the exception's attempt number this retry is (2 = the first retry)
    actor: str  # who asked (shown in the history and recorded on the exception)
    agent_id: str
    amount_fen: int


class PayoutRetryOutcome(BaseModel):
    state: str  # domain.finance.payouts.ExceptionState after the bank's answer
    reason: str = ""
    reference: str = ""


class InvoiceMailInput(BaseModel):
    invoice_id: int
    agent_id: str
    state: str  # issued or refused: what the mail says


def payout_retry_summary(inp: PayoutRetryInput) -> str:
    return f"Payout {inp.payout_id} to agent {inp.agent_id}: retry {inp.attempt - 1} of {inp.amount_fen / 100:.2f} yuan"


def invoice_mail_summary(inp: InvoiceMailInput) -> str:
    what = "issued invoice (PDF)" if inp.state == "issued" else "refusal of the invoice request"
    return f"Invoice {inp.invoice_id} of agent {inp.agent_id}: mail the {what}"


def reconcile_summary(carrier: str, month: str) -> str:
    return f"reconcile {carrier_name(carrier)}'s audit of {month} with our figures"

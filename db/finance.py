"""Finance: payout exceptions and what finance did about them, each batch's reconciliation with the carrier's
audit, and invoices against settled statements. States are plain text (domain/finance), not database enums."""

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import Aware, Sealed, utcnow


class PayoutException(SQLModel, table=True):
    """One payout the bank refused or never answered; its lines wait here, paid by no batch, until finance acts."""

    __tablename__ = "payout_exception"

    id: str = Field(primary_key=True)  # the payout id: the idempotency key at the bank, for every retry
    batch_id: str = Field(index=True)  # the batch whose payout step raised it
    statement_id: str = Field(index=True)
    agent_id: str = Field(index=True)
    carrier: str = Field(index=True)
    month: str = Field(index=True)  # the statement's month
    amount_fen: int
    line_ids: str  # JSON list of the commission lines this payout pays
    cause: str  # domain.finance.payouts.ExceptionCause
    reason: str = Field(index=True)  # BankReason
    detail: str = ""  # the bank's own words
    state: str = Field(index=True)  # ExceptionState
    attempts: int = 1
    new_account: str = Sealed(default="")  # the agent's new bank details given with a retry ("" = the account on file)
    reference: str = ""  # the bank's payout reference, or the manual transfer's
    evidence: str = ""  # what proves a manual payment (the transfer's description, who confirmed it)
    resolved_by: str = ""
    resolved_at: datetime | None = Aware(nullable=True)
    created_at: datetime = Aware(nullable=False, default=utcnow)
    updated_at: datetime = Aware(nullable=False, default=utcnow)


class PayoutExceptionStep(SQLModel, table=True):
    """Everything that happened to an exception, with who and when: raised, retried, refused again, paid."""

    __tablename__ = "payout_exception_step"
    __table_args__ = (UniqueConstraint("payout_id", "key", name="uq_payout_step_key"),)

    id: int | None = Field(default=None, primary_key=True)
    payout_id: str = Field(index=True)
    key: str  # one per step, so a retried activity records it once
    action: str  # raised | retry | refused_again | paid | manual_payment
    actor: str
    detail: str = ""
    at: datetime = Aware(nullable=False, default=utcnow)


class ReconciliationLine(SQLModel, table=True):
    """One order whose audited commission differs from what we expected (domain/finance/reconciliation.py)."""

    __tablename__ = "reconciliation_line"
    __table_args__ = (UniqueConstraint("batch_id", "order_id", name="uq_reconciliation_batch_order"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(index=True)
    carrier: str
    month: str
    order_id: str
    agent_id: str = ""  # empty for an order we do not know
    cause: str = Field(index=True)
    expected_fen: int
    audited_fen: int
    paid_fen: int
    difference_fen: int


class Invoice(SQLModel, table=True):
    """An invoice against a settled statement: requested by the agent, issued or refused by finance."""

    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, unique=True)  # given when issued
    statement_id: str = Field(index=True)
    # the statement's id while the invoice is requested or issued, else empty: one live invoice per statement
    live_statement_id: str | None = Field(default=None, unique=True)
    agent_id: str = Field(index=True)
    carrier: str
    month: str
    title: str  # the buyer's name on the invoice
    tax_number: str  # the buyer's taxpayer id
    amount_fen: int  # the statement's commission, tax included
    tax_rate_bp: int = 0
    tax_fen: int = 0
    state: str = Field(index=True)  # domain.finance.invoices.InvoiceState
    requested_by: str
    requested_at: datetime = Aware(nullable=False, default=utcnow)
    decided_by: str = ""
    decided_at: datetime | None = Aware(nullable=True)
    issued_on: date | None = None
    refused_reason: str = ""
    void_reason: str = ""
    replaces_id: int | None = None
    replaced_by_id: int | None = None
    email: str = ""  # where it was sent (the agent's address at the time)
    mailed_at: datetime | None = Aware(nullable=True)
    mail_status: str = ""  # "sent", "no e-mail address on file", or the last failure

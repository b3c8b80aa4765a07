"""Request and response models of finance: payout exceptions, reconciliation, month end, invoices."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import FromRow
from domain.finance.invoices import DEFAULT_TAX_RATE_BP, TAX_RATES_BP

TaxRate = Literal[1300, 900, 600, 300, 100, 0]  # domain.finance.invoices.TAX_RATES_BP

# ---- payout exceptions ------------------------------------------------------------------------------------


class ExceptionStepOut(FromRow):
    action: str
    actor: str
    detail: str
    at: datetime


class PayoutExceptionOut(BaseModel):
    id: str = Field(description="the payout id: the bank's idempotency key for every retry")
    batch_id: str
    statement_id: str
    agent_id: str
    carrier: str
    month: str
    amount_fen: int
    cause: str = Field(description="rejected (nothing was paid) or unavailable (the bank never answered)")
    reason: str
    detail: str
    state: str
    attempts: int
    new_account: str = Field(description="masked: the new bank details given with a retry, or empty")
    reference: str
    evidence: str
    resolved_by: str
    resolved_at: datetime | None
    created_at: datetime


class PayoutExceptionDetail(PayoutExceptionOut):
    steps: list[ExceptionStepOut]


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_account: str | None = Field(default=None, pattern=r"^\d{8,32}$",
                                    description="the agent's new bank account number; empty: the account on file")


class ManualPaymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$",
                           description="the bank transfer's reference (serial), as the bank's receipt shows it")
    evidence: str = Field(min_length=10, max_length=500,
                          description="what proves it: the receipt, who confirmed the transfer, when")


# ---- reconciliation and month end -----------------------------------------------------------------------------


class TotalsOut(BaseModel):
    lines_fen: int = Field(description="every commission line of the batch's statements")
    paid_fen: int
    held_fen: int
    exceptions_fen: int
    payable_fen: int
    balanced: bool = Field(description="lines = paid + held + exceptions + payable, to the fen")


class DifferenceOut(FromRow):
    order_id: str
    agent_id: str
    cause: str
    expected_fen: int
    audited_fen: int
    paid_fen: int
    difference_fen: int


class ReconciliationOut(BaseModel):
    batch_id: str
    carrier: str
    month: str
    paid_figure: str = Field(description="the carrier's policy: audited, expected or lower")
    expected_fen: int
    audited_fen: int
    by_cause: dict[str, int]
    differences: list[DifferenceOut]
    totals: TotalsOut


class MonthEndCarrier(BaseModel):
    carrier: str
    batch_id: str
    status: str
    orders_settled: int
    orders_failed: int
    commission_fen: int
    paid_fen: int
    held_fen: int
    exceptions_fen: int
    payable_fen: int
    open_exceptions: int
    differences: int
    balanced: bool


class MonthEndOut(BaseModel):
    month: str
    carriers: list[MonthEndCarrier]


# ---- invoices ---------------------------------------------------------------------------------------------


class InvoiceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=2, max_length=100, description="the buyer's name as the invoice shows it")
    tax_number: str = Field(pattern=r"^[0-9A-Z]{15,20}$", description="the buyer's taxpayer id (unified social "
                                                                      "credit code, 18 characters)")


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tax_rate_bp: TaxRate = Field(default=DEFAULT_TAX_RATE_BP,
                                 description=f"VAT in basis points (600 = 6 %), one of {TAX_RATES_BP}")


class RefuseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=5, max_length=500, description="told to the agent")


class ReissueRequest(IssueRequest):
    reason: str = Field(min_length=5, max_length=500, description="why the old invoice is voided")
    title: str | None = Field(default=None, min_length=2, max_length=100)
    tax_number: str | None = Field(default=None, pattern=r"^[0-9A-Z]{15,20}$")


class InvoiceOut(FromRow):
    id: int
    number: str | None
    statement_id: str
    agent_id: str
    carrier: str
    month: str
    title: str
    tax_number: str
    amount_fen: int = Field(description="the statement's commission, tax included")
    tax_rate_bp: int
    tax_fen: int
    state: str
    requested_by: str
    requested_at: datetime
    decided_by: str
    decided_at: datetime | None
    issued_on: date | None
    refused_reason: str
    void_reason: str
    replaces_id: int | None
    replaced_by_id: int | None
    mailed_at: datetime | None
    mail_status: str

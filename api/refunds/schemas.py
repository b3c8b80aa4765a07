"""Request and response models of the refund API (payments, refunds, ops actions, channels, error table)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasChoices, AnyHttpUrl, BaseModel, ConfigDict, Field

from api.schemas import ID_PATTERN, MAX_FEN, Instant
from domain.refunds import ErrorAction, RefundSource
from workflows.refunds.contract import RefundView


class _FromRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, description="the acquiring system's payment id (idempotency key)")
    merchant_id: str = Field(min_length=1, max_length=64)
    merchant_order_no: str = Field(min_length=1, max_length=64)
    channel: str = Field(pattern=ID_PATTERN, description="the payment channel: part of the URLs called there")
    product: str = Field(min_length=1, max_length=64, description="payment product, e.g. quick, wechat_mp")
    paid_fen: int = Field(gt=0, le=MAX_FEN)
    fee_fen: int = Field(ge=0, le=MAX_FEN)
    channel_cost_fen: int = Field(default=0, ge=0, le=MAX_FEN)
    consumer_card_masked: str = Field(default="", max_length=32, pattern=r"^[0-9*]*$",
                                      description="masked card number only, e.g. 6222****1234")
    consumer_wallet_id: str | None = Field(default=None, max_length=64)
    paid_at: Instant | None = None
    callback_url: AnyHttpUrl | None = Field(default=None, description="where an automatic (exception) refund is reported")


class PaymentOut(_FromRow):
    id: str
    merchant_id: str
    merchant_order_no: str
    channel: str
    product: str
    paid_fen: int
    fee_fen: int
    channel_cost_fen: int
    consumer_card_masked: str
    paid_at: datetime
    exception: str | None
    committed_fen: int
    succeeded_fen: int
    fee_committed_fen: int
    remaining_fen: int = 0
    remaining_fee_fen: int = 0
    auto_refund_id: str | None = None


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchant_id: str = Field(min_length=1, max_length=64)
    merchant_refund_no: str = Field(min_length=1, max_length=64, description="the merchant's refund number: idempotency key")
    payment_id: str = Field(pattern=ID_PATTERN)
    amount_fen: int = Field(gt=0, le=MAX_FEN)
    reason: str = Field(min_length=1, max_length=300)
    callback_url: AnyHttpUrl | None = None
    source: RefundSource = Field(default=RefundSource.MERCHANT,
                                 description="merchant (with the merchant's API key), or ops / risk (a person: "
                                             "audited by a second person)")


class RefundOut(_FromRow):
    id: str
    merchant_id: str
    merchant_refund_no: str
    payment_id: str
    channel: str
    amount_fen: int
    fee_back_fen: int
    channel_cost_back_fen: int
    merchant_debit_fen: int
    reason: str
    requested_by: str
    source: str
    status: str
    route: str
    waiting_for: str
    failure_code: str | None
    failure_reason: str = Field(default="", validation_alias=AliasChoices("failure_message", "failure_reason"),
                                description="why it failed or waits for a human, in plain words")
    current_serial: str | None
    serials_used: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    notified_status: str | None


class SerialOut(_FromRow):
    serial: str
    seq: int
    route: str
    sends: int
    outcome: str
    channel_serial: str | None
    raw_code: str | None
    raw_message: str | None
    created_at: datetime
    updated_at: datetime


class RefundEventOut(_FromRow):
    at: datetime
    kind: str
    status: str
    actor: str
    reason: str
    statement_ref: str | None
    detail: str


class RefundDetailOut(RefundOut):
    audit_reasons: list[str]
    payment_remaining_fen: int
    serials: list[SerialOut]
    history: list[RefundEventOut]
    live: RefundView | None = Field(default=None, description="the workflow's live view; null when it cannot answer")
    live_error: str = ""


class BatchRefundIn(BaseModel):
    refunds: list[RefundIn] = Field(min_length=1, max_length=200)


class BatchItemOut(BaseModel):
    merchant_refund_no: str
    http_status: int
    refund: RefundOut | None = None
    reason: str = ""


class BatchRefundOut(BaseModel):
    accepted: int
    refused: int
    items: list[BatchItemOut]


class OpsActionIn(BaseModel):
    """Who acts is the signed-in caller, never a name in the body."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500)
    statement_ref: str | None = Field(default=None, max_length=128,
                                      description="channel statement reference; required to force or retry")


class OpsActionOut(BaseModel):
    refund_id: str
    action: str
    status: str


class ChannelOut(_FromRow):
    id: str
    name: str
    auto_audit: bool
    pre_debit: bool
    has_refund_api: bool
    auto_audit_limit_fen: int
    cost_mode: str
    cost_fixed_fen: int
    sweep_backoff_s: str
    updated_at: datetime


class ChannelSwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    reason: str = Field(min_length=3, max_length=500)


class ChannelSwitchOut(_FromRow):
    channel: str
    setting: str
    value: str
    actor: str
    reason: str
    at: datetime


class ErrorMappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1, max_length=64, description='a channel id, or "*" for every channel')
    raw_code: str = Field(min_length=1, max_length=64)
    internal_code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    merchant_message: str = Field(min_length=1, max_length=300)
    action: ErrorAction
    retry_after_s: int = Field(default=0, ge=0, le=7 * 24 * 3600)


class ErrorMappingOut(BaseModel):
    channel: str
    raw_code: str
    internal_code: str
    merchant_message: str
    action: ErrorAction
    retry_after_s: int
    source: str
    overridden: bool = False
    created_by: str | None = None
    created_at: datetime | None = None


class ReconLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    serial: str
    refund_id: str | None
    amount_fen: int
    statement_status: str
    our_outcome: str | None
    refund_status: str | None
    disagrees: bool
    statement_ref: str = ""  # what an override cites for this line


class ReconciliationOut(BaseModel):
    channel: str
    day: str
    lines: int
    loaded: bool  # stored as evidence (the POST), or only read (the GET)
    closed: bool | None  # loaded after its day had ended: a serial missing from it was not received that day
    statement_ref: str  # cites the whole day's statement (evidence of absence)
    disagreements: list[ReconLineOut]

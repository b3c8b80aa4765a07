"""Request and response models of orders, carrier events and settlement batches."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas import MAX_FEN, FromRow, Instant
from db.orders import BatchStatus, EventOutcome
from domain.agents.suspension_case import CaseFacts
from domain.orders.customer import Customer, RealName, Recipient
from domain.orders.delivery import ContactChannel, ContactOutcome, RescueResolution
from workflows.orders.contract import OrderView

# ---- orders -------------------------------------------------------------------------------------


class PlaceOrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=64)
    product_id: str = Field(min_length=1, max_length=64)
    msisdn: str = Field(
        pattern=r"^1\d{10}$",
        description="mainland mobile number: 11 digits starting with 1",
        examples=["13812345678"],
    )
    customer_name: str | None = Field(
        default=None, max_length=100, description="legacy, before `recipient`: not stored"
    )
    recipient: Recipient | None = Field(
        default=None, description="who the courier delivers to; sealed at rest, masked in answers. The carrier "
                                  "refuses an order without recipient and real-name data (incomplete_order_data)")
    real_name: RealName | None = Field(
        default=None, description="the holder the number is registered to (real-name registration): name and "
                                  "identity card number (GB 11643 check digit); sealed at rest, masked in answers")
    payment: OrderPaymentIn | None = Field(default=None, description="a paid product: what the customer paid")

    def customer(self) -> Customer | None:
        if self.recipient is None or self.real_name is None:
            return None
        return Customer(recipient=self.recipient, real_name=self.real_name)

    @model_validator(mode="after")
    def _both_or_neither(self):
        if (self.recipient is None) != (self.real_name is None):
            raise ValueError("recipient and real_name come together")
        return self


class OrderPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_fen: int = Field(gt=0, le=MAX_FEN, description="what the customer paid, in fen")
    channel: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="the payment channel (unionpay, wechat, ...)")
    voucher: str = Field(pattern=r"^[A-Za-z0-9_.:-]{4,64}$", description="the channel's payment voucher number")


class OrderOut(FromRow):
    id: str
    idempotency_key: str
    agent_id: str
    product_id: str
    carrier: str
    msisdn_masked: str
    placed_at: datetime
    status: str
    waiting_for: str
    until: datetime | None
    failure_reason: str | None
    failure_detail: str
    first_month: str | None
    settlement_month: str | None
    check_point: datetime | None
    commission_fen: int | None
    updated_at: datetime


class CustomerOut(BaseModel):
    recipient: Recipient
    real_name: RealName
    revealed: bool = Field(description="false: names, phone, street and identity number are masked")


class SubmissionOut(FromRow):
    carrier: str
    accepted: bool
    carrier_order_no: str
    reason: str | None
    detail: str
    at: datetime


class OrderPaymentOut(BaseModel):
    amount_fen: int
    channel: str
    voucher: str
    payment_id: str
    paid_at: datetime
    refund_id: str | None = Field(description="the refund the order asked for when it ended unfulfilled")
    refund_reason: str
    refund_status: str | None = Field(description="the refund's status in the refund engine, read now")
    refunded_fen: int


class OrderDetail(OrderOut):
    live: OrderView | None = Field(
        default=None, description="the workflow's live five-condition checklist; null when Temporal is unreachable"
    )
    live_error: str = ""
    suspension_cases: list[CaseFacts] = Field(
        default=[], description="the number's suspension cases (suspension rules 1.7), with their recovery window")
    customer: CustomerOut | None = Field(default=None, description="recipient and real-name holder, masked unless "
                                                                   "?reveal=true (customer_data.read, audited)")
    submission: SubmissionOut | None = Field(default=None, description="the carrier's answer to the order")
    payment: OrderPaymentOut | None = Field(default=None, description="a paid order's payment and its refund")


# ---- number stock -------------------------------------------------------------------------------


class StockNumberOut(FromRow):
    msisdn: str
    product_id: str
    carrier: str
    state: str = Field(description="as recorded; a lapsed reservation or ended quarantine is listed as available")
    state_since: datetime


class StockImportOut(BaseModel):
    import_id: str
    numbers: int
    by_product: dict[str, int]


class StockAlertOut(FromRow):
    id: int
    product_id: str
    available: int
    low_level: int
    message: str
    at: datetime


# ---- carrier events -----------------------------------------------------------------------------


class EventResultOut(BaseModel):
    line: int
    event_id: str | None
    outcome: EventOutcome
    error: str = ""


class SingleEventOut(BaseModel):
    event_id: str | None
    order_id: str | None
    outcome: EventOutcome
    error: str = ""


class BatchEventsOut(BaseModel):
    accepted: int
    duplicate: int
    unknown_order: int
    rejected: int
    order_closed: int
    results: list[EventResultOut]


class CarrierEventOut(FromRow):
    id: int
    source: str
    event_id: str
    order_id: str | None
    kind: str | None
    raw: str = Field(description="the pushed text as received, phone numbers masked")
    outcome: EventOutcome
    error: str
    received_at: datetime
    signalled_at: datetime | None


# ---- settlement ---------------------------------------------------------------------------------


class BatchOut(FromRow):
    id: str
    carrier: str
    month: str
    status: BatchStatus
    pages_applied: int
    orders_settled: int
    orders_failed: int
    commission_fen: int
    paid_fen: int
    held_fen: int
    exceptions: int = 0  # payouts refused or unanswered: GET /payout-exceptions?batch... (finance)
    exceptions_fen: int = 0
    started_at: datetime
    closed_at: datetime | None


class StatementOut(FromRow):
    id: str
    batch_id: str
    agent_id: str
    carrier: str
    month: str
    orders_settled: int
    orders_failed: int
    amount_fen: int
    held_fen: int
    paid_fen: int
    payout_ref: str | None
    created_at: datetime


class BatchDetail(BatchOut):
    statements: list[StatementOut]


# ---- delivery: the tracking table, KPIs, stale orders, rescue tasks -------------------------------------------


class StaleOrderOut(FromRow):
    id: str
    agent_id: str
    carrier: str
    product_id: str
    msisdn_masked: str
    status: str
    placed_at: datetime
    carrier_accepted_at: datetime | None
    shipped_at: datetime | None
    stale_reason: str
    stale_since: datetime


class ContactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: Instant = Field(description="when the attempt was made (with its offset)")
    channel: ContactChannel
    outcome: ContactOutcome
    note: str = Field(default="", max_length=1000, description="what was said or agreed; sealed at rest")


class CloseRescueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: RescueResolution
    note: str = Field(default="", max_length=1000)


class ContactOut(BaseModel):
    id: int
    at: datetime
    channel: str
    outcome: str
    note: str = Field(description="masked unless revealed (customer_data.read)")
    by: str


class RescueTaskOut(BaseModel):
    id: int
    order_id: str
    agent_id: str
    msisdn_masked: str
    kind: str
    exception_event_id: str
    opened_at: datetime
    give_up_at: datetime | None = Field(description="no resolution by then: the delivery fails")
    reminders_sent: int
    last_reminded_at: datetime | None
    open: bool
    resolved_at: datetime | None
    resolution: str
    closed_by: str
    close_note: str
    close_signalled: bool = Field(description="the order's process has heard of the agent's close")
    channels_tried: list[str]
    day_slots_tried: list[str] = Field(description="morning / afternoon / evening (Shanghai): the rules ask for several")
    contacts: list[ContactOut]

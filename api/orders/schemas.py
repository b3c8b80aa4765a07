"""Request and response models of orders, carrier events and settlement batches."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import FromRow
from db.orders import BatchStatus, EventOutcome
from domain.agents.suspension_case import CaseFacts
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
        default=None, max_length=100, description="for the courier; never stored in workflow payloads"
    )
    recipient_phone: str | None = Field(
        default=None, pattern=r"^1\d{10}$", examples=["13900001111"],
        description="the customer's contact phone: the tracking number and the arrival reminder are texted to it "
                    "(sealed at rest, never in workflow payloads)")


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


class OrderDetail(OrderOut):
    live: OrderView | None = Field(
        default=None, description="the workflow's live five-condition checklist; null when Temporal is unreachable"
    )
    live_error: str = ""
    suspension_cases: list[CaseFacts] = Field(
        default=[], description="the number's suspension cases (suspension rules 1.7), with their recovery window")


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

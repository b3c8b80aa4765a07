"""Orders and their settlement: products, orders, carrier events, rescue tasks, commission lines, batches, statements."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import Aware, Sealed, utcnow


class Product(SQLModel, table=True):
    id: str = Field(primary_key=True)
    carrier: str = Field(index=True)
    name: str
    activation_window_days: int
    recharge_window_days: int
    min_first_recharge_fen: int
    commission_fen: int
    parent_override_bp: int = 0


class Order(SQLModel, table=True):
    __tablename__ = "orders"

    id: str = Field(primary_key=True)
    idempotency_key: str = Field(unique=True)
    agent_id: str = Field(foreign_key="agent.id", index=True)
    product_id: str = Field(foreign_key="product.id")
    carrier: str = Field(index=True)
    msisdn_masked: str
    msisdn_fingerprint: str = Field(index=True)
    placed_at: datetime = Aware(nullable=False)
    status: str = Field(index=True)
    waiting_for: str = ""
    until: datetime | None = Aware(nullable=True)
    failure_reason: str | None = Field(default=None, index=True)
    failure_detail: str = ""
    first_month: str | None = None
    settlement_month: str | None = Field(default=None, index=True)
    check_point: datetime | None = Aware(nullable=True)
    commission_fen: int | None = None
    updated_at: datetime = Aware(nullable=False, default=utcnow)
    # set once its workflow is known to run; null after a crash between storing the order and starting it
    process_started_at: datetime | None = Aware(nullable=True, index=True)
    # Each link of the chain as the workflow last reported it (the agent's order-tracking table): carrier times.
    carrier_accepted_at: datetime | None = Aware(nullable=True)
    tracking_no: str | None = None
    shipped_at: datetime | None = Aware(nullable=True)
    signed_at: datetime | None = Aware(nullable=True)
    activated_at: datetime | None = Aware(nullable=True)
    recharged_at: datetime | None = Aware(nullable=True)
    in_network_at: datetime | None = Aware(nullable=True)  # the check point's answer: in network
    # No news within a delivery window (domain.orders.delivery.staleness): why and since when; null when not stale
    stale_reason: str | None = Field(default=None, index=True)
    stale_since: datetime | None = Aware(nullable=True)


class EventOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    UNKNOWN_ORDER = "unknown_order"
    REJECTED = "rejected"
    ORDER_CLOSED = "order_closed"  # the order's workflow had already ended when the event came


class CarrierEventRecord(SQLModel, table=True):
    """Every raw event a carrier or courier pushed, accepted or not: nothing is lost."""

    __table_args__ = (UniqueConstraint("source", "event_id", name="uq_event_source_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True)  # carrier name, or "logistics"
    event_id: str
    order_id: str | None = Field(default=None, index=True)
    kind: str | None = None
    raw: str = Sealed()  # carries the full number of a recharge: sealed at rest
    outcome: EventOutcome = Field(index=True)
    error: str = ""
    received_at: datetime = Aware(nullable=False, default=utcnow)
    # set once the event reached the order workflow; null after a crash between storing and signalling
    signalled_at: datetime | None = Aware(nullable=True)


class RescueTask(SQLModel, table=True):
    """A delivery exception the agent must act on; reminded until delivery, the agent's close, or final failure."""

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    agent_id: str = Field(index=True)
    exception_event_id: str = Field(unique=True)
    kind: str
    opened_at: datetime = Aware(nullable=False, default=utcnow)
    reminders_sent: int = 0
    last_reminded_at: datetime | None = Aware(nullable=True)
    last_reminder_key: str = ""  # the reminder counted last (a retried reminder counts once)
    resolved_at: datetime | None = Aware(nullable=True)
    resolution: str = ""  # signed / returned / closed (the order ended) / delivery_failed, or the agent's close
    msisdn_masked: str = ""
    give_up_at: datetime | None = Aware(nullable=True)  # no resolution by then: the delivery fails
    closed_by: str = ""  # who closed it through the API (empty: the parcel's news or the clock closed it)
    close_note: str = Sealed(default="")  # the agent's words: may name the customer
    # the agent's close reached the order workflow; null after a failure between the commit and the signal
    close_signalled_at: datetime | None = Aware(nullable=True)


class RescueContact(SQLModel, table=True):
    """One attempt to reach the customer on a rescue task (settlement rules 1.9: several channels and times)."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="rescuetask.id", index=True)
    at: datetime = Aware(nullable=False)
    channel: str
    outcome: str
    note: str = Sealed(default="")
    by: str
    recorded_at: datetime = Aware(nullable=False, default=utcnow)


class DeliverySms(SQLModel, table=True):
    """Every delivery SMS to a customer (tracking number, arrival tomorrow); the id is the gateway's idempotency key."""

    message_id: str = Field(primary_key=True)
    order_id: str = Field(index=True)
    kind: str
    to_masked: str
    text: str
    status: str  # sent / no_contact_number / refused
    sent_at: datetime = Aware(nullable=False, default=utcnow)


class LineStatus(StrEnum):
    PAYABLE = "payable"
    HELD = "held"  # the agent is suspended; released on reinstatement
    PAID = "paid"


class CommissionLineRecord(SQLModel, table=True):
    __tablename__ = "commission_line"
    __table_args__ = (UniqueConstraint("order_id", "role", name="uq_commission_order_role"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True)
    agent_id: str = Field(index=True)
    role: str
    carrier: str
    month: str = Field(index=True)
    amount_fen: int
    status: LineStatus = LineStatus.PAYABLE
    statement_id: str | None = Field(default=None, index=True)
    created_at: datetime = Aware(nullable=False, default=utcnow)


class AuditRow(SQLModel, table=True):
    """One order's result in a carrier's monthly audit, as the carrier sent it."""

    __table_args__ = (UniqueConstraint("carrier", "month", "order_id", name="uq_audit_row"),)

    id: int | None = Field(default=None, primary_key=True)
    carrier: str
    month: str
    order_id: str = Field(index=True)
    approved: bool
    reason: str = ""
    commission_fen: int | None = None  # the carrier's audited figure (None: the row gave none)
    applied_at: datetime = Aware(nullable=False, default=utcnow)


class BatchStatus(StrEnum):
    COLLECTING = "collecting"
    CLOSED = "closed"


class SettlementBatch(SQLModel, table=True):
    id: str = Field(primary_key=True)  # settlement-<carrier>-<yyyymm>
    carrier: str = Field(index=True)
    month: str = Field(index=True)
    status: BatchStatus = BatchStatus.COLLECTING
    pages_applied: int = 0
    orders_settled: int = 0
    orders_failed: int = 0
    commission_fen: int = 0
    paid_fen: int = 0
    held_fen: int = 0
    exceptions: int = 0  # payouts of this batch the bank refused or never answered (db/finance.py)
    exceptions_fen: int = 0
    started_at: datetime = Aware(nullable=False, default=utcnow)
    closed_at: datetime | None = Aware(nullable=True)


class AgentStatement(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("batch_id", "agent_id", name="uq_statement_batch_agent"),)

    id: str = Field(primary_key=True)  # <batch id>-<agent id>
    batch_id: str = Field(index=True)
    agent_id: str = Field(index=True)
    carrier: str
    month: str = Field(index=True)
    orders_settled: int = 0
    orders_failed: int = 0
    amount_fen: int = 0
    held_fen: int = 0
    paid_fen: int = 0
    payout_ref: str | None = None
    created_at: datetime = Aware(nullable=False, default=utcnow)

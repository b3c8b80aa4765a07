"""Refund records: channels, merchants' products, payments, refunds, every serial sent, ops actions, error table.

The payment row carries the running totals a refund reserves against (committed = succeeded + in flight),
so the remaining-amount check is one locked row per payment, on SQLite and PostgreSQL alike.
"""

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import Aware, utcnow
from domain.refunds import DEFAULT_SWEEP_BACKOFF_S


class RefundChannel(SQLModel, table=True):
    __tablename__ = "refund_channel"

    id: str = Field(primary_key=True)  # e.g. "unionpay"
    name: str
    auto_audit: bool = True
    pre_debit: bool = False
    has_refund_api: bool = True
    auto_audit_limit_fen: int = 5_000_000
    cost_mode: str = "proportional"  # the channel's own cost rule: does it give its cost back, how
    cost_fixed_fen: int = 0
    sweep_backoff_s: str = ",".join(map(str, DEFAULT_SWEEP_BACKOFF_S))  # the sweep's query-back backoff
    reversal_watch_s: int = 86_400  # how long after a success this channel may still reverse it
    updated_at: datetime = Aware(nullable=False, default=utcnow)


class Merchant(SQLModel, table=True):
    __tablename__ = "merchant"

    id: str = Field(primary_key=True)
    name: str
    notify_secret: str  # HMAC key of the callbacks we send it


class MerchantProduct(SQLModel, table=True):
    """The merchant's fee setting per payment product: fee back or not, and how."""

    __tablename__ = "merchant_product"

    merchant_id: str = Field(foreign_key="merchant.id", primary_key=True)
    product: str = Field(primary_key=True)
    fee_mode: str = "proportional"
    fixed_fee_fen: int = 0


class Payment(SQLModel, table=True):
    __tablename__ = "payment"

    id: str = Field(primary_key=True)
    merchant_id: str = Field(foreign_key="merchant.id", index=True)
    merchant_order_no: str = Field(index=True)
    channel: str = Field(foreign_key="refund_channel.id", index=True)
    product: str
    paid_fen: int
    fee_fen: int
    channel_cost_fen: int = 0
    consumer_card_masked: str = ""
    consumer_wallet_id: str | None = None
    paid_at: datetime = Aware(nullable=False)
    exception: str | None = None  # duplicate_payment / below_fee: refunded automatically
    committed_fen: int = 0  # refunds succeeded or in flight
    succeeded_fen: int = 0
    fee_committed_fen: int = 0
    cost_committed_fen: int = 0


class Refund(SQLModel, table=True):
    __tablename__ = "refund"
    __table_args__ = (UniqueConstraint("merchant_id", "merchant_refund_no", name="uq_refund_merchant_no"),)

    id: str = Field(primary_key=True)
    merchant_id: str = Field(index=True)
    merchant_refund_no: str
    payment_id: str = Field(foreign_key="payment.id", index=True)
    channel: str = Field(index=True)
    amount_fen: int
    fee_back_fen: int
    channel_cost_back_fen: int
    merchant_debit_fen: int
    reason: str
    callback_url: str | None = None
    requested_by: str
    source: str = Field(index=True)
    status: str = Field(index=True)
    audit_reasons: str = ""
    route: str = "channel"
    current_serial: str | None = None
    serials_used: int = 0
    failure_code: str | None = Field(default=None, index=True)
    failure_message: str = ""  # in plain words, for the merchant
    waiting_for: str = ""
    next_check_at: datetime | None = Aware(nullable=True, index=True)  # the sweep's next query-back
    checks_done: int = 0
    created_at: datetime = Aware(nullable=False, default=utcnow, index=True)
    updated_at: datetime = Aware(nullable=False, default=utcnow)
    finished_at: datetime | None = Aware(nullable=True)
    notified_status: str | None = None  # the last status the merchant acknowledged
    # set once its workflow is known to run; null after a crash between storing the refund and starting it
    process_started_at: datetime | None = Aware(nullable=True, index=True)


class RefundSerial(SQLModel, table=True):
    """Every serial ever sent for a refund (channel refund, payout or wallet credit) with its outcome."""

    __tablename__ = "refund_serial"

    serial: str = Field(primary_key=True)
    refund_id: str = Field(foreign_key="refund.id", index=True)
    seq: int
    route: str
    sends: int = 0  # requests sent with this serial (a resend after "not accepted" is the same serial)
    outcome: str = "sending"
    channel_serial: str | None = None
    raw_code: str | None = None
    raw_message: str | None = None
    created_at: datetime = Aware(nullable=False, default=utcnow)
    updated_at: datetime = Aware(nullable=False, default=utcnow)


class RefundEvent(SQLModel, table=True):
    """The refund's history: each status change, audit decision and ops action, with who, why and evidence."""

    __tablename__ = "refund_event"

    id: int | None = Field(default=None, primary_key=True)
    refund_id: str = Field(foreign_key="refund.id", index=True)
    at: datetime = Aware(nullable=False, default=utcnow)
    kind: str
    status: str
    actor: str = "system"
    reason: str = ""
    statement_ref: str | None = None
    detail: str = ""
    key: str | None = Field(default=None, unique=True)  # idempotency of retried activities


class ChannelErrorMapping(SQLModel, table=True):
    """Ops-maintained translations of channel codes; they override the built-in table without a deploy."""

    __tablename__ = "channel_error_mapping"
    __table_args__ = (UniqueConstraint("channel", "raw_code", name="uq_error_mapping_channel_code"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str  # a channel id or "*"
    raw_code: str
    internal_code: str
    merchant_message: str
    action: str
    retry_after_s: int = 0
    created_by: str
    created_at: datetime = Aware(nullable=False, default=utcnow)


class WalletCredit(SQLModel, table=True):
    """A refund credited to the consumer's wallet balance (fallback route); one per serial."""

    __tablename__ = "wallet_credit"

    serial: str = Field(primary_key=True)
    refund_id: str = Field(index=True)
    wallet_id: str = Field(index=True)
    amount_fen: int
    at: datetime = Aware(nullable=False, default=utcnow)


class ChannelSwitch(SQLModel, table=True):
    """Every change of a channel's refund settings (e.g. automatic audit off in an emergency), who and why."""

    __tablename__ = "channel_switch"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(foreign_key="refund_channel.id", index=True)
    setting: str
    value: str
    actor: str
    reason: str
    at: datetime = Aware(nullable=False, default=utcnow)


class ChannelStatement(SQLModel, table=True):
    """A channel's daily statement as we loaded it: the evidence ops overrides cite (`<channel>/<yyyymmdd>`)."""

    __tablename__ = "channel_statement"

    channel: str = Field(primary_key=True)
    day: str = Field(primary_key=True)  # yyyymmdd, Shanghai
    closed: bool  # its day had ended when it was loaded: a missing line then means "not booked that day"
    lines: int = 0
    loaded_by: str
    loaded_at: datetime = Aware(nullable=False, default=utcnow)


class ChannelStatementLine(SQLModel, table=True):
    """One line of a loaded statement (`<channel>/<yyyymmdd>/<serial>`)."""

    __tablename__ = "channel_statement_line"

    channel: str = Field(primary_key=True)
    day: str = Field(primary_key=True)
    serial: str = Field(primary_key=True, index=True)
    refund_id: str | None = None
    amount_fen: int
    status: str

"""Account cancellations' records. The workflow `cancellation-<id>` owns the process; these rows are what
clerks list, filter, report and audit. Enumerations are stored as plain strings (the domain enums validate
them).

One open cancellation per number: `open_number_key` holds the number's fingerprint while the case is open
and is emptied (NULL) when it ends; a unique constraint on it refuses a second open case for the same number
in the database itself, so neither the workflow id nor a search attribute needs the number.
"""

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import Aware, Sealed, utcnow


class Cancellation(SQLModel, table=True):
    id: str = Field(primary_key=True)
    idempotency_key: str = Field(unique=True)
    # The one column with the full number (the carrier and the SMS gateway need it); it never enters a
    # workflow payload, a search attribute or a log line.
    msisdn: str = Sealed()  # the one column with the full number: sealed at rest (core/crypto.py)
    msisdn_masked: str
    msisdn_fingerprint: str = Field(index=True)
    open_number_key: str | None = Field(default=None, unique=True)
    carrier: str = Field(index=True)
    channel: str
    requested_by: str
    requested_at: datetime = Aware(nullable=False, index=True)
    month: str = Field(index=True)  # yyyymm (Shanghai) of the request: the monthly report's key
    state: str = Field(index=True)
    summary: str = ""
    from_own_stock: bool = False
    stock_order_id: str | None = None
    prechecks: int = 0
    ineligible_again: bool = False
    open_items: int = 0
    documents_reviewed_by: str = ""
    documents_reviewed_at: datetime | None = Aware(nullable=True)
    appointment_at: datetime | None = Aware(nullable=True)
    appointment_hall: str = ""
    reminder_at: datetime | None = Aware(nullable=True)
    reminder_sent_at: datetime | None = Aware(nullable=True)
    confirmed_at: datetime | None = Aware(nullable=True)
    cooling_off_until: datetime | None = Aware(nullable=True, index=True)
    withdrawn_at: datetime | None = Aware(nullable=True)
    cancelled_at: datetime | None = Aware(nullable=True)
    carrier_reference: str = ""
    failure_reason: str = ""
    follow_up_due: datetime | None = Aware(nullable=True)
    follow_up_outcome: str | None = None
    closed: bool = False
    updated_at: datetime = Aware(nullable=False, default=utcnow)


class CancellationProgress(SQLModel, table=True):
    """Every step of a cancellation, like a parcel's trail: step, time, who, what."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # "<cancellation>:<seq>": a retried recording activity writes each step once
    cancellation_id: str = Field(foreign_key="cancellation.id", index=True)
    seq: int
    step: str = Field(index=True)
    at: datetime = Aware(nullable=False)
    by: str
    what: str = ""


class CancellationObstacle(SQLModel, table=True):
    """Each to-do item a pre-check found, and its clearing (the monthly report's days added per obstacle)."""

    __table_args__ = (UniqueConstraint("cancellation_id", "item_id", name="uq_cancellation_obstacle_item"),)

    id: int | None = Field(default=None, primary_key=True)
    cancellation_id: str = Field(foreign_key="cancellation.id", index=True)
    item_id: str
    kind: str = Field(index=True)
    title: str
    reason: str = ""
    amount_fen: int | None = None
    explanation: str = ""
    found_at: datetime = Aware(nullable=False)
    cleared_at: datetime | None = Aware(nullable=True)
    cleared_by: str = ""
    cleared_via: str | None = None
    evidence: str = ""
    reference: str = ""


class FollowUpCall(SQLModel, table=True):
    """The follow-up call task 48 hours after a cancellation, for a clerk (account cancellation 1.6)."""

    cancellation_id: str = Field(primary_key=True, foreign_key="cancellation.id")
    due_at: datetime = Aware(nullable=False, index=True)
    opened_at: datetime = Aware(nullable=False, default=utcnow)
    outcome: str | None = Field(default=None, index=True)
    note: str = ""
    done_by: str = ""
    done_at: datetime | None = Aware(nullable=True)


class CancellationSms(SQLModel, table=True):
    """Every reminder SMS we asked the gateway to send (the id doubles as the gateway's idempotency key)."""

    message_id: str = Field(primary_key=True)
    cancellation_id: str = Field(foreign_key="cancellation.id", index=True)
    to_masked: str
    text: str
    status: str
    sent_at: datetime = Aware(nullable=False, default=utcnow)


class NumberQuarantine(SQLModel, table=True):
    """A cancelled number of our own stock, resting before it may be sold again (account cancellation 1.8)."""

    cancellation_id: str = Field(primary_key=True, foreign_key="cancellation.id")
    msisdn_fingerprint: str = Field(index=True)
    msisdn_masked: str
    stock_order_id: str | None = None
    since: datetime = Aware(nullable=False)
    until: datetime = Aware(nullable=False, index=True)

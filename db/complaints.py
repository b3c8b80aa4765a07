"""The complaint desk's records. The workflow `complaint-<id>` owns the process; these rows are what ops
list, filter, export and audit. Enumerations are stored as plain strings (the domain enums validate them),
so adding a department or a source needs no database migration.
"""

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import Aware, Sealed, SealedDocument, utcnow


class Complaint(SQLModel, table=True):
    id: str = Field(primary_key=True)
    idempotency_key: str = Field(unique=True)
    # The full number is needed to text and credit the customer: sealed at rest (core/crypto.py), looked up by its
    # keyed fingerprint; never in a search attribute or a log line (those use the masked form).
    msisdn: str = Sealed()
    msisdn_masked: str
    msisdn_fingerprint: str = Field(index=True)
    source: str
    customer: str
    ctype: str = Field(index=True)
    multi_department: bool = False
    # complaint procedure 6.1: ministry, group fax, administration, consumer association, letters ... (archive + written reply)
    special_channel: bool = Field(default=False, index=True)
    text: str = Sealed(default="")  # the customer's own words
    receiving_department: str = Field(index=True)
    handling_department: str = Field(index=True)
    received_at: datetime = Aware(nullable=False, index=True)
    level: str = Field(index=True)
    level_reasons: str = ""
    repeat_of: str | None = None
    due_at: datetime = Aware(nullable=False, index=True)
    due_limit: str = ""
    due_explanation: str = ""
    calendar_version: str | None = None
    calendar_fallback: bool = False
    state: str = Field(index=True)  # stage, or "overdue" while an overdue ticket is in handling
    overdue: bool = False
    escalations: int = 0
    supervision_notices: int = 0
    cycle: int = 1
    replied_at: datetime | None = Aware(nullable=True)
    on_time: bool | None = None
    acceptance: str | None = None
    outcome: str | None = None
    closed_at: datetime | None = Aware(nullable=True)
    updated_at: datetime = Aware(nullable=False, default=utcnow)


class ComplaintEvent(SQLModel, table=True):
    """Every step of a ticket, in order: the audit trail ops read (and the KPIs count)."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # "<complaint>:<seq>" from the workflow, or "<complaint>:api:<uuid>"
    complaint_id: str = Field(foreign_key="complaint.id", index=True)
    at: datetime = Aware(nullable=False, index=True)
    kind: str = Field(index=True)
    department: str | None = Field(default=None, index=True)
    actor: str = ""
    detail: str = Sealed(default="")  # findings, replies, reasons: free text a handler typed


class ComplaintNotice(SQLModel, table=True):
    """A department's inbox: handler warnings, supervision notices (copied to market), crisis reports.

    The addressee (`to_department`) acknowledges; the copy (`cc_department`) and the receiving department (first
    responsible, complaint procedure 4.2.2.1) are told too. Until acknowledged, the notice is delivered again each
    day (`deliveries`, `last_delivered_at`)."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    complaint_id: str = Field(foreign_key="complaint.id", index=True)
    kind: str = Field(index=True)
    to_department: str = Field(index=True)
    cc_department: str | None = Field(default=None, index=True)
    receiving_department: str | None = Field(default=None, index=True)
    at: datetime = Aware(nullable=False, index=True)
    text: str = ""
    deliveries: int = 0
    last_delivered_at: datetime | None = Aware(nullable=True)
    delivery: str = ""  # how the last delivery went, per recipient ("billing: webhook 200; market: inbox only")
    acknowledged_at: datetime | None = Aware(nullable=True, index=True)
    acknowledged_by: str | None = None


class SmsMessage(SQLModel, table=True):
    """Every SMS we asked the gateway to send (the id doubles as the gateway's idempotency key)."""

    message_id: str = Field(primary_key=True)
    complaint_id: str | None = Field(default=None, index=True)
    fee_return_id: str | None = Field(default=None, index=True)
    kind: str
    to_masked: str
    text: str
    status: str
    sent_at: datetime = Aware(nullable=False, default=utcnow)


class InboundSms(SQLModel, table=True):
    """Answers customers send, as the gateway delivered them; a repeat delivery is recognised by its id."""

    message_id: str = Field(primary_key=True)
    msisdn_fingerprint: str = Field(index=True)
    text: str = Sealed()
    received_at: datetime = Aware(nullable=False)
    complaint_id: str | None = None
    outcome: str = ""


class CalendarSchedule(SQLModel, table=True):
    """An official working-day schedule ops loaded for one year; the highest revision is in force."""

    __table_args__ = (UniqueConstraint("year", "revision"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    revision: int
    holidays: str  # JSON list of ISO dates
    workdays: str  # JSON list of ISO dates (make-up working weekend days)
    loaded_by: str
    note: str = ""
    loaded_at: datetime = Aware(nullable=False, default=utcnow)


class FeeReturn(SQLModel, table=True):
    """A fee return to the customer's phone account, from a complaint (complaint procedure 5.0)."""

    id: str = Field(primary_key=True)
    idempotency_key: str = Field(unique=True)
    complaint_id: str = Field(foreign_key="complaint.id", index=True)
    msisdn_fingerprint: str = Field(index=True)
    category: str = Field(index=True)
    charge_month: str = Field(index=True)  # yyyymm of the disputed charge
    decision: str  # double / single / none / top_up
    wrong_fen: int  # the wrongly charged amount the decision multiplies
    amount_fen: int
    tier: int
    needs_audit: bool
    status: str = Field(index=True)
    sp_verification: str | None = None  # pending / confirmed / customer_use (value-added services)
    top_up_of: str | None = Field(default=None, index=True)
    offer_cancel_subscription: bool = False
    reason: str = ""
    operator_id: str
    approver_id: str | None = None
    auditor_id: str | None = None
    refusal: str = ""
    billing_reference: str | None = None
    credit_attempts: int = 0
    credit_failure: str = ""  # the billing system's last refusal, kept after a retry or cancellation
    resolved_by: str | None = None  # the operator who retried or cancelled a refused credit
    resolved_at: datetime | None = Aware(nullable=True)
    requested_at: datetime = Aware(nullable=False, default=utcnow)
    approved_at: datetime | None = Aware(nullable=True)
    audited_at: datetime | None = Aware(nullable=True)
    credited_at: datetime | None = Aware(nullable=True)
    updated_at: datetime = Aware(nullable=False, default=utcnow)


class ComplaintDocument(SQLModel, table=True):
    """The special-channel archive (complaint procedure 6.2.1): the letter, the fax, the scanned form, the final reply."""

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: str = Field(foreign_key="complaint.id", index=True)
    name: str
    media_type: str
    size: int
    sha256: str  # of the clear content
    content: bytes = SealedDocument()
    note: str = ""
    uploaded_by: str
    uploaded_at: datetime = Aware(nullable=False, default=utcnow)


class WrittenReply(SQLModel, table=True):
    """A special-channel complaint's written reply (complaint procedure 6.2.2.2): the whole process, the background,
    the measures and the customer's acceptance. A later one supersedes (all are kept)."""

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: str = Field(foreign_key="complaint.id", index=True)
    department: str
    process: str
    background: str
    measures: str
    customer_acceptance: str
    written_by: str
    at: datetime = Aware(nullable=False, default=utcnow, index=True)


class FeeReturnCharge(SQLModel, table=True):
    """One charge (a number's charge month) is returned once, whatever category a request names: the key is the
    lock, so two requests racing for the same charge cannot both pass (complaint procedure 5.1)."""

    __tablename__ = "fee_return_charge"

    msisdn_fingerprint: str = Field(primary_key=True)
    charge_month: str = Field(primary_key=True)
    fee_return_id: str = Field(foreign_key="feereturn.id")

"""Request and response models of the complaint desk's HTTP API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import MONTH_PATTERN, Instant
from domain.complaints.complaint import ComplaintType, Customer, Department, Source
from domain.complaints.fee_return import Category
from workflows.complaints.contract import ComplaintView

MSISDN = Field(pattern=r"^1\d{10}$", description="mainland mobile number: 11 digits starting with 1",
               examples=["13812345678"])


class RegisterComplaint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    msisdn: str = MSISDN
    customer: Customer = Field(description="vip (全球通VIP / important group customer), premium (全球通), standard")
    source: Source
    ctype: ComplaintType
    receiving_department: Department
    text: str = Field(default="", max_length=5000)
    multi_department: bool = Field(default=False, description="needs several departments or regions")
    received_at: Instant | None = Field(default=None, description="when the customer complained; default now")
    special_channel: bool = Field(default=False, description="a special channel the source does not say (complaint "
                                  "procedure 6.1: company leaders, assistance forms, supervision lines, group fax); the "
                                  "sources ministry/group/administration forwarded, consumer association, group "
                                  "website and letter are special channels anyway")


class ComplaintOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    msisdn_masked: str
    source: str
    customer: str
    ctype: str
    receiving_department: str
    handling_department: str
    received_at: datetime
    level: str
    level_reasons: list[str]
    repeat_of: str | None
    due_at: datetime
    due_limit: str
    due_explanation: str
    calendar_version: str | None
    calendar_fallback: bool
    special_channel: bool
    state: str
    overdue: bool
    escalations: int
    supervision_notices: int
    cycle: int
    replied_at: datetime | None
    on_time: bool | None
    acceptance: str | None
    outcome: str | None
    closed_at: datetime | None

    @classmethod
    def of(cls, row) -> ComplaintOut:
        data = {k: getattr(row, k) for k in cls.model_fields if k != "level_reasons"}
        return cls(**data, level_reasons=[r for r in row.level_reasons.split("\n") if r])


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    department: str | None
    actor: str
    detail: str


class ComplaintDetail(ComplaintOut):
    msisdn: str | None = Field(default=None, description="the full number, only with ?reveal=true")
    text: str = Field(default="", description="the customer's words (numbers masked unless revealed)")
    events: list[EventOut]
    live: ComplaintView | None = None
    live_error: str = ""


class Refusal(BaseModel):
    type: str
    reason: str


class AcceptBody(BaseModel):
    """Who acts is the signed-in caller; a department's handler acts only for its own department."""

    model_config = ConfigDict(extra="forbid")
    department: Department


class TransferBody(AcceptBody):
    to: Department
    note: str = Field(default="", max_length=2000)


class FindingsBody(AcceptBody):
    text: str = Field(min_length=1, max_length=5000)


class ReplyBody(AcceptBody):
    findings: str = Field(default="", max_length=5000)
    handling: str = Field(max_length=5000)
    reply_to_customer: str = Field(max_length=5000)


class AcceptanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accepted: bool
    note: str = Field(default="", max_length=2000)


class EscalateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class LevelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)
    customer: Customer | None = None
    ctype: ComplaintType | None = None
    repeat_of: str | None = Field(default=None, max_length=32)


class InboundSmsBody(BaseModel):
    """As the SMS gateway pushes a customer's message (signed)."""

    message_id: str = Field(min_length=1, max_length=128)
    sender: str = Field(pattern=r"^1\d{10}$", alias="from")
    text: str = Field(max_length=1000)
    received_at: Instant


class InboundSmsOut(BaseModel):
    message_id: str
    outcome: str
    complaint_id: str | None
    duplicate: bool


class ScheduleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    holidays: list[date] = Field(description="every holiday date of the year (weekends inside a holiday may be listed)")
    workdays: list[date] = Field(default=[], description="make-up working Saturdays and Sundays")
    note: str = Field(default="", max_length=500)


class ScheduleOut(BaseModel):
    year: int
    coverage: str  # loaded / package / estimate
    version: str
    official: bool
    holidays: list[date]
    workdays: list[date]


class ScheduleLoadedOut(BaseModel):
    year: int
    revision: int
    version: str
    signalled: list[str]
    not_signalled: list[str]


class FeeReturnBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    msisdn: str = MSISDN
    category: Category
    charge_month: str = Field(pattern=MONTH_PATTERN, description="yyyymm of the disputed charge")
    charged_fen: int = Field(gt=0, le=100_000_000)
    promised_fen: int | None = Field(default=None, ge=0, le=100_000_000)
    call_seconds: int | None = Field(default=None, ge=0)
    monthly_subscription: bool = False
    reason: str = Field(default="", max_length=2000)


class FeeReturnOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    complaint_id: str
    category: str
    charge_month: str
    decision: str
    wrong_fen: int
    amount_fen: int
    tier: int
    needs_audit: bool
    status: str
    sp_verification: str | None
    top_up_of: str | None
    offer_cancel_subscription: bool
    reason: str
    operator_id: str
    approver_id: str | None
    auditor_id: str | None
    refusal: str
    billing_reference: str | None
    credit_attempts: int
    credit_failure: str
    resolved_by: str | None
    resolved_at: datetime | None
    requested_at: datetime
    credited_at: datetime | None


class RejectBody(BaseModel):
    """The approver is the signed-in caller; the tier it may approve follows its role."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class AuditBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ok: bool
    note: str = Field(default="", max_length=2000)


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirmed: bool = Field(description="true: the SP/our fault is confirmed (top-up to double); false: normal use")


class VerifyOut(BaseModel):
    original: FeeReturnOut
    top_up: FeeReturnOut | None


class NoticeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    complaint_id: str
    kind: str
    to_department: str
    cc_department: str | None
    receiving_department: str | None
    at: datetime
    text: str
    deliveries: int
    last_delivered_at: datetime | None
    delivery: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500)


class CreditResolutionBody(BaseModel):
    """A credit the billing system refused: try again (same credit id: never booked twice) or give up, saying why."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class WrittenReplyBody(BaseModel):
    """The written reply of a special-channel complaint: the four elements of complaint procedure 6.2.2.2."""

    model_config = ConfigDict(extra="forbid")
    department: Department
    process: str = Field(min_length=1, max_length=10_000, description="the whole handling process")
    background: str = Field(min_length=1, max_length=10_000, description="the background of the case")
    measures: str = Field(min_length=1, max_length=10_000, description="the measures taken")
    customer_acceptance: str = Field(min_length=1, max_length=5_000, description="whether and how the customer accepted")


class WrittenReplyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    complaint_id: str
    department: str
    process: str
    background: str
    measures: str
    customer_acceptance: str
    written_by: str
    at: datetime


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    complaint_id: str
    name: str
    media_type: str
    size: int
    sha256: str
    note: str
    uploaded_by: str
    uploaded_at: datetime


class SpecialChannelRow(BaseModel):
    """The monthly special-channel report (complaint procedure 6.2.1, 6.3), per receiving department."""

    month: str
    department: str
    received: int
    written_replies: int
    without_written_reply: list[str]
    documents: int
    closed: int
    satisfied: int
    dissatisfied_answers: int
    satisfaction_rate: float | None
    by_source: dict[str, int]

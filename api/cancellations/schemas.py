"""Request and response models of the account-cancellation API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import Instant
from domain.cancellations import ClearVia, FollowUpOutcome
from domain.orders.carriers import Carrier

MSISDN = Field(pattern=r"^1\d{10}$", description="mainland mobile number: 11 digits starting with 1",
               examples=["13812345678"])


class StartCancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    msisdn: str = MSISDN
    carrier: Carrier
    documents_checked: bool = Field(default=False, description="a clerk at the counter has seen the originals")
    appointment_at: Instant | None = Field(default=None, description="a service-hall appointment, if any")
    appointment_hall: str = Field(default="", max_length=200)


class ClearBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1, max_length=200, examples=["value_added:V1"])
    via: ClearVia = Field(description="carrier: the carrier does it now; evidence: a clerk saw it done")
    evidence: str = Field(default="", max_length=2000, description="receipt number, device serial... (evidence)")


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class AppointmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: Instant
    hall: str = Field(min_length=1, max_length=200)


class WithdrawBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


class FollowUpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: FollowUpOutcome
    note: str = Field(default="", max_length=2000)


class CancellationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    msisdn_masked: str
    carrier: str
    channel: str
    requested_by: str
    requested_at: datetime
    state: str
    summary: str
    from_own_stock: bool
    prechecks: int
    ineligible_again: bool
    open_items: int
    documents_reviewed_by: str
    documents_reviewed_at: datetime | None
    appointment_at: datetime | None
    appointment_hall: str
    reminder_at: datetime | None
    reminder_sent_at: datetime | None
    confirmed_at: datetime | None
    cooling_off_until: datetime | None
    withdrawn_at: datetime | None
    cancelled_at: datetime | None
    carrier_reference: str
    failure_reason: str
    follow_up_due: datetime | None
    follow_up_outcome: str | None
    closed: bool


class TodoItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: str
    kind: str
    title: str
    reason: str
    amount_fen: int | None
    explanation: str
    found_at: datetime
    cleared_at: datetime | None
    cleared_by: str
    cleared_via: str | None
    evidence: str
    reference: str


class StepOut(BaseModel):
    """One step of the trail, like a parcel's: what, when, who."""

    model_config = ConfigDict(from_attributes=True)

    seq: int
    step: str
    at: datetime
    by: str
    what: str


class CancellationDetail(CancellationOut):
    todo: list[TodoItemOut] = Field(description="the obstacles still open, each with how to clear it")
    obstacles: list[TodoItemOut] = Field(description="every obstacle any pre-check found, cleared or not")
    waiting_for: list[str] = []
    live_error: str = ""


class FollowUpOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cancellation_id: str
    due_at: datetime
    opened_at: datetime
    outcome: str | None
    note: str
    done_by: str
    done_at: datetime | None

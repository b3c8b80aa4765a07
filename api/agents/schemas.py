"""Request and response models of agent accounts, appeals, the inbox, maintenance windows and suspension cases."""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from api.schemas import MAX_FEN, FromRow, Instant
from db.agents import AgentStatus, AppealState
from domain.agents.account import AppealOutcome, SuspensionCategory, ViolationKind
from domain.agents.suspension_case import RECOVERY_STEPS, CaseFacts, RiskTrigger

# ---- agents -------------------------------------------------------------------------------------


class StatusChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class SuspendRequest(StatusChangeRequest):
    category: SuspensionCategory = Field(default=SuspensionCategory.OTHER,
                                         description="agent accounts 1: violation, arrears, maintenance, other")
    violation_kind: ViolationKind | None = Field(default=None, description="a violation names its kind")
    evidence: str = Field(default="", max_length=10_000, description="what the decision rests on")
    until: Instant | None = Field(default=None, description="a maintenance suspension's end: lifts itself")


class AppealRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statement: str = Field(min_length=1, max_length=10_000, validation_alias=AliasChoices("statement", "evidence"),
                           description="what the agent corrected, or why the suspension is wrong (`evidence` also read)")
    attachment_ids: list[str] = Field(default=[], max_length=5, description="files uploaded first at /attachments")


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: AppealOutcome
    reply: str = Field(min_length=1, max_length=10_000, description="the written answer the agent reads")


class ArrearsPaidRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_ref: str = Field(min_length=1, max_length=64, pattern=r"^[\w.:-]+$",
                             description="finance's reference of the payment: a repeat is recognised")
    amount_fen: int = Field(ge=1, le=MAX_FEN)


class StatusChangeOut(FromRow):
    id: int
    agent_id: str
    action: str
    reason: str
    actor: str
    at: datetime
    category: str = ""
    violation_kind: str = ""
    evidence: str = ""
    outcome: str = ""
    appeal_id: int | None = None


class AttachmentOut(FromRow):
    id: str
    appeal_id: int | None
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime


class AppealOut(FromRow):
    id: int
    agent_id: str
    statement: str
    filed_by: str
    filed_at: datetime
    remind_at: datetime
    due_at: datetime
    state: AppealState
    reminded_at: datetime | None
    escalated_at: datetime | None
    outcome: str
    reply: str
    answered_by: str
    answered_at: datetime | None
    attachments: list[AttachmentOut] = []


class AgentOut(FromRow):
    id: str
    name: str
    parent_id: str | None
    status: AgentStatus
    status_reason: str
    suspension_category: str = ""
    violation_kind: str = ""
    suspended_until: datetime | None = None


class AgentDetailOut(AgentOut):
    history: list[StatusChangeOut] = Field(description="the account's timeline, oldest first")
    appeals: list[AppealOut] = []
    payable_fen: int
    held_fen: int
    paid_fen: int


class StatusChangeResult(BaseModel):
    agent: AgentOut
    change: StatusChangeOut
    lines_changed: int = Field(description="commission lines held (suspend) or released (reinstate)")
    appeal: AppealOut | None = None


class NoticeOut(FromRow):
    id: int
    agent_id: str = Field(description="empty: a notice to every agent")
    kind: str
    text: str
    at: datetime
    read_at: datetime | None


# ---- maintenance windows ------------------------------------------------------------------------


class MaintenanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: Instant
    ends_at: Instant
    message: str = Field(min_length=1, max_length=2000)


class MaintenanceChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: Instant | None = None
    ends_at: Instant | None = None
    cancel: bool = False


class MaintenanceOut(FromRow):
    id: int
    starts_at: datetime
    ends_at: datetime
    message: str
    announced_by: str
    announced_at: datetime
    state: str


# ---- suspension cases ---------------------------------------------------------------------------


class SuspensionCaseOut(CaseFacts):
    overdue: bool = Field(default=False, description="its recovery window passed while it was open")
    restored_within_window: bool | None = None
    recovery_steps: list[str] = Field(default=list(RECOVERY_STEPS), description="suspension rules 1.5")


class TriggerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: RiskTrigger

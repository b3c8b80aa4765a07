"""Agent accounts and every change of their status, their appeals with attachments, the agents' inbox, the
platform's maintenance windows, and the number suspension cases agents walk customers through."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import Aware, UTCDateTime, utcnow


def _optional_time():
    """A nullable aware time that rows may leave out (None), also when copied through validation."""
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class AgentStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Agent(SQLModel, table=True):
    id: str = Field(primary_key=True)
    name: str
    parent_id: str | None = Field(default=None, foreign_key="agent.id")
    status: AgentStatus = AgentStatus.ACTIVE
    status_reason: str = ""
    # the current suspension's category and details (agent accounts 1); empty while active
    suspension_category: str = ""
    violation_kind: str = ""
    suspended_until: datetime | None = _optional_time()  # a maintenance suspension's end
    email: str = ""  # where finance sends the agent's invoices (docs/finance.md)


class AgentStatusChange(SQLModel, table=True):
    """The account's timeline: every suspension, appeal, reminder, escalation, answer and reinstatement, with who
    and why (agent accounts 3.3). `delivered_at` closes the window between this commit and the account workflow
    hearing of it."""

    id: int | None = Field(default=None, primary_key=True)
    agent_id: str = Field(foreign_key="agent.id", index=True)
    action: str
    reason: str
    actor: str
    at: datetime = Aware(nullable=False, default=utcnow)
    category: str = ""
    violation_kind: str = ""
    evidence: str = ""
    outcome: str = ""  # an appeal's answer: upheld / reinstated
    appeal_id: int | None = Field(default=None)
    key: str | None = Field(default=None, unique=True)  # written by a workflow step: once per key
    delivered_at: datetime | None = _optional_time()


class AppealState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"  # the suspension was lifted otherwise (arrears paid, maintenance over) first


class Appeal(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    agent_id: str = Field(foreign_key="agent.id", index=True)
    suspension_change_id: int = Field(foreign_key="agentstatuschange.id")
    statement: str
    filed_by: str
    filed_at: datetime = Aware(nullable=False, default=utcnow)
    remind_at: datetime = Aware(nullable=False)
    due_at: datetime = Aware(nullable=False)
    state: AppealState = AppealState.OPEN
    reminded_at: datetime | None = _optional_time()
    escalated_at: datetime | None = _optional_time()
    outcome: str = ""  # upheld / reinstated
    reply: str = ""
    answered_by: str = ""
    answered_at: datetime | None = _optional_time()


class AppealAttachment(SQLModel, table=True):
    """A stored file: named on disk by its id alone, so no uploaded name reaches a path."""

    id: str = Field(primary_key=True)
    agent_id: str = Field(foreign_key="agent.id", index=True)
    appeal_id: int | None = Field(default=None, foreign_key="appeal.id", index=True)
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime = Aware(nullable=False, default=utcnow)


class AgentNotice(SQLModel, table=True):
    """The agents' inbox. `agent_id` empty: a notice to every agent (a maintenance announcement)."""

    __table_args__ = (UniqueConstraint("key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str  # the step that wrote it: a retried activity writes one notice
    agent_id: str = Field(default="", index=True)
    kind: str
    text: str
    at: datetime = Aware(nullable=False, default=utcnow)
    read_at: datetime | None = _optional_time()


class MaintenanceWindow(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    starts_at: datetime = Aware(nullable=False)
    ends_at: datetime = Aware(nullable=False)
    message: str
    announced_by: str
    announced_at: datetime = Aware(nullable=False, default=utcnow)
    state: str = "announced"  # announced / in_progress / ended / cancelled
    cancelled_by: str = ""


class SuspensionCase(SQLModel, table=True):
    """A number suspension tracked until the number is back (suspension rules 1.7); the projection of the
    `suspension-<order>-<n>` workflow. The number only in its masked form."""

    id: str = Field(primary_key=True)  # <order>-<n>
    order_id: str = Field(index=True)
    n: int
    agent_id: str = Field(index=True)
    carrier: str = Field(index=True)
    msisdn_masked: str
    kind: str
    trigger: str = ""
    suspended_at: datetime = Aware(nullable=False)
    window_ends_at: datetime = Aware(nullable=False)
    state: str = Field(index=True)
    overdue: bool = False
    restored_at: datetime | None = _optional_time()
    closed_at: datetime | None = _optional_time()
    reminders: int = 0
    close_note: str = ""
    updated_at: datetime = Aware(nullable=False, default=utcnow)

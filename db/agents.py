"""Agent accounts and every change of their status."""

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from core.db import Aware, utcnow


class AgentStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Agent(SQLModel, table=True):
    id: str = Field(primary_key=True)
    name: str
    parent_id: str | None = Field(default=None, foreign_key="agent.id")
    status: AgentStatus = AgentStatus.ACTIVE
    status_reason: str = ""


class AgentStatusChange(SQLModel, table=True):
    """Every suspension, appeal decision and reinstatement, with who and why."""

    id: int | None = Field(default=None, primary_key=True)
    agent_id: str = Field(foreign_key="agent.id", index=True)
    action: str
    reason: str
    actor: str
    at: datetime = Aware(nullable=False, default=utcnow)

"""Request and response models of agent accounts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import FromRow
from db.agents import AgentStatus

# ---- agents -------------------------------------------------------------------------------------


class StatusChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class AppealRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence: str = Field(min_length=1, max_length=10_000)


class StatusChangeOut(FromRow):
    id: int
    agent_id: str
    action: str
    reason: str
    actor: str
    at: datetime


class AgentOut(FromRow):
    id: str
    name: str
    parent_id: str | None
    status: AgentStatus
    status_reason: str


class AgentDetailOut(AgentOut):
    history: list[StatusChangeOut]
    payable_fen: int
    held_fen: int
    paid_fen: int


class StatusChangeResult(BaseModel):
    agent: AgentOut
    change: StatusChangeOut
    lines_changed: int = Field(description="commission lines held (suspend) or released (reinstate)")

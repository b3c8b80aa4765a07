"""Agent account suspension, appeal and reinstatement (agent accounts 1-3 in docs/domain.md). Every step is an AgentStatusChange.

Suspending holds the agent's commission lines that are payable and not yet paid; reinstating
releases them (payable again, so the next settlement payout pays them).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import func
from sqlmodel import Session, col, select, update

from core.errors import Conflict, NotFound
from db.agents import Agent, AgentStatus, AgentStatusChange
from db.orders import CommissionLineRecord, LineStatus

log = structlog.get_logger(__name__)

SUSPEND = "suspend"
REINSTATE = "reinstate"
APPEAL = "appeal"


class AgentNotFound(NotFound):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"unknown agent {agent_id}")


class InvalidTransition(Conflict):
    """Not possible from the account's current status (suspending a suspended agent, ...)."""


@dataclass
class AgentDetail:
    agent: Agent
    history: list[AgentStatusChange]
    payable_fen: int
    held_fen: int
    paid_fen: int


@dataclass
class StatusResult:
    agent: Agent
    change: AgentStatusChange
    lines_changed: int


def _locked(session: Session, agent_id: str) -> Agent:
    # FOR UPDATE on PostgreSQL serialises concurrent transitions; SQLite's BEGIN IMMEDIATE already does.
    agent = session.exec(select(Agent).where(Agent.id == agent_id).with_for_update()).first()
    if agent is None:
        raise AgentNotFound(agent_id)
    return agent


def _flip_lines(session: Session, agent_id: str, src: LineStatus, dst: LineStatus) -> int:
    result = session.exec(  # type: ignore[call-overload]
        update(CommissionLineRecord)
        .where(CommissionLineRecord.agent_id == agent_id, CommissionLineRecord.status == src)
        .values(status=dst)
    )
    return int(result.rowcount or 0)


def suspend(session: Session, agent_id: str, reason: str, actor: str) -> StatusResult:
    agent = _locked(session, agent_id)
    if agent.status == AgentStatus.SUSPENDED:
        session.rollback()
        raise InvalidTransition(f"agent {agent_id} is already suspended: {agent.status_reason}")
    agent.status, agent.status_reason = AgentStatus.SUSPENDED, reason
    held = _flip_lines(session, agent_id, LineStatus.PAYABLE, LineStatus.HELD)
    change = AgentStatusChange(agent_id=agent_id, action=SUSPEND, reason=reason, actor=actor)
    session.add(agent)
    session.add(change)
    session.commit()
    session.refresh(agent)
    session.refresh(change)
    log.info("agent suspended", agent_id=agent_id, actor=actor, lines_held=held)
    return StatusResult(agent=agent, change=change, lines_changed=held)


def reinstate(session: Session, agent_id: str, reason: str, actor: str) -> StatusResult:
    agent = _locked(session, agent_id)
    if agent.status != AgentStatus.SUSPENDED:
        session.rollback()
        raise InvalidTransition(f"agent {agent_id} is not suspended; nothing to reinstate")
    agent.status, agent.status_reason = AgentStatus.ACTIVE, ""
    released = _flip_lines(session, agent_id, LineStatus.HELD, LineStatus.PAYABLE)
    change = AgentStatusChange(agent_id=agent_id, action=REINSTATE, reason=reason, actor=actor)
    session.add(agent)
    session.add(change)
    session.commit()
    session.refresh(agent)
    session.refresh(change)
    log.info("agent reinstated", agent_id=agent_id, actor=actor, lines_released=released)
    return StatusResult(agent=agent, change=change, lines_changed=released)


def appeal(session: Session, agent_id: str, evidence: str, actor: str) -> StatusResult:
    """The agent's appeal with evidence is recorded; an admin then decides (reinstate or not)."""
    agent = _locked(session, agent_id)
    if agent.status != AgentStatus.SUSPENDED:
        session.rollback()
        raise InvalidTransition(f"agent {agent_id} is not suspended; there is nothing to appeal")
    change = AgentStatusChange(agent_id=agent_id, action=APPEAL, reason=evidence, actor=actor)
    session.add(change)
    session.commit()
    session.refresh(agent)
    session.refresh(change)
    log.info("agent appeal recorded", agent_id=agent_id, actor=actor)
    return StatusResult(agent=agent, change=change, lines_changed=0)


def detail(session: Session, agent_id: str) -> AgentDetail:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise AgentNotFound(agent_id)
    history = session.exec(
        select(AgentStatusChange)
        .where(AgentStatusChange.agent_id == agent_id)
        .order_by(col(AgentStatusChange.at), col(AgentStatusChange.id))
    ).all()
    sums = dict(
        session.exec(  # type: ignore[arg-type]
            select(CommissionLineRecord.status, func.coalesce(func.sum(CommissionLineRecord.amount_fen), 0))
            .where(CommissionLineRecord.agent_id == agent_id)
            .group_by(CommissionLineRecord.status)
        ).all()
    )
    return AgentDetail(
        agent=agent,
        history=list(history),
        payable_fen=int(sums.get(LineStatus.PAYABLE, 0)),
        held_fen=int(sums.get(LineStatus.HELD, 0)),
        paid_fen=int(sums.get(LineStatus.PAID, 0)),
    )

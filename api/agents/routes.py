"""Agents: status (suspend / appeal / reinstate, with history). Their statements are the settlement's
(api/orders/settlements.py)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import Session

from api.agents.schemas import (
    AgentDetailOut,
    AgentOut,
    AppealRequest,
    StatusChangeOut,
    StatusChangeRequest,
    StatusChangeResult,
)
from api.deps import get_session, require
from core.access import Permission
from services import agents as svc

router = APIRouter(prefix="/agents", tags=["agents"])

_ERRORS = {404: {"description": "unknown agent"}, 409: {"description": "not allowed in the agent's current status"}}


def _result(r: svc.StatusResult) -> StatusChangeResult:
    return StatusChangeResult(
        agent=AgentOut.model_validate(r.agent), change=StatusChangeOut.model_validate(r.change), lines_changed=r.lines_changed
    )


def _run(fn, *args) -> StatusChangeResult:
    return _result(fn(*args))


@router.get("/{agent_id}", dependencies=[require(Permission.AGENTS_READ)], response_model=AgentDetailOut, responses={404: _ERRORS[404]})
def get_agent(agent_id: str, session: Annotated[Session, Depends(get_session)]) -> AgentDetailOut:
    d = svc.detail(session, agent_id)
    return AgentDetailOut(
        **AgentOut.model_validate(d.agent).model_dump(),
        history=[StatusChangeOut.model_validate(h) for h in d.history],
        payable_fen=d.payable_fen,
        held_fen=d.held_fen,
        paid_fen=d.paid_fen,
    )


@router.post("/{agent_id}/suspend", dependencies=[require(Permission.AGENTS_MANAGE)], response_model=StatusChangeResult, responses=_ERRORS)
def suspend(agent_id: str, body: StatusChangeRequest, session: Annotated[Session, Depends(get_session)]) -> StatusChangeResult:
    """Suspend the agent: no new orders; its payable, unpaid commission lines are held."""
    return _run(svc.suspend, session, agent_id, body.reason, body.actor)


@router.post("/{agent_id}/reinstate", dependencies=[require(Permission.AGENTS_MANAGE)], response_model=StatusChangeResult, responses=_ERRORS)
def reinstate(agent_id: str, body: StatusChangeRequest, session: Annotated[Session, Depends(get_session)]) -> StatusChangeResult:
    """Reinstate the agent: held lines become payable again and go out with the next payout."""
    return _run(svc.reinstate, session, agent_id, body.reason, body.actor)


@router.post("/{agent_id}/appeal", dependencies=[require(Permission.AGENTS_APPEAL)], response_model=StatusChangeResult, responses=_ERRORS)
def appeal(agent_id: str, body: AppealRequest, session: Annotated[Session, Depends(get_session)]) -> StatusChangeResult:
    """Record a suspended agent's appeal with its evidence, for an admin to decide."""
    return _run(svc.appeal, session, agent_id, body.evidence, body.actor)

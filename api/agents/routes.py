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
from api.deps import get_session, own_agent, require
from core.access import Permission, Principal
from services import agents as svc

router = APIRouter(prefix="/agents", tags=["agents"])

_ERRORS = {404: {"description": "unknown agent"}, 409: {"description": "not allowed in the agent's current status"}}


def _result(r: svc.StatusResult) -> StatusChangeResult:
    return StatusChangeResult(
        agent=AgentOut.model_validate(r.agent), change=StatusChangeOut.model_validate(r.change), lines_changed=r.lines_changed
    )


def _run(fn, *args) -> StatusChangeResult:
    return _result(fn(*args))


@router.get("/{agent_id}", response_model=AgentDetailOut, responses={404: _ERRORS[404]})
def get_agent(agent_id: str, session: Annotated[Session, Depends(get_session)],
              principal: Annotated[Principal, require(Permission.AGENTS_READ)]) -> AgentDetailOut:
    own_agent(principal, agent_id)
    d = svc.detail(session, agent_id)
    return AgentDetailOut(
        **AgentOut.model_validate(d.agent).model_dump(),
        history=[StatusChangeOut.model_validate(h) for h in d.history],
        payable_fen=d.payable_fen,
        held_fen=d.held_fen,
        paid_fen=d.paid_fen,
    )


@router.post("/{agent_id}/suspend", response_model=StatusChangeResult, responses=_ERRORS)
def suspend(agent_id: str, body: StatusChangeRequest, session: Annotated[Session, Depends(get_session)],
            principal: Annotated[Principal, require(Permission.AGENTS_MANAGE)]) -> StatusChangeResult:
    """Suspend the agent: no new orders; its payable, unpaid commission lines are held."""
    return _run(svc.suspend, session, agent_id, body.reason, principal.id)


@router.post("/{agent_id}/reinstate", response_model=StatusChangeResult, responses=_ERRORS)
def reinstate(agent_id: str, body: StatusChangeRequest, session: Annotated[Session, Depends(get_session)],
              principal: Annotated[Principal, require(Permission.AGENTS_MANAGE)]) -> StatusChangeResult:
    """Reinstate the agent: held lines become payable again and go out with the next payout."""
    return _run(svc.reinstate, session, agent_id, body.reason, principal.id)


@router.post("/{agent_id}/appeal", response_model=StatusChangeResult, responses=_ERRORS)
def appeal(agent_id: str, body: AppealRequest, session: Annotated[Session, Depends(get_session)],
           principal: Annotated[Principal, require(Permission.AGENTS_APPEAL)]) -> StatusChangeResult:
    """Record a suspended agent's appeal with its evidence, for an admin to decide."""
    own_agent(principal, agent_id)
    return _run(svc.appeal, session, agent_id, body.evidence, principal.id)

"""Agents: status (suspend / appeal / reinstate, with history) and their settlement statements."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlmodel import Session

from api.deps import get_session
from api.schemas import MONTH_PATTERN
from api.agents.schemas import AgentDetailOut, AgentOut, AppealRequest, StatusChangeOut, StatusChangeRequest, StatusChangeResult
from api.orders.schemas import StatementOut
from services import agents as svc
from services.orders import statements as stm

router = APIRouter(prefix="/agents", tags=["agents"])

_ERRORS = {404: {"description": "unknown agent"}, 409: {"description": "not allowed in the agent's current status"}}
Month = Annotated[str, Path(pattern=MONTH_PATTERN, description="settlement month yyyymm")]


def _result(r: svc.StatusResult) -> StatusChangeResult:
    return StatusChangeResult(
        agent=AgentOut.model_validate(r.agent), change=StatusChangeOut.model_validate(r.change), lines_changed=r.lines_changed
    )


def _run(fn, *args) -> StatusChangeResult:
    return _result(fn(*args))


@router.get("/{agent_id}", response_model=AgentDetailOut, responses={404: _ERRORS[404]})
def get_agent(agent_id: str, session: Annotated[Session, Depends(get_session)]) -> AgentDetailOut:
    d = svc.detail(session, agent_id)
    return AgentDetailOut(
        **AgentOut.model_validate(d.agent).model_dump(),
        history=[StatusChangeOut.model_validate(h) for h in d.history],
        payable_fen=d.payable_fen,
        held_fen=d.held_fen,
        paid_fen=d.paid_fen,
    )


@router.post("/{agent_id}/suspend", response_model=StatusChangeResult, responses=_ERRORS)
def suspend(agent_id: str, body: StatusChangeRequest, session: Annotated[Session, Depends(get_session)]) -> StatusChangeResult:
    """Suspend the agent: no new orders; its payable, unpaid commission lines are held."""
    return _run(svc.suspend, session, agent_id, body.reason, body.actor)


@router.post("/{agent_id}/reinstate", response_model=StatusChangeResult, responses=_ERRORS)
def reinstate(agent_id: str, body: StatusChangeRequest, session: Annotated[Session, Depends(get_session)]) -> StatusChangeResult:
    """Reinstate the agent: held lines become payable again and go out with the next payout."""
    return _run(svc.reinstate, session, agent_id, body.reason, body.actor)


@router.post("/{agent_id}/appeal", response_model=StatusChangeResult, responses=_ERRORS)
def appeal(agent_id: str, body: AppealRequest, session: Annotated[Session, Depends(get_session)]) -> StatusChangeResult:
    """Record a suspended agent's appeal with its evidence, for an admin to decide."""
    return _run(svc.appeal, session, agent_id, body.evidence, body.actor)


@router.get("/{agent_id}/statements", response_model=list[StatementOut], responses={404: _ERRORS[404]})
def statements(
    agent_id: str,
    session: Annotated[Session, Depends(get_session)],
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
) -> list[StatementOut]:
    rows = stm.agent_statements(session, agent_id, month)
    return [StatementOut.model_validate(s) for s in rows]


def _rows(session: Session, agent_id: str, month: str) -> list[stm.StatementRow]:
    return stm.statement_rows(session, agent_id, month)


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


@router.get(
    "/{agent_id}/statements/{month}.csv",
    response_class=Response,
    responses={200: {"content": {stm.CSV_MEDIA_TYPE: {}}}, 404: _ERRORS[404]},
)
def statement_csv(agent_id: str, month: Month, session: Annotated[Session, Depends(get_session)]) -> Response:
    """One row per commission line, one per failed order (with reason), and a total row."""
    rows = _rows(session, agent_id, month)
    return Response(
        stm.to_csv(rows), media_type=stm.CSV_MEDIA_TYPE, headers=_attachment(stm.export_filename(agent_id, month, "csv"))
    )


@router.get(
    "/{agent_id}/statements/{month}.xlsx",
    response_class=Response,
    responses={200: {"content": {stm.XLSX_MEDIA_TYPE: {}}}, 404: _ERRORS[404]},
)
def statement_xlsx(agent_id: str, month: Month, session: Annotated[Session, Depends(get_session)]) -> Response:
    rows = _rows(session, agent_id, month)
    return Response(
        stm.to_xlsx(rows, title=f"{month}"),
        media_type=stm.XLSX_MEDIA_TYPE,
        headers=_attachment(stm.export_filename(agent_id, month, "xlsx")),
    )

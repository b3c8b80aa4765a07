"""Settlement batches (one per carrier per month) and their agent statements."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response
from sqlmodel import Session

from api.deps import get_session, own_agent, require
from api.orders.schemas import BatchDetail, BatchOut, StatementOut
from api.schemas import MAX_OFFSET, MONTH_PATTERN, Page, PathId
from core.access import Permission, Principal
from core.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, attachment, report_csv, report_xlsx
from domain.orders.carriers import Carrier
from services.finance.reports import statement_report
from services.orders import statements as svc

router = APIRouter(prefix="/settlements", tags=["settlement"])
# An agent's statements of every carrier batch (what the agent is paid), under the agent's path.
agent_statements = APIRouter(prefix="/agents", tags=["settlement"])

_UNKNOWN_AGENT = {"description": "unknown agent"}
Month = Annotated[str, Path(pattern=MONTH_PATTERN, description="settlement month yyyymm")]


@router.get("", dependencies=[require(Permission.SETTLEMENTS_READ)], response_model=Page[BatchOut])
def list_batches(
    session: Annotated[Session, Depends(get_session)],
    carrier: Carrier | None = None,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[BatchOut]:
    rows, total = svc.list_batches(session, carrier.value if carrier else None, month, limit, offset)
    return Page[BatchOut](items=[BatchOut.model_validate(b) for b in rows], total=total, limit=limit, offset=offset)


@router.get("/{batch_id}", dependencies=[require(Permission.SETTLEMENTS_READ)], response_model=BatchDetail, responses={404: {"description": "unknown batch"}})
def get_batch(batch_id: PathId, session: Annotated[Session, Depends(get_session)]) -> BatchDetail:
    found = svc.get_batch(session, batch_id)
    if found is None:
        raise HTTPException(404, detail=f"unknown settlement batch {batch_id}")
    batch, statements = found
    return BatchDetail(
        **BatchOut.model_validate(batch).model_dump(),
        statements=[StatementOut.model_validate(s) for s in statements],
    )


@agent_statements.get("/{agent_id}/statements", response_model=list[StatementOut], responses={404: _UNKNOWN_AGENT})
def statements(
    agent_id: PathId,
    session: Annotated[Session, Depends(get_session)],
    principal: Annotated[Principal, require(Permission.STATEMENTS_READ)],
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
) -> list[StatementOut]:
    own_agent(principal, agent_id)
    rows = svc.agent_statements(session, agent_id, month)
    return [StatementOut.model_validate(s) for s in rows]


@agent_statements.get(
    "/{agent_id}/statements/{month}.csv",
    response_class=Response,
    responses={200: {"content": {CSV_MEDIA_TYPE: {}}}, 404: _UNKNOWN_AGENT},
)
def statement_csv(agent_id: PathId, month: Month, session: Annotated[Session, Depends(get_session)],
                  principal: Annotated[Principal, require(Permission.STATEMENTS_READ)]) -> Response:
    """The header block (agent, month, generated at, subtotals), the commission lines, the failed orders with
    their reasons, and the failures by reason (finance's statement report, services/finance/reports.py)."""
    own_agent(principal, agent_id)
    return Response(report_csv(statement_report(session, agent_id, month)), media_type=CSV_MEDIA_TYPE,
                    headers=attachment(svc.export_filename(agent_id, month, "csv")))


@agent_statements.get(
    "/{agent_id}/statements/{month}.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}, 404: _UNKNOWN_AGENT},
)
def statement_xlsx(agent_id: PathId, month: Month, session: Annotated[Session, Depends(get_session)],
                   principal: Annotated[Principal, require(Permission.STATEMENTS_READ)]) -> Response:
    own_agent(principal, agent_id)
    return Response(report_xlsx(statement_report(session, agent_id, month)), media_type=XLSX_MEDIA_TYPE,
                    headers=attachment(svc.export_filename(agent_id, month, "xlsx")))

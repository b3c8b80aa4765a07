"""Delivery and tracking: the agent's order-tracking table (CSV, XLSX), the agents' monthly delivery figures, stale
orders, and the delivery rescue tasks the agent works. Agents see their own; staff see every agent's."""

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import Session
from temporalio.client import Client

from api.deps import (
    free_text_for,
    get_session,
    get_temporal_optional,
    require,
    reveal_customer_data,
    run_db,
    sees_agent,
)
from api.orders.schemas import (
    CloseRescueRequest,
    ContactOut,
    ContactRequest,
    RescueTaskOut,
    StaleOrderOut,
)
from api.schemas import ID_PATTERN, MAX_OFFSET, MONTH_PATTERN, Page, RowId
from core.access import Permission, Principal
from core.errors import Forbidden, NotFound
from core.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, attachment, csv_bytes, safe_filename_part, xlsx_bytes
from core.logs import redact
from domain.clock import SHANGHAI
from domain.orders.carriers import Carrier
from domain.orders.delivery import AgentKpis, StaleReason
from domain.orders.order import FailureReason, OrderStatus
from services.orders import rescue
from services.orders import tracking as svc

router = APIRouter(prefix="/orders", tags=["delivery"])
tasks = APIRouter(prefix="/rescue-tasks", tags=["delivery"])

AgentFilter = Annotated[str | None, Query(pattern=ID_PATTERN, description="staff only: one agent's")]
MonthFilter = Annotated[str | None, Query(pattern=MONTH_PATTERN, description="placed in this month yyyymm (Shanghai)")]


def _scope(principal: Principal, agent_id: str | None) -> str | None:
    """An agent reads its own rows whatever it names; a name of another agent is refused rather than ignored."""
    if principal.agent_id is not None:
        if agent_id and agent_id != principal.agent_id:
            raise Forbidden(f"signed in as agent {principal.agent_id}, not {agent_id}", type="other_agent")
        return principal.agent_id
    return agent_id


def _tracking_filter(principal: Principal, agent_id: str | None, carrier: Carrier | None, product_id: str | None,
                     status: OrderStatus | None, failure_reason: FailureReason | None, month: str | None,
                     stale: bool | None) -> svc.TrackingFilter:
    return svc.TrackingFilter(agent_id=_scope(principal, agent_id), carrier=carrier.value if carrier else None,
                              product_id=product_id, status=status.value if status else None,
                              failure_reason=failure_reason.value if failure_reason else None, month=month,
                              stale=stale)


class _Filters:
    """The tracking table's filters, shared by the page and the exports."""

    def __init__(self, agent_id: AgentFilter = None, carrier: Carrier | None = None,
                 product_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                 status: OrderStatus | None = None, failure_reason: FailureReason | None = None,
                 month: MonthFilter = None,
                 stale: Annotated[bool | None, Query(description="true: only stale orders; false: none")] = None) -> None:
        self.args = (agent_id, carrier, product_id, status, failure_reason, month, stale)


@router.get("/tracking", response_model=Page[svc.TrackingRow])
def tracking_table(session: Annotated[Session, Depends(get_session)],
                   principal: Annotated[Principal, require(Permission.ORDERS_READ)],
                   filters: Annotated[_Filters, Depends()],
                   limit: Annotated[int, Query(ge=1, le=500)] = 100,
                   offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Page[svc.TrackingRow]:
    rows, total = svc.tracking_rows(session, _tracking_filter(principal, *filters.args), limit, offset)
    return Page[svc.TrackingRow](items=rows, total=total, limit=limit, offset=offset)


def _export(session: Session, principal: Principal, filters: _Filters, kind: Literal["csv", "xlsx"]) -> Response:
    f = _tracking_filter(principal, *filters.args)
    rows, _ = svc.tracking_rows(session, f, svc.MAX_EXPORT_ROWS)
    name = "order-tracking" + "".join(f"-{safe_filename_part(p)}" for p in (f.agent_id, f.month) if p)
    values = [r.values() for r in rows]
    if kind == "csv":
        body = csv_bytes(svc.COLUMNS, [[v.isoformat() if hasattr(v, "isoformat") else v for v in row] for row in values])
        return Response(body, media_type=CSV_MEDIA_TYPE, headers=attachment(f"{name}.csv"))
    # Excel holds no time zone: the times are written as Shanghai wall-clock times, as people read them
    local = [[v.astimezone(SHANGHAI).replace(tzinfo=None) if hasattr(v, "astimezone") else v for v in row]
             for row in values]
    body = xlsx_bytes("order tracking", svc.COLUMNS, local, text_columns=("order_id", "tracking_no"))
    return Response(body, media_type=XLSX_MEDIA_TYPE, headers=attachment(f"{name}.xlsx"))


@router.get("/tracking.csv", response_class=Response,
            responses={200: {"content": {CSV_MEDIA_TYPE: {}}, "description": "the table as CSV"}})
def tracking_csv(session: Annotated[Session, Depends(get_session)],
                 principal: Annotated[Principal, require(Permission.ORDERS_READ)],
                 filters: Annotated[_Filters, Depends()]) -> Response:
    return _export(session, principal, filters, "csv")


@router.get("/tracking.xlsx", response_class=Response,
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "the table as an Excel workbook"}})
def tracking_xlsx(session: Annotated[Session, Depends(get_session)],
                  principal: Annotated[Principal, require(Permission.ORDERS_READ)],
                  filters: Annotated[_Filters, Depends()]) -> Response:
    return _export(session, principal, filters, "xlsx")


Month = Annotated[str, Query(pattern=MONTH_PATTERN, description="orders placed in this month yyyymm (Shanghai)")]


@router.get("/kpis", response_model=list[AgentKpis])
def agent_kpis(session: Annotated[Session, Depends(get_session)],
               principal: Annotated[Principal, require(Permission.ORDERS_READ)],
               month: Month, agent_id: AgentFilter = None) -> list[AgentKpis]:
    return svc.kpis(session, month, _scope(principal, agent_id))


@router.get("/kpis.csv", response_class=Response, responses={200: {"content": {CSV_MEDIA_TYPE: {}}}})
def agent_kpis_csv(session: Annotated[Session, Depends(get_session)],
                   principal: Annotated[Principal, require(Permission.ORDERS_READ)],
                   month: Month, agent_id: AgentFilter = None) -> Response:
    rows = [svc.kpi_values(k) for k in svc.kpis(session, month, _scope(principal, agent_id))]
    return Response(csv_bytes(svc.KPI_COLUMNS, rows), media_type=CSV_MEDIA_TYPE,
                    headers=attachment(f"agent-kpis-{month}.csv"))


@router.get("/kpis.xlsx", response_class=Response, responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
def agent_kpis_xlsx(session: Annotated[Session, Depends(get_session)],
                    principal: Annotated[Principal, require(Permission.ORDERS_READ)],
                    month: Month, agent_id: AgentFilter = None) -> Response:
    rows = [svc.kpi_values(k) for k in svc.kpis(session, month, _scope(principal, agent_id))]
    return Response(xlsx_bytes(f"agent KPIs {month}", svc.KPI_COLUMNS, rows, text_columns=("agent_id", "month")),
                    media_type=XLSX_MEDIA_TYPE, headers=attachment(f"agent-kpis-{month}.xlsx"))


@router.get("/stale", response_model=Page[StaleOrderOut])
def stale_orders(session: Annotated[Session, Depends(get_session)],
                 principal: Annotated[Principal, require(Permission.ORDERS_READ)],
                 reason: StaleReason | None = None, agent_id: AgentFilter = None, carrier: Carrier | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100,
                 offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Page[StaleOrderOut]:
    rows, total = svc.stale_orders(session, _scope(principal, agent_id), reason.value if reason else None,
                                   carrier.value if carrier else None, limit, offset)
    return Page[StaleOrderOut](items=[StaleOrderOut.model_validate(o) for o in rows], total=total, limit=limit,
                               offset=offset)


# ---- rescue tasks ----------------------------------------------------------------------------------------------


def _task_out(view: rescue.TaskView, shown: Callable[[str], str]) -> RescueTaskOut:
    t = view.task
    return RescueTaskOut(
        id=int(t.id), order_id=t.order_id, agent_id=t.agent_id, msisdn_masked=t.msisdn_masked, kind=t.kind,  # type: ignore[arg-type]
        exception_event_id=t.exception_event_id, opened_at=t.opened_at, give_up_at=t.give_up_at,
        reminders_sent=t.reminders_sent, last_reminded_at=t.last_reminded_at, open=t.resolved_at is None,
        resolved_at=t.resolved_at, resolution=t.resolution, closed_by=t.closed_by, close_note=shown(t.close_note),
        close_signalled=t.close_signalled_at is not None, channels_tried=view.channels_tried,
        day_slots_tried=view.day_slots_tried,
        contacts=[ContactOut(id=int(c.id), at=c.at, channel=c.channel, outcome=c.outcome, note=shown(c.note), by=c.by)  # type: ignore[arg-type]
                  for c in view.contacts])


def _shown(principal: Principal, reveal: bool) -> Callable[[str], str]:
    """An agent reads its own notes with numbers masked; staff as free text is shown to them (api/deps.py)."""
    return redact if principal.agent_id is not None and not reveal else free_text_for(principal, reveal)


Reveal = Annotated[bool, Query(description="the notes in full (customer_data.read; on the audit log)")]


def _own_task(session: Session, principal: Principal, task_id: int) -> rescue.TaskView:
    view = rescue.get_task(session, task_id)
    if not sees_agent(principal, view.task.agent_id):
        raise NotFound(f"unknown rescue task {task_id}")  # another agent's task is not there for this one
    return view


async def _signal_pending(session: Session, temporal: Client | None, agent_id: str | None) -> None:
    pending = await run_db(session, rescue.unsignalled_closes, agent_id)
    told = await rescue.signal_closes(temporal, pending)
    if told:
        await run_db(session, rescue.mark_signalled, told)


@tasks.get("", response_model=Page[RescueTaskOut])
async def list_rescue_tasks(request: Request, session: Annotated[Session, Depends(get_session)],
                            temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                            principal: Annotated[Principal, require(Permission.ORDERS_READ)],
                            state: Literal["open", "closed"] | None = None, agent_id: AgentFilter = None,
                            order_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                            reveal: Reveal = False,
                            limit: Annotated[int, Query(ge=1, le=500)] = 100,
                            offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Page[RescueTaskOut]:
    if reveal:
        reveal_customer_data(request, principal)
    scope = _scope(principal, agent_id)
    await _signal_pending(session, temporal, scope)
    open_only = None if state is None else state == "open"
    views, total = await run_db(session, rescue.list_tasks, scope, open_only, order_id, limit, offset)
    shown = _shown(principal, reveal)
    return Page[RescueTaskOut](items=[_task_out(v, shown) for v in views], total=total, limit=limit, offset=offset)


@tasks.get("/{task_id}", response_model=RescueTaskOut, responses={404: {"description": "unknown rescue task"}})
def get_rescue_task(task_id: RowId, request: Request, session: Annotated[Session, Depends(get_session)],
                    principal: Annotated[Principal, require(Permission.ORDERS_READ)],
                    reveal: Reveal = False) -> RescueTaskOut:
    if reveal:
        reveal_customer_data(request, principal)
    return _task_out(_own_task(session, principal, task_id), _shown(principal, reveal))


@tasks.post("/{task_id}/contacts", response_model=RescueTaskOut, status_code=201,
            responses={404: {"description": "unknown rescue task"}, 409: {"description": "the task is closed"},
                       422: {"description": "an attempt in the future or before the task"}})
def record_contact(task_id: RowId, body: ContactRequest, session: Annotated[Session, Depends(get_session)],
                   principal: Annotated[Principal, require(Permission.ORDERS_RESCUE)]) -> RescueTaskOut:
    _own_task(session, principal, task_id)
    view = rescue.record_contact(session, task_id, body.at, body.channel, body.outcome, body.note, principal.id)
    return _task_out(view, _shown(principal, False))


@tasks.post("/{task_id}/close", response_model=RescueTaskOut,
            responses={404: {"description": "unknown rescue task"}, 409: {"description": "closed otherwise already"}})
async def close_rescue_task(task_id: RowId, body: CloseRescueRequest,
                            session: Annotated[Session, Depends(get_session)],
                            temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                            principal: Annotated[Principal, require(Permission.ORDERS_RESCUE)]) -> RescueTaskOut:
    await run_db(session, _own_task, principal, task_id)
    await run_db(session, rescue.close_task, task_id, body.resolution, body.note, principal.id)
    await _signal_pending(session, temporal, None)
    return _task_out(await run_db(session, rescue.get_task, task_id), _shown(principal, False))

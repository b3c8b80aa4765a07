"""Agents: the account (suspend with a category, appeal with attachments, the admin's answer, arrears paid,
reinstate; the timeline and the inbox), platform maintenance windows, and number suspension cases. Statements
are the settlement's (api/orders/settlements.py)."""

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, Response, UploadFile
from fastapi.responses import FileResponse
from sqlmodel import Session
from temporalio.client import Client

from api.agents.schemas import (
    AgentDetailOut,
    AgentOut,
    AnswerRequest,
    AppealOut,
    AppealRequest,
    ArrearsPaidRequest,
    AttachmentOut,
    MaintenanceChangeRequest,
    MaintenanceOut,
    MaintenanceRequest,
    NoticeOut,
    StatusChangeOut,
    StatusChangeRequest,
    StatusChangeResult,
    SuspendRequest,
    SuspensionCaseOut,
    TriggerRequest,
)
from api.deps import (
    get_session,
    get_temporal,
    get_temporal_optional,
    own_agent,
    require,
    run_db,
    sees_agent,
    start_process,
)
from api.schemas import MAX_OFFSET, MONTH_PATTERN, Page, PathId, RowId
from core.access import Permission, Principal
from core.errors import NotFound
from core.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, attachment, csv_bytes, xlsx_bytes
from db.agents import AppealState
from domain.agents import reports
from services import agents as svc

router = APIRouter(tags=["agents"])
agents = APIRouter(prefix="/agents")

_ERRORS = {404: {"description": "unknown agent"}, 409: {"description": "not allowed in the agent's current status"}}
_CHUNK = 64 * 1024


async def _deliver(session: Session, temporal: Client | None, agent_id: PathId) -> None:
    """Tell the account workflow every recorded step it has not heard of (this one and any a failure left)."""
    events = await run_db(session, svc.pending_events, agent_id)
    delivered = await svc.deliver(temporal, events)
    await run_db(session, svc.mark_events_delivered, delivered)


async def _changed(session: Session, temporal: Client | None, r: svc.StatusResult) -> StatusChangeResult:
    out = StatusChangeResult(agent=AgentOut.model_validate(r.agent), change=StatusChangeOut.model_validate(r.change),
                             lines_changed=r.lines_changed,
                             appeal=_appeal(r.appeal, await run_db(session, _files, [r.appeal.id]))
                             if r.appeal is not None else None)
    await _deliver(session, temporal, r.agent.id)
    return out


def _files(session: Session, appeal_ids: list[int]):
    return svc.attachments_of(session, appeal_ids)


def _appeal(a, files) -> AppealOut:
    return AppealOut(**AppealOut.model_validate(a).model_dump(exclude={"attachments"}),
                     attachments=[AttachmentOut.model_validate(f) for f in files if f.appeal_id == a.id])


@agents.get("/{agent_id}", response_model=AgentDetailOut, responses={404: _ERRORS[404]})
async def get_agent(agent_id: PathId, session: Annotated[Session, Depends(get_session)],
                    temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                    principal: Annotated[Principal, require(Permission.AGENTS_READ)]) -> AgentDetailOut:
    """The account, its timeline (every step with who, when, category and reason) and its appeals."""
    own_agent(principal, agent_id)
    d = await run_db(session, svc.detail, agent_id)
    files = await run_db(session, _files, [a.id for a in d.appeals])
    await _deliver(session, temporal, agent_id)
    return AgentDetailOut(
        **AgentOut.model_validate(d.agent).model_dump(),
        history=[StatusChangeOut.model_validate(h) for h in d.history],
        appeals=[_appeal(a, files) for a in d.appeals],
        payable_fen=d.payable_fen,
        held_fen=d.held_fen,
        paid_fen=d.paid_fen,
    )


@agents.post("/{agent_id}/suspend", response_model=StatusChangeResult, responses=_ERRORS)
async def suspend(agent_id: PathId, body: SuspendRequest, session: Annotated[Session, Depends(get_session)],
                  temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                  principal: Annotated[Principal, require(Permission.AGENTS_MANAGE)]) -> StatusChangeResult:
    """Suspend the agent with a category (agent accounts 1): no new orders; its payable, unpaid commission lines
    are held. A maintenance suspension with `until` lifts itself then."""
    r = await run_db(session, lambda s: svc.suspend(s, agent_id, body.reason, principal.id, body.category,
                                                    body.violation_kind, body.evidence, body.until))
    return await _changed(session, temporal, r)


@agents.post("/{agent_id}/reinstate", response_model=StatusChangeResult, responses=_ERRORS)
async def reinstate(agent_id: PathId, body: StatusChangeRequest, session: Annotated[Session, Depends(get_session)],
                    temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                    principal: Annotated[Principal, require(Permission.AGENTS_MANAGE)]) -> StatusChangeResult:
    """Reinstate the agent: held lines become payable again and go out with the next payout."""
    r = await run_db(session, svc.reinstate, agent_id, body.reason, principal.id)
    return await _changed(session, temporal, r)


@agents.post("/{agent_id}/appeal", response_model=StatusChangeResult, responses=_ERRORS)
async def appeal(agent_id: PathId, body: AppealRequest, session: Annotated[Session, Depends(get_session)],
                 temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                 principal: Annotated[Principal, require(Permission.AGENTS_APPEAL)]) -> StatusChangeResult:
    """File the suspended agent's appeal: a statement and attachments uploaded first. An admin's answer is due
    within the configured time; admins are reminded, and a late appeal is escalated."""
    own_agent(principal, agent_id)
    r = await run_db(session, svc.appeal, agent_id, body.statement, principal.id, body.attachment_ids)
    return await _changed(session, temporal, r)


@agents.post("/{agent_id}/appeals/{appeal_id}/answer", response_model=StatusChangeResult,
             responses={**_ERRORS, 403: {"description": "the admin who suspended answers no appeal of it"}})
async def answer_appeal(agent_id: PathId, appeal_id: RowId, body: AnswerRequest,
                        session: Annotated[Session, Depends(get_session)],
                        temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                        principal: Annotated[Principal, require(Permission.AGENTS_ANSWER_APPEALS)]) -> StatusChangeResult:
    """Answer the appeal: uphold the suspension or reinstate, always with the written reply the agent reads."""
    r = await run_db(session, svc.answer_appeal, agent_id, appeal_id, body.outcome, body.reply, principal.id)
    return await _changed(session, temporal, r)


@agents.post("/{agent_id}/arrears-paid", response_model=StatusChangeResult, responses={404: _ERRORS[404]})
async def arrears_paid(agent_id: PathId, body: ArrearsPaidRequest, session: Annotated[Session, Depends(get_session)],
                       temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                       principal: Annotated[Principal, require(Permission.AGENTS_ARREARS)]) -> StatusChangeResult:
    """Finance reports the agent's arrears paid: an arrears suspension lifts itself, recorded as such. The same
    payment reference again answers the first record."""
    r = await run_db(session, svc.arrears_paid, agent_id, body.payment_ref, body.amount_fen, principal.id)
    return await _changed(session, temporal, r)


@agents.post("/{agent_id}/attachments", response_model=AttachmentOut, status_code=201,
             responses={404: _ERRORS[404], 413: {"description": "larger than the limit"},
                        415: {"description": "not a PDF, PNG or JPEG by its content"}})
async def upload_attachment(agent_id: PathId, file: Annotated[UploadFile, File(description="PDF, PNG or JPEG")],
                            session: Annotated[Session, Depends(get_session)],
                            principal: Annotated[Principal, require(Permission.AGENTS_APPEAL)]) -> AttachmentOut:
    """Upload one piece of evidence for an appeal; name its id in the appeal's `attachment_ids`."""
    own_agent(principal, agent_id)

    def chunks():
        file.file.seek(0)
        while chunk := file.file.read(_CHUNK):
            yield chunk

    row = await run_db(session, lambda s: svc.store_attachment(s, agent_id, file.filename, file.content_type,
                                                               chunks(), principal.id))
    return AttachmentOut.model_validate(row)


@agents.get("/{agent_id}/attachments/{attachment_id}", response_class=FileResponse, responses={404: _ERRORS[404]})
async def download_attachment(agent_id: PathId, attachment_id: PathId, session: Annotated[Session, Depends(get_session)],
                              principal: Annotated[Principal, require(Permission.AGENTS_READ)]) -> FileResponse:
    own_agent(principal, agent_id)
    row, path = await run_db(session, svc.attachment, agent_id, attachment_id)
    if not path.is_file():
        raise NotFound(f"attachment {attachment_id} is recorded but its file is missing", type="file_missing")
    return FileResponse(path, media_type=row.content_type, filename=row.file_name)


@agents.get("/{agent_id}/inbox", response_model=list[NoticeOut], responses={404: _ERRORS[404]})
def get_inbox(agent_id: PathId, session: Annotated[Session, Depends(get_session)],
              principal: Annotated[Principal, require(Permission.AGENTS_READ)],
              unread: bool = False, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[NoticeOut]:
    """What the agent was told: every change to its account, its suspension cases and maintenance announcements."""
    own_agent(principal, agent_id)
    return [NoticeOut.model_validate(n) for n in svc.inbox(session, agent_id, unread, limit)]


@agents.post("/{agent_id}/inbox/{notice_id}/read", response_model=NoticeOut, responses={404: _ERRORS[404]})
def read_notice(agent_id: PathId, notice_id: RowId, session: Annotated[Session, Depends(get_session)],
                principal: Annotated[Principal, require(Permission.AGENTS_READ)]) -> NoticeOut:
    own_agent(principal, agent_id)
    return NoticeOut.model_validate(svc.mark_read(session, agent_id, notice_id))


# ---- appeals across agents (the admins' queue) ---------------------------------------------------

appeals = APIRouter(prefix="/appeals")


@appeals.get("", response_model=list[AppealOut])
def list_appeals(session: Annotated[Session, Depends(get_session)],
                 principal: Annotated[Principal, require(Permission.AGENTS_READ)],
                 state: AppealState | None = None, late: bool = False) -> list[AppealOut]:
    """Appeals by due time; `late=true`: open past their answer deadline. An agent sees its own only."""
    rows = [a for a in svc.list_appeals(session, state, late) if sees_agent(principal, a.agent_id)]
    files = svc.attachments_of(session, [int(a.id) for a in rows])  # type: ignore[arg-type]
    return [_appeal(a, files) for a in rows]


# ---- maintenance windows ------------------------------------------------------------------------

maintenance = APIRouter(prefix="/maintenance-windows")


@maintenance.post("", response_model=MaintenanceOut, status_code=201)
async def announce(body: MaintenanceRequest, session: Annotated[Session, Depends(get_session)],
                   temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                   principal: Annotated[Principal, require(Permission.MAINTENANCE_MANAGE)]) -> MaintenanceOut:
    """Announce a platform maintenance window: every agent is told now; ordering pauses from start to end and
    resumes by itself."""
    row = await run_db(session, svc.announce_maintenance, body.starts_at, body.ends_at, body.message, principal.id)
    await start_process(temporal, lambda c: svc.start_maintenance(c, row), f"maintenance window {row.id}",
                        "PATCH it with the same times to announce it again")
    return MaintenanceOut.model_validate(row)


@maintenance.patch("/{window_id}", response_model=MaintenanceOut, responses={404: {"description": "unknown window"}})
async def change_window(window_id: RowId, body: MaintenanceChangeRequest, session: Annotated[Session, Depends(get_session)],
                        temporal: Annotated[Client, Depends(get_temporal)],
                        principal: Annotated[Principal, require(Permission.MAINTENANCE_MANAGE)]) -> MaintenanceOut:
    """Move or cancel a window that has not ended; agents are told."""
    row, change = await run_db(session, svc.change_maintenance, window_id, body.starts_at, body.ends_at, body.cancel,
                               principal.id)
    await svc.start_maintenance(temporal, row)  # ensures it runs (an announcement whose start had failed)
    await svc.signal_maintenance(temporal, window_id, change)
    return MaintenanceOut.model_validate(row)


@maintenance.get("", response_model=list[MaintenanceOut])
def list_windows(session: Annotated[Session, Depends(get_session)],
                 principal: Annotated[Principal, require(Permission.AGENTS_READ)],
                 include_past: bool = False) -> list[MaintenanceOut]:
    """Windows announced and not yet over (agents see them ahead); `include_past` for all."""
    return [MaintenanceOut.model_validate(w) for w in svc.maintenance_windows(session, include_past)]


# ---- number suspension cases --------------------------------------------------------------------

cases = APIRouter(prefix="/suspension-cases")


def _case(row) -> SuspensionCaseOut:
    facts = svc.case_facts(row)
    return SuspensionCaseOut(**facts.model_dump(), overdue=row.overdue, restored_within_window=facts.restored_in_window)


@cases.get("", response_model=Page[SuspensionCaseOut])
def list_cases(session: Annotated[Session, Depends(get_session)],
               principal: Annotated[Principal, require(Permission.AGENTS_READ)],
               agent_id: str | None = None, order_id: str | None = None,
               state: Annotated[str | None, Query(pattern="^(open|overdue|restored|closed_by_order)$")] = None,
               overdue: bool | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
               offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Page[SuspensionCaseOut]:
    """Number suspension cases; `state=overdue` is ops' list of cases past their recovery window. An agent sees
    its own only."""
    rows, total = svc.suspension_cases(session, principal.agent_id or agent_id, order_id, state, overdue, limit, offset)
    return Page[SuspensionCaseOut](items=[_case(r) for r in rows], total=total, limit=limit, offset=offset)


@cases.get("/{case_id}", response_model=SuspensionCaseOut, responses={404: {"description": "unknown case"}})
def get_case(case_id: PathId, session: Annotated[Session, Depends(get_session)],
             principal: Annotated[Principal, require(Permission.AGENTS_READ)]) -> SuspensionCaseOut:
    row = svc.suspension_case(session, case_id)
    if not sees_agent(principal, row.agent_id):
        raise NotFound(f"no suspension case {case_id}")
    return _case(row)


@cases.post("/{case_id}/trigger", response_model=SuspensionCaseOut, status_code=202,
            responses={404: {"description": "unknown case"}, 409: {"description": "the case is closed"}})
async def set_trigger(case_id: PathId, body: TriggerRequest, session: Annotated[Session, Depends(get_session)],
                      temporal: Annotated[Client, Depends(get_temporal)],
                      principal: Annotated[Principal, require(Permission.ORDERS_PLACE)]) -> SuspensionCaseOut:
    """Name what set off a risk-control hold, once the customer learned it from the carrier."""
    row = await run_db(session, svc.suspension_case, case_id)
    if not sees_agent(principal, row.agent_id):
        raise NotFound(f"no suspension case {case_id}")
    await svc.set_case_trigger(temporal, row, body.trigger, principal.id)
    return _case(row)


for part in (agents, appeals, maintenance, cases):
    router.include_router(part)


# ---- monthly reports ----------------------------------------------------------------------------

report_routes = APIRouter(prefix="/reports")
Month = Annotated[str, Path(pattern=MONTH_PATTERN, description="month yyyymm (Asia/Shanghai)")]
_FORMATS = {"csv": CSV_MEDIA_TYPE, "xlsx": XLSX_MEDIA_TYPE}


def _table(name: str, month: str, fmt: str, columns, rows) -> Response:
    body = csv_bytes(columns, rows) if fmt == "csv" else xlsx_bytes(f"{name} {month}", columns, rows,
                                                                    text_columns=("agent_id",))
    return Response(body, media_type=_FORMATS[fmt], headers=attachment(f"{name}-{month}.{fmt}"))


@report_routes.get("/suspension-cases/{month}.{fmt}", response_class=Response)
def suspension_case_report(month: Month, fmt: Annotated[str, Path(pattern="^(csv|xlsx)$")],
                           session: Annotated[Session, Depends(get_session)],
                           principal: Annotated[Principal, require(Permission.AGENTS_READ)]) -> Response:
    """Per agent, carrier and kind: suspensions, share restored within the window, median hours to restore.
    An agent gets its own rows."""
    rows = svc.case_report(session, month, principal.agent_id)
    return _table("suspension-cases", month, fmt, reports.CASE_COLUMNS, rows)


@report_routes.get("/agent-accounts/{month}.{fmt}", response_class=Response)
def account_report(month: Month, fmt: Annotated[str, Path(pattern="^(csv|xlsx)$")],
                   session: Annotated[Session, Depends(get_session)],
                   principal: Annotated[Principal, require(Permission.AGENTS_READ)]) -> Response:
    """Per agent: suspensions by category, appeals by outcome, escalations, median hours to the answer."""
    rows = svc.account_report(session, month, principal.agent_id)
    return _table("agent-accounts", month, fmt, reports.ACCOUNT_COLUMNS, rows)


router.include_router(report_routes)

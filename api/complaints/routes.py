"""The complaint desk: register, read, department actions (workflow updates), escalation, level correction,
inbound SMS (signed by the gateway), working-day schedules, KPIs, fee returns."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response, UploadFile
from pydantic import ValidationError
from sqlmodel import Session, col, select
from temporalio.client import Client

from api.complaints.schemas import (
    AcceptanceBody,
    AcceptBody,
    AcknowledgeBody,
    AuditBody,
    ComplaintDetail,
    ComplaintOut,
    CreditResolutionBody,
    DocumentOut,
    EscalateBody,
    EventOut,
    FeeReturnBody,
    FeeReturnOut,
    FindingsBody,
    InboundSmsBody,
    InboundSmsOut,
    LevelBody,
    NoticeOut,
    RegisterComplaint,
    RejectBody,
    ReplyBody,
    ScheduleBody,
    ScheduleLoadedOut,
    ScheduleOut,
    SpecialChannelRow,
    TransferBody,
    VerifyBody,
    VerifyOut,
    WrittenReplyBody,
    WrittenReplyOut,
)
from api.deps import (
    IDEMPOTENCY_HEADER,
    free_text_for,
    get_session,
    get_temporal_optional,
    idempotency_key,
    require,
    reveal_customer_data,
    run_db,
    start_process,
    verified_push,
)
from api.schemas import MAX_OFFSET, MONTH_PATTERN, Page, PathId, RowId, Since, Year
from core import crypto
from core.access import Permission, Principal
from core.alerts import OpsAlert
from core.errors import BusinessError
from core.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, attachment
from db.complaints import Complaint, FeeReturn
from domain.clock import month_bounds
from domain.complaints.complaint import ComplaintType, Department, Level, PriorComplaint, is_repeat
from domain.complaints.fee_return import CreditResolution, FeeReturnStatus
from domain.complaints.fee_return import Role as FeeRole
from domain.workdays import CalendarError, coverage
from services.complaints import complaint as svc
from services.complaints import fee_return as fees
from services.complaints import kpis as kpi
from services.complaints import notices
from services.complaints import special_channels as special
from services.complaints.calendar import load_calendar, loaded_schedules
from workflows.complaints.contract import (
    AcceptanceRequest,
    ComplaintView,
    DepartmentAction,
    EscalateRequest,
    FindingsRequest,
    LevelCorrection,
    ReplyRequest,
    TransferRequest,
)

complaint_router = APIRouter(prefix="/complaints", tags=["complaints"])
fee_router = APIRouter(prefix="/fee-returns", tags=["complaints"])

SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client | None, Depends(get_temporal_optional)]
_REFUSED = {403: {"description": "not the handling department / not allowed"},
            404: {"description": "unknown complaint"},
            409: {"description": "refused in this stage, or the ticket is closed"},
            422: {"description": "refused by the rules (e.g. transfer back, unqualified reply), with type and reason"},
            503: {"description": "Temporal unreachable"}}


@complaint_router.post("", dependencies=[require(Permission.COMPLAINTS_REGISTER)], status_code=201, response_model=ComplaintOut,
             responses={200: {"description": "same Idempotency-Key: the original complaint"},
                        400: {"description": "missing Idempotency-Key"}, 409: {"description": "key reused"},
                        422: {"description": "invalid body"}, 503: {"description": "stored, workflow not started: retry"}})
async def register(body: RegisterComplaint, response: Response, session: SessionDep, temporal: TemporalDep,
                   key: Annotated[str, Depends(idempotency_key)]) -> ComplaintOut:
    req = svc.NewComplaint(msisdn=body.msisdn, customer=body.customer, source=body.source, ctype=body.ctype,
                           receiving_department=body.receiving_department, text=body.text,
                           multi_department=body.multi_department, received_at=body.received_at,
                           special_channel=body.special_channel)
    reg = await run_db(session, svc.register, key, req)
    await start_process(temporal, lambda client: svc.ensure_workflow(client, reg.case), f"complaint {reg.complaint.id}",
                        f"retry with the same {IDEMPOTENCY_HEADER}", complaint_id=reg.complaint.id)
    response.status_code = 201 if reg.created else 200
    return ComplaintOut.of(reg.complaint)


@complaint_router.get("", dependencies=[require(Permission.COMPLAINTS_READ)], response_model=Page[ComplaintOut])
def list_complaints(session: SessionDep, level: Level | None = None, department: Department | None = None,
                    state: Annotated[str | None, Query(pattern=r"^(awaiting_department|in_handling|overdue|"
                                                                   r"awaiting_customer|survey|closed)$")] = None,
                    due_before: Since | None = None, due_after: Since | None = None,
                    month: Annotated[str | None, Query(pattern=MONTH_PATTERN, description="received in")] = None,
                    repeat: bool | None = None,
                    received_by: Annotated[Department | None, Query(description="the receiving department (first "
                                                                    "responsible): its tickets wherever they are now")] = None,
                    special_channel: bool | None = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0):
    for name, value in (("due_before", due_before), ("due_after", due_after)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(422, detail=f"{name} needs a time zone, e.g. 2026-12-01T00:00:00+08:00")
    f = svc.ComplaintFilter(level=level.value if level else None, department=department.value if department else None,
                            state=state, due_before=due_before, due_after=due_after,
                            received_month=month_bounds(month) if month else None, repeat=repeat,
                            received_by=received_by.value if received_by else None, special_channel=special_channel)
    rows, total = svc.list_complaints(session, f, limit, offset)
    return Page[ComplaintOut](items=[ComplaintOut.of(r) for r in rows], total=total, limit=limit, offset=offset)


# ---- ops: working-day schedules, alerts, KPIs (before /{complaint_id}) -----------------------------


@complaint_router.get("/calendar/{year}", dependencies=[require(Permission.COMPLAINTS_READ)], response_model=ScheduleOut)
def get_schedule(year: Year, session: SessionDep) -> ScheduleOut:
    if not 2004 <= year <= 2100:
        raise HTTPException(422, detail="year must be between 2004 and 2100")
    loaded = loaded_schedules(session)
    s = load_calendar(session).schedule(year)
    return ScheduleOut(year=year, coverage=coverage(year, loaded), version=s.version, official=s.official,
                       holidays=sorted(s.holidays), workdays=sorted(s.workdays))


@complaint_router.put("/calendar/{year}", response_model=ScheduleLoadedOut,
            responses={422: {"description": "a schedule that cannot be right (wrong year, weekday make-up day, ...)"}})
async def put_schedule(year: Year, body: ScheduleBody, session: SessionDep, temporal: TemporalDep,
                       principal: Annotated[Principal, require(Permission.CALENDAR_MANAGE)]) -> ScheduleLoadedOut:
    """Load (or correct) the official schedule of a year; open regulator tickets whose due time walked through
    that year recompute it (each change is recorded on the ticket)."""
    if not 2004 <= year <= 2100:
        raise HTTPException(422, detail="year must be between 2004 and 2100")
    try:
        done = await svc.load_schedule(session, temporal, year, body.holidays, body.workdays, principal.id, body.note)
    except CalendarError as err:
        raise HTTPException(422, detail=str(err)) from None
    return ScheduleLoadedOut(**done.__dict__)


@complaint_router.get("/alerts", dependencies=[require(Permission.COMPLAINTS_READ)])
def alerts(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    rows = session.exec(select(OpsAlert).order_by(col(OpsAlert.at).desc()).limit(limit)).all()
    return [{"at": r.at, "kind": r.kind, "message": r.message} for r in rows]


@complaint_router.get("/notices", response_model=Page[NoticeOut])
async def list_notices(session: SessionDep, principal: Annotated[Principal, require(Permission.COMPLAINTS_READ)],
                       department: Department | None = None, unacknowledged: bool | None = None,
                       kind: Annotated[str | None, Query(pattern=r"^(supervision|crisis_report|handler_warning)$")] = None,
                       complaint_id: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Page[NoticeOut]:
    """A department's inbox: notices addressed to it, copied to it, and about the tickets it received. A department's
    member sees its own department's only."""
    f = notices.NoticeFilter(department=notices.department_of(principal, department.value if department else None),
                             unacknowledged=unacknowledged, kind=kind, complaint_id=complaint_id)
    rows, total = await run_db(session, notices.list_notices, f, limit, offset)
    return Page[NoticeOut](items=[NoticeOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@complaint_router.post("/notices/{notice_id}/acknowledge", response_model=NoticeOut,
                       responses={403: {"description": "not the addressee's department"}, 404: {"description": "unknown notice"},
                                  409: {"description": "acknowledged already"}})
async def acknowledge_notice(notice_id: RowId, session: SessionDep, temporal: TemporalDep,
                             principal: Annotated[Principal, require(Permission.COMPLAINTS_HANDLE)],
                             body: AcknowledgeBody | None = None) -> NoticeOut:
    """The addressee has read the notice: its daily repeats stop."""
    row = await run_db(session, notices.acknowledge, notice_id, principal, body.note if body else "")
    await notices.stop_repeats(temporal, row)
    return NoticeOut.model_validate(row)


@complaint_router.get("/special-channels", response_model=list[SpecialChannelRow])
async def special_channel_report(session: SessionDep, principal: Annotated[Principal, require(Permission.COMPLAINTS_READ)],
                                 month: Annotated[str, Query(pattern=MONTH_PATTERN)]) -> list[SpecialChannelRow]:
    """The monthly special-channel report (complaint procedure 6.2.1, 6.3): per receiving department, the complaints,
    which have their written reply and documents, and the customers' satisfaction."""
    return [SpecialChannelRow(**r) for r in await run_db(session, special.report, month)]


@complaint_router.get("/special-channels.csv", response_class=Response, responses={200: {"content": {CSV_MEDIA_TYPE: {}}}})
async def special_channel_report_csv(session: SessionDep, principal: Annotated[Principal, require(Permission.COMPLAINTS_READ)],
                                     month: Annotated[str, Query(pattern=MONTH_PATTERN)]):
    rows = await run_db(session, special.report, month)
    return Response(special.report_csv(rows), media_type=CSV_MEDIA_TYPE,
                    headers=attachment(f"special-channel-complaints-{month}.csv"))


@complaint_router.get("/kpis", dependencies=[require(Permission.COMPLAINTS_READ)], response_model=list[kpi.KpiRow])
def kpis(session: SessionDep, month: Annotated[str, Query(pattern=MONTH_PATTERN)],
         department: Department | None = None) -> list[kpi.KpiRow]:
    return kpi.kpis(session, month, department.value if department else None)


@complaint_router.get("/kpis.csv", dependencies=[require(Permission.COMPLAINTS_READ)], response_class=Response, responses={200: {"content": {CSV_MEDIA_TYPE: {}}}})
def kpis_csv(session: SessionDep, month: Annotated[str, Query(pattern=MONTH_PATTERN)], department: Department | None = None):
    rows = kpi.kpis(session, month, department.value if department else None)
    return Response(kpi.to_csv(rows), media_type=CSV_MEDIA_TYPE,
                    headers=attachment(f"complaint-kpis-{month}.csv"))


@complaint_router.get("/kpis.xlsx", dependencies=[require(Permission.COMPLAINTS_READ)], response_class=Response, responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
def kpis_xlsx(session: SessionDep, month: Annotated[str, Query(pattern=MONTH_PATTERN)], department: Department | None = None):
    rows = kpi.kpis(session, month, department.value if department else None)
    return Response(kpi.to_xlsx(rows), media_type=XLSX_MEDIA_TYPE,
                    headers=attachment(f"complaint-kpis-{month}.xlsx"))


SMS_SOURCES = frozenset({"sms-gateway"})


@complaint_router.post("/sms/inbound", response_model=InboundSmsOut,
             responses={401: {"description": "bad signature"}, 403: {"description": "not the SMS gateway"},
                        409: {"description": "a replay"}, 422: {"description": "invalid body"}})
async def inbound_sms(request: Request, session: SessionDep, temporal: TemporalDep) -> InboundSmsOut:
    """A customer's SMS as the gateway pushes it (signed like every push): survey answers reopen or close tickets."""
    _, raw = await verified_push(request, session, SMS_SOURCES)
    try:
        body = InboundSmsBody.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors()[0]
        raise HTTPException(422, detail=f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    msg = svc.InboundMessage(message_id=body.message_id, sender=body.sender, text=body.text, received_at=body.received_at)
    outcome, cid, dup = await svc.inbound_sms(session, temporal, msg)
    return InboundSmsOut(message_id=body.message_id, outcome=outcome, complaint_id=cid, duplicate=dup)


# ---- one complaint --------------------------------------------------------------------------------


@complaint_router.get("/{complaint_id}", response_model=ComplaintDetail, responses={404: {"description": "unknown complaint"}})
async def get_complaint(complaint_id: PathId, session: SessionDep, temporal: TemporalDep, request: Request,
                        principal: Annotated[Principal, require(Permission.COMPLAINTS_READ)],
                        reveal: Annotated[bool, Query(description="the full number, the customer's words and the "
                                                      "handlers' free text, unmasked (customer_data.read; audited)")] = False,
                        ) -> ComplaintDetail:
    """Masked by default: the number as 138****1234, numbers in free text masked, and free text withheld from
    roles that may not read customer data. `?reveal=true` shows it all, and the reveal is on the audit log."""
    if reveal:
        reveal_customer_data(request, principal)
    row, trail = await run_db(session, lambda s: (s.get(Complaint, complaint_id), svc.events_of(s, complaint_id)))
    if row is None:
        raise HTTPException(404, detail=f"unknown complaint {complaint_id}")
    live, why = await svc.live_view(temporal, complaint_id)
    show = free_text_for(principal, reveal)
    events = [EventOut.model_validate(e).model_copy(update={"detail": show(e.detail)})
              for e in trail]
    if live is not None:
        case = live.case
        live = live.model_copy(update={"case": case.model_copy(update={
            "findings": [f.model_copy(update={"text": show(f.text)}) for f in case.findings],
            "replies": [r.model_copy(update={k: show(getattr(r, k)) for k in ("findings", "handling", "reply_to_customer")})
                        for r in case.replies]})})
    return ComplaintDetail(**ComplaintOut.of(row).model_dump(), events=events, live=live, live_error=why,
                           msisdn=row.msisdn if reveal else None, text=show(row.text))


@complaint_router.post("/{complaint_id}/accept", response_model=ComplaintView, responses=_REFUSED)
async def accept(complaint_id: PathId, body: AcceptBody, session: SessionDep, temporal: TemporalDep,
                principal: Annotated[Principal, require(Permission.COMPLAINTS_HANDLE)]):
    return await svc.act(session, temporal, complaint_id, "accept",
                      DepartmentAction(**body.model_dump(), actor=svc.actor_for(principal, body.department)))


@complaint_router.post("/{complaint_id}/transfer", response_model=ComplaintView, responses=_REFUSED)
async def transfer(complaint_id: PathId, body: TransferBody, session: SessionDep, temporal: TemporalDep,
                  principal: Annotated[Principal, require(Permission.COMPLAINTS_HANDLE)]):
    return await svc.act(session, temporal, complaint_id, "transfer",
                      TransferRequest(**body.model_dump(), actor=svc.actor_for(principal, body.department)))


@complaint_router.post("/{complaint_id}/findings", response_model=ComplaintView, responses=_REFUSED)
async def findings(complaint_id: PathId, body: FindingsBody, session: SessionDep, temporal: TemporalDep,
                  principal: Annotated[Principal, require(Permission.COMPLAINTS_HANDLE)]):
    return await svc.act(session, temporal, complaint_id, "add_findings",
                      FindingsRequest(**body.model_dump(), actor=svc.actor_for(principal, body.department)))


@complaint_router.post("/{complaint_id}/reply", response_model=ComplaintView, responses=_REFUSED)
async def reply(complaint_id: PathId, body: ReplyBody, session: SessionDep, temporal: TemporalDep,
               principal: Annotated[Principal, require(Permission.COMPLAINTS_HANDLE)]):
    return await svc.act(session, temporal, complaint_id, "reply",
                      ReplyRequest(**body.model_dump(), actor=svc.actor_for(principal, body.department)))


@complaint_router.post("/{complaint_id}/acceptance", response_model=ComplaintView, responses=_REFUSED)
async def acceptance(complaint_id: PathId, body: AcceptanceBody, session: SessionDep, temporal: TemporalDep,
                    principal: Annotated[Principal, require(Permission.COMPLAINTS_HANDLE)]):
    return await svc.act(session, temporal, complaint_id, "customer_acceptance", AcceptanceRequest(**body.model_dump(), actor=principal.id))


@complaint_router.post("/{complaint_id}/escalate", response_model=ComplaintView, responses=_REFUSED)
async def escalate(complaint_id: PathId, body: EscalateBody, session: SessionDep, temporal: TemporalDep,
                  principal: Annotated[Principal, require(Permission.COMPLAINTS_ESCALATE)]):
    return await svc.act(session, temporal, complaint_id, "escalate", EscalateRequest(**body.model_dump(), actor=principal.id))


def _check_repeat(session: Session, complaint_id: PathId, body: LevelBody) -> None:
    """The same rule as at registration: same number, same type, received within the 30 days before."""
    earlier = session.get(Complaint, body.repeat_of)
    this = session.get(Complaint, complaint_id)
    ctype = body.ctype or (ComplaintType(this.ctype) if this else None)
    if earlier is None or this is None or ctype is None or is_repeat(
            this.msisdn_fingerprint, ctype, this.received_at,
            [PriorComplaint(complaint_id=earlier.id, msisdn_fingerprint=this.msisdn_fingerprint
                            if crypto.key_ring().matches(this.msisdn, earlier.msisdn_fingerprint)
                            else earlier.msisdn_fingerprint,  # the same number under an older key
                            ctype=ComplaintType(earlier.ctype), received_at=earlier.received_at)]) is None:
        raise BusinessError(f"{body.repeat_of} is not a complaint of the same number and type received within "
                            "the 30 days before this one", type="NotARepeat", status=422)


@complaint_router.post("/{complaint_id}/level", response_model=ComplaintView, responses=_REFUSED)
async def correct_level(complaint_id: PathId, body: LevelBody, session: SessionDep, temporal: TemporalDep,
                        principal: Annotated[Principal, require(Permission.COMPLAINTS_CORRECT_LEVEL)]):
    """A repeat or a VIP found late: the ticket reclassifies and recomputes its due time (recorded)."""
    if body.repeat_of is not None:
        await run_db(session, _check_repeat, complaint_id, body)
    return await svc.act(session, temporal, complaint_id, "correct_level",
                      LevelCorrection(**body.model_dump(), actor=principal.id))


# ---- special channels: archive and written reply ------------------------------------------------------


@complaint_router.post("/{complaint_id}/documents", status_code=201, response_model=DocumentOut,
                       responses={404: {"description": "unknown complaint"}, 422: {"description": "empty or too large"}})
async def attach_document(complaint_id: PathId, session: SessionDep,
                          principal: Annotated[Principal, require(Permission.COMPLAINTS_HANDLE)],
                          file: UploadFile, note: Annotated[str, Form(max_length=2000)] = "") -> DocumentOut:
    """Archive a document with the ticket (the letter, the fax, a scanned form, the final reply): complaint procedure
    6.2.1, "special-channel complaint archive"."""
    content = await file.read(special.MAX_DOCUMENT_BYTES + 1)
    doc = await run_db(session, special.attach, complaint_id, file.filename or "document",
                       file.content_type or "application/octet-stream", content, note, principal.id)
    return DocumentOut.model_validate(doc)


@complaint_router.get("/{complaint_id}/documents", response_model=list[DocumentOut])
async def list_documents(complaint_id: PathId, session: SessionDep,
                         principal: Annotated[Principal, require(Permission.COMPLAINTS_READ)]) -> list[DocumentOut]:
    return [DocumentOut.model_validate(d) for d in await run_db(session, special.documents, complaint_id)]


@complaint_router.get("/{complaint_id}/documents/{document_id}", response_class=Response)
async def download_document(complaint_id: PathId, document_id: RowId, session: SessionDep,
                            principal: Annotated[Principal, require(Permission.COMPLAINTS_READ)]):
    doc = await run_db(session, special.document, complaint_id, document_id)
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in doc.name)
    return Response(doc.content, media_type=doc.media_type, headers=attachment(ascii_name or f"document-{doc.id}"))


@complaint_router.post("/{complaint_id}/written-reply", status_code=201, response_model=WrittenReplyOut,
                       responses={404: {"description": "unknown complaint"},
                                  409: {"description": "not a special-channel complaint"},
                                  422: {"description": "an element missing, or a transfer given as a measure"}})
async def written_reply(complaint_id: PathId, body: WrittenReplyBody, session: SessionDep,
                        principal: Annotated[Principal, require(Permission.COMPLAINTS_HANDLE)]) -> WrittenReplyOut:
    """The written reply of a special-channel complaint, with the process, the background, the measures and the
    customer's acceptance (complaint procedure 6.2.2.2). A later one supersedes; all are kept."""
    actor = svc.actor_for(principal, body.department)
    elements = body.model_dump(exclude={"department"})
    reply = await run_db(session, special.write_reply, complaint_id, body.department.value, elements, actor)
    return WrittenReplyOut.model_validate(reply)


@complaint_router.get("/{complaint_id}/written-reply", response_model=list[WrittenReplyOut])
async def list_written_replies(complaint_id: PathId, session: SessionDep,
                               principal: Annotated[Principal, require(Permission.COMPLAINTS_READ)]) -> list[WrittenReplyOut]:
    return [WrittenReplyOut.model_validate(r) for r in await run_db(session, special.written_replies, complaint_id)]


# ---- fee returns ------------------------------------------------------------------------------------


@complaint_router.post("/{complaint_id}/fee-returns", status_code=201, response_model=FeeReturnOut,
             responses={404: {"description": "unknown complaint"}, 409: {"description": "an earlier return of the same kind"},
                        422: {"description": "not the ticket's number, or not a fee return as stated"}})
async def request_fee_return(complaint_id: PathId, body: FeeReturnBody, response: Response, session: SessionDep,
                             temporal: TemporalDep,
                             principal: Annotated[Principal, require(Permission.FEE_RETURNS_REQUEST)],
                             key: Annotated[str, Depends(idempotency_key)]) -> FeeReturnOut:
    req = fees.NewFeeReturn(**body.model_dump(), operator_id=principal.id)
    row, created = await run_db(session, fees.request, complaint_id, key, req)
    await _credit_if_approved(temporal, row)
    response.status_code = 201 if created else 200
    return FeeReturnOut.model_validate(row)


@complaint_router.get("/{complaint_id}/fee-returns", dependencies=[require(Permission.COMPLAINTS_READ)], response_model=list[FeeReturnOut])
def list_fee_returns(complaint_id: PathId, session: SessionDep) -> list[FeeReturnOut]:
    return [FeeReturnOut.model_validate(r) for r in fees.list_for(session, complaint_id)]


async def _credit_if_approved(temporal: Client | None, row) -> None:
    if row.status != FeeReturnStatus.APPROVED:
        return
    if temporal is None:
        raise HTTPException(503, detail=f"fee return {row.id} approved but Temporal is unreachable: POST "
                                        f"/fee-returns/{row.id}/credit to start the credit")
    await fees.ensure_credit(temporal, row)


@fee_router.post("/{fee_return_id}/approve", response_model=FeeReturnOut,
                 responses={403: {"description": "operator approving own return / tier above the role"},
                            409: {"description": "wrong status"}})
async def approve(fee_return_id: PathId, session: SessionDep, temporal: TemporalDep,
                  principal: Annotated[Principal, require(Permission.FEE_RETURNS_APPROVE)]) -> FeeReturnOut:
    row = await run_db(session, fees.approve, fee_return_id, principal.id, fees.approval_role(principal))
    await _credit_if_approved(temporal, row)
    return FeeReturnOut.model_validate(row)


@fee_router.post("/{fee_return_id}/reject", response_model=FeeReturnOut)
def reject(fee_return_id: PathId, body: RejectBody, session: SessionDep,
           principal: Annotated[Principal, require(Permission.FEE_RETURNS_APPROVE)]) -> FeeReturnOut:
    return FeeReturnOut.model_validate(fees.reject(session, fee_return_id, principal.id, fees.approval_role(principal),
                                                   body.reason))


@fee_router.post("/{fee_return_id}/audit", response_model=FeeReturnOut,
                 responses={403: {"description": "the operator is never the auditor"}})
async def audit(fee_return_id: PathId, body: AuditBody, session: SessionDep, temporal: TemporalDep,
                principal: Annotated[Principal, require(Permission.FEE_RETURNS_AUDIT)]) -> FeeReturnOut:
    row = await run_db(session, fees.audit, fee_return_id, principal.id, FeeRole.AUDITOR, body.ok, body.note)
    await _credit_if_approved(temporal, row)
    return FeeReturnOut.model_validate(row)


@fee_router.post("/{fee_return_id}/verification", response_model=VerifyOut)
async def verify_value_added(fee_return_id: PathId, body: VerifyBody, session: SessionDep, temporal: TemporalDep,
                             principal: Annotated[Principal, require(Permission.FEE_RETURNS_VERIFY)]) -> VerifyOut:
    original, added = await run_db(session, fees.verify_value_added, fee_return_id, principal.id, body.confirmed)
    if added is not None:
        await _credit_if_approved(temporal, added)
    return VerifyOut(original=FeeReturnOut.model_validate(original),
                     top_up=FeeReturnOut.model_validate(added) if added else None)


@fee_router.post("/{fee_return_id}/credit", dependencies=[require(Permission.FEE_RETURNS_CREDIT)], response_model=FeeReturnOut, responses={409: {"description": "not approved"}})
async def credit(fee_return_id: PathId, session: SessionDep, temporal: TemporalDep) -> FeeReturnOut:
    """(Re)start the credit of an approved return, e.g. after Temporal was unreachable at approval."""
    row = await run_db(session, lambda s: s.get(FeeReturn, fee_return_id))
    if row is None:
        raise HTTPException(404, detail=f"unknown fee return {fee_return_id}")
    if row.status != FeeReturnStatus.APPROVED:
        raise HTTPException(409, detail=f"fee return {row.id} is {row.status}, not approved")
    await _credit_if_approved(temporal, row)
    return FeeReturnOut.model_validate(row)


@fee_router.post("/{fee_return_id}/retry-credit", response_model=FeeReturnOut,
                 responses={409: {"description": "not a refused credit"}, 503: {"description": "Temporal unreachable: nothing changed"}})
async def retry_credit(fee_return_id: PathId, body: CreditResolutionBody, session: SessionDep, temporal: TemporalDep,
                       principal: Annotated[Principal, require(Permission.FEE_RETURNS_CREDIT)]) -> FeeReturnOut:
    """A credit the billing system refused: ask again with the same credit id (the billing system never books it twice)."""
    row = await run_db(session, fees.check_credit_failed, fee_return_id)
    await fees.resolve_credit(temporal, row, CreditResolution.RETRY, principal.id, body.reason)
    return FeeReturnOut.model_validate(row)


@fee_router.post("/{fee_return_id}/cancel-credit", response_model=FeeReturnOut,
                 responses={409: {"description": "not a refused credit"}, 503: {"description": "Temporal unreachable: nothing changed"}})
async def cancel_credit(fee_return_id: PathId, body: CreditResolutionBody, session: SessionDep, temporal: TemporalDep,
                        principal: Annotated[Principal, require(Permission.FEE_RETURNS_CREDIT)]) -> FeeReturnOut:
    """Give up a credit the billing system refused; the reason is kept on the return (nothing was credited)."""
    row = await run_db(session, fees.check_credit_failed, fee_return_id)
    await fees.resolve_credit(temporal, row, CreditResolution.CANCEL, principal.id, body.reason)
    return FeeReturnOut.model_validate(row)


router = APIRouter()
router.include_router(complaint_router)
router.include_router(fee_router)

"""Account cancellations: start, read (with the to-do list and the parcel-like timeline), act (workflow updates),
the follow-up calls and the monthly report."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import Session
from temporalio.client import Client

from api.cancellations.schemas import (
    AppointmentBody,
    CancellationDetail,
    CancellationOut,
    ClearBody,
    FollowUpBody,
    FollowUpOut,
    NoteBody,
    StartCancellation,
    StepOut,
    TodoItemOut,
    WithdrawBody,
)
from api.deps import (
    IDEMPOTENCY_HEADER,
    get_session,
    get_temporal_optional,
    idempotency_key,
    require,
    run_db,
    start_process,
)
from api.schemas import MAX_OFFSET, MONTH_PATTERN, Page, PathId
from core.access import Permission, Principal
from core.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, attachment
from domain.cancellations import State
from domain.orders.carriers import Carrier
from services import cancellations as svc
from workflows.cancellations import contract
from workflows.cancellations.contract import (
    AppointmentRequest,
    CancellationView,
    ClearRequest,
    DocumentsRequest,
    FollowUpRequest,
    WithdrawRequest,
)

router = APIRouter(prefix="/cancellations", tags=["cancellations"])

SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client | None, Depends(get_temporal_optional)]
_REFUSED = {403: {"description": "not allowed for this caller (evidence by a clerk only)"},
            404: {"description": "unknown cancellation or to-do item"},
            409: {"description": "refused in this state (not eligible, cooling-off over, closed)"},
            422: {"description": "refused by the rules or the carrier, with type and reason"},
            503: {"description": "Temporal unreachable"}}


@router.post("", status_code=201, response_model=CancellationOut,
             responses={200: {"description": "same Idempotency-Key: the original cancellation"},
                        400: {"description": "missing Idempotency-Key"},
                        409: {"description": "key reused, or the number already has an open cancellation"},
                        422: {"description": "invalid body"}, 503: {"description": "stored, workflow not started: retry"}})
async def start(body: StartCancellation, response: Response, session: SessionDep, temporal: TemporalDep,
                principal: Annotated[Principal, require(Permission.CANCELLATIONS_REQUEST)],
                key: Annotated[str, Depends(idempotency_key)]) -> CancellationOut:
    """Start a cancellation: the carrier's pre-check runs at once; the answer is eligible or a to-do list."""
    req = svc.NewCancellation(msisdn=body.msisdn, carrier=body.carrier, documents_checked=body.documents_checked,
                              appointment_at=body.appointment_at, appointment_hall=body.appointment_hall)
    started = await run_db(session, svc.start, key, req, principal)
    await start_process(temporal, lambda client: svc.ensure_workflow(client, started.case),
                        f"cancellation {started.row.id}", f"retry with the same {IDEMPOTENCY_HEADER}",
                        cancellation_id=started.row.id)
    response.status_code = 201 if started.created else 200
    return CancellationOut.model_validate(started.row)


@router.get("", response_model=Page[CancellationOut])
def list_cancellations(session: SessionDep, principal: Annotated[Principal, require(Permission.CANCELLATIONS_READ)],
                       state: State | None = None, carrier: Carrier | None = None,
                       month: Annotated[str | None, Query(pattern=MONTH_PATTERN, description="requested in")] = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0):
    f = svc.CancellationFilter(state=state.value if state else None, carrier=carrier.value if carrier else None,
                               month=month)
    rows, total = svc.list_cancellations(session, f, principal, limit, offset)
    return Page[CancellationOut](items=[CancellationOut.model_validate(r) for r in rows], total=total, limit=limit,
                                 offset=offset)


@router.get("/report", dependencies=[require(Permission.CANCELLATIONS_READ)], response_model=svc.MonthlyReport)
def report(session: SessionDep, month: Annotated[str, Query(pattern=MONTH_PATTERN)]) -> svc.MonthlyReport:
    """Started, completed, withdrawn during the cooling-off, failed; each obstacle type with the days it added."""
    return svc.monthly_report(session, month)


@router.get("/report.csv", dependencies=[require(Permission.CANCELLATIONS_READ)], response_class=Response,
            responses={200: {"content": {CSV_MEDIA_TYPE: {}}}})
def report_csv(session: SessionDep, month: Annotated[str, Query(pattern=MONTH_PATTERN)]):
    return Response(svc.report_csv(svc.monthly_report(session, month)), media_type=CSV_MEDIA_TYPE,
                    headers=attachment(f"cancellations-{month}.csv"))


@router.get("/report.xlsx", dependencies=[require(Permission.CANCELLATIONS_READ)], response_class=Response,
            responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
def report_xlsx(session: SessionDep, month: Annotated[str, Query(pattern=MONTH_PATTERN)]):
    return Response(svc.report_xlsx(svc.monthly_report(session, month)), media_type=XLSX_MEDIA_TYPE,
                    headers=attachment(f"cancellations-{month}.xlsx"))


@router.get("/follow-ups", dependencies=[require(Permission.CANCELLATIONS_HANDLE)], response_model=list[FollowUpOut])
def follow_ups(session: SessionDep, open_only: Annotated[bool, Query(alias="open")] = True,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[FollowUpOut]:
    """The follow-up call tasks (48 h after each cancellation), oldest due first."""
    return [FollowUpOut.model_validate(t) for t in svc.follow_up_calls(session, open_only, limit)]


@router.get("/{cancellation_id}", response_model=CancellationDetail, responses={404: {"description": "unknown"}})
async def get_cancellation(cancellation_id: PathId, session: SessionDep, temporal: TemporalDep,
                           principal: Annotated[Principal, require(Permission.CANCELLATIONS_READ)]) -> CancellationDetail:
    # row and items from one snapshot, read in a worker thread before the transaction ends (no lock held, and
    # nothing blocking the event loop, while Temporal answers)
    def read(s: Session) -> tuple[CancellationOut, list[TodoItemOut]]:
        return (CancellationOut.model_validate(svc.get(s, cancellation_id, principal)),
                [TodoItemOut.model_validate(o) for o in svc.obstacles(s, cancellation_id)])

    out, items = await run_db(session, read)
    live, why = await svc.live_view(temporal, cancellation_id)
    return CancellationDetail(**out.model_dump(), obstacles=items,
                              todo=[i for i in items if i.cleared_at is None],
                              waiting_for=live.waiting_for if live else [], live_error=why)


@router.get("/{cancellation_id}/timeline", response_model=list[StepOut], responses={404: {"description": "unknown"}})
def timeline(cancellation_id: PathId, session: SessionDep,
             principal: Annotated[Principal, require(Permission.CANCELLATIONS_READ)]) -> list[StepOut]:
    """Every step so far, like a parcel's tracking: document review, early-termination calculation, contract
    handling, confirmation, cooling-off, cancellation, follow-up; each with its time and who did it."""
    return [StepOut.model_validate(e) for e in svc.timeline(session, cancellation_id, principal)]


@router.post("/{cancellation_id}/clear", response_model=CancellationView, responses=_REFUSED)
async def clear(cancellation_id: PathId, body: ClearBody, session: SessionDep, temporal: TemporalDep,
                principal: Annotated[Principal, require(Permission.CANCELLATIONS_REQUEST)]) -> CancellationView:
    """Clear one to-do item: through the carrier (pay, cancel the service, leave the plan) or, for a clerk, with
    evidence. The last item cleared starts the re-check."""
    req = ClearRequest(actor=svc.actor_of(principal), item_id=body.item_id, via=body.via, evidence=body.evidence)
    return await svc.act(session, temporal, cancellation_id, contract.Update.CLEAR_ITEM, req, principal)


@router.post("/{cancellation_id}/documents", response_model=CancellationView, responses=_REFUSED)
async def review_documents(cancellation_id: PathId, body: NoteBody, session: SessionDep, temporal: TemporalDep,
                           principal: Annotated[Principal, require(Permission.CANCELLATIONS_HANDLE)]) -> CancellationView:
    req = DocumentsRequest(actor=principal.id, note=body.note)
    return await svc.act(session, temporal, cancellation_id, contract.Update.REVIEW_DOCUMENTS, req, principal)


@router.post("/{cancellation_id}/appointment", response_model=CancellationView, responses=_REFUSED)
async def book_appointment(cancellation_id: PathId, body: AppointmentBody, session: SessionDep, temporal: TemporalDep,
                           principal: Annotated[Principal, require(Permission.CANCELLATIONS_REQUEST)]) -> CancellationView:
    """An appointment at a service hall: an SMS 3 days before (never 22:00-07:00) lists the documents to bring."""
    req = AppointmentRequest(actor=svc.actor_of(principal), at=body.at, hall=body.hall)
    return await svc.act(session, temporal, cancellation_id, contract.Update.BOOK_APPOINTMENT, req, principal)


@router.post("/{cancellation_id}/confirm", response_model=CancellationView, responses=_REFUSED)
async def confirm(cancellation_id: PathId, session: SessionDep, temporal: TemporalDep,
                  principal: Annotated[Principal, require(Permission.CANCELLATIONS_REQUEST)]) -> CancellationView:
    """The customer confirms: the 72-hour cooling-off starts; after it the carrier cancels the number."""
    req = DocumentsRequest(actor=svc.actor_of(principal))
    return await svc.act(session, temporal, cancellation_id, contract.Update.CONFIRM, req, principal)


@router.post("/{cancellation_id}/withdraw", response_model=CancellationView, responses=_REFUSED)
async def withdraw(cancellation_id: PathId, body: WithdrawBody, session: SessionDep, temporal: TemporalDep,
                   principal: Annotated[Principal, require(Permission.CANCELLATIONS_REQUEST)]) -> CancellationView:
    """The customer changes their mind (any time before the cooling-off ends): the number stays active."""
    req = WithdrawRequest(actor=svc.actor_of(principal), reason=body.reason)
    return await svc.act(session, temporal, cancellation_id, contract.Update.WITHDRAW, req, principal)


@router.post("/{cancellation_id}/follow-up", response_model=CancellationView, responses=_REFUSED)
async def follow_up(cancellation_id: PathId, body: FollowUpBody, session: SessionDep, temporal: TemporalDep,
                    principal: Annotated[Principal, require(Permission.CANCELLATIONS_HANDLE)]) -> CancellationView:
    """The follow-up call's outcome; a customer with a problem is called back by a person first."""
    req = FollowUpRequest(actor=principal.id, outcome=body.outcome, note=body.note)
    return await svc.act(session, temporal, cancellation_id, contract.Update.RECORD_FOLLOW_UP, req, principal)

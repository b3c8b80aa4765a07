"""Registering complaints, department actions, inbound survey answers and working-day schedules.

Registration is idempotent on the client's Idempotency-Key: the row is written first (unique key) with
its level, repeat detection and due time, then the workflow `complaint-<id>` starts with USE_EXISTING,
so a retry after a crash between the two only ensures the workflow. Department actions are workflow
updates; the workflow's validators refuse bad ones and the refusal comes back as `ActionRefused` with
the domain's type and reason (refused replies are also recorded: they count as unqualified replies).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import structlog
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from core import crypto
from core.access import Principal
from core.db import utcnow
from core.errors import (
    BusinessError,
    Conflict,
    Forbidden,
    IdempotencyConflict,
    NotFound,
    Refused,
    TemporalUnavailable,
)
from core.temporal import live_query
from db.complaints import Complaint, ComplaintEvent, InboundSms
from domain.clock import SHANGHAI, require_aware
from domain.complaints.complaint import (
    REPEAT_WINDOW,
    Case,
    ComplaintFacts,
    ComplaintType,
    Customer,
    Department,
    DueDecision,
    PriorComplaint,
    Source,
    Stage,
    classify,
    due_time,
    is_repeat,
    is_special_channel,
    open_case,
    read_survey_answer,
)
from domain.msisdn import mask_msisdn
from services.complaints.calendar import affected_open_tickets, load_calendar, save_schedule, version_of
from workflows.complaints import contract
from workflows.complaints.contract import ComplaintStart, ComplaintView, RecomputeDue, SurveyReply

log = structlog.get_logger(__name__)

UPDATE_TIMEOUT_S = 20.0
MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_LATE_REGISTRATION = timedelta(days=30)

# Refusal types from domain.complaints.complaint -> HTTP status
REFUSAL_STATUS = {
    "NotHandlingDepartment": 403,
    "WrongStage": 409, "AlreadyAccepted": 409, "NotAccepted": 409, "NoSurveyOpen": 409, "SurveyClosed": 409,
    "TransferBack": 422, "TransferToSelf": 422, "UnqualifiedReply": 422, "EmptyFindings": 422, "EmptyReason": 422,
    "NothingToCorrect": 422, "NotARepeat": 422,
}


class InvalidComplaint(Refused):
    pass


class UnknownComplaint(NotFound):
    pass


class TicketClosed(Conflict):
    pass


class ActionRefused(BusinessError):
    """The workflow refused a department's action; its type is the domain's refusal (WrongStage, ...)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason, type=kind, status=REFUSAL_STATUS.get(kind, 409))

    @property
    def kind(self) -> str:
        return self.type


@dataclass(frozen=True)
class NewComplaint:
    msisdn: str
    customer: Customer
    source: Source
    ctype: ComplaintType
    receiving_department: Department
    text: str = ""
    multi_department: bool = False
    received_at: datetime | None = None
    special_channel: bool = False  # flagged by the desk for a special channel the source does not name (6.1)


@dataclass
class Registration:
    complaint: Complaint
    case: Case
    created: bool


def new_complaint_id(at: datetime) -> str:
    return f"C{at.astimezone(SHANGHAI):%y%m%d}{uuid.uuid4().hex[:8].upper()}"


def _by_key(session: Session, key: str) -> Complaint | None:
    return session.exec(select(Complaint).where(Complaint.idempotency_key == key)).first()


def case_of(row: Complaint) -> Case:
    """The case a complaint row starts its workflow with (also used to re-ensure the workflow on a retry)."""
    facts = ComplaintFacts(complaint_id=row.id, msisdn_masked=row.msisdn_masked, msisdn_fingerprint=row.msisdn_fingerprint,
                           source=Source(row.source), customer=Customer(row.customer), ctype=ComplaintType(row.ctype),
                           multi_department=row.multi_department, receiving_department=Department(row.receiving_department),
                           received_at=row.received_at, repeat_of=row.repeat_of)
    level = classify(facts.source, facts.customer, facts.ctype, facts.multi_department)
    due = DueDecision(due_at=row.due_at, started_at=row.received_at, limit=row.due_limit,
                      working_days=row.calendar_version is not None, halved=row.repeat_of is not None,
                      calendar_version=row.calendar_version, fallback=row.calendar_fallback, explanation=row.due_explanation)
    return open_case(facts, level, due)


def register(session: Session, key: str, req: NewComplaint, now: datetime | None = None) -> Registration:
    now = now or utcnow()
    ring = crypto.key_ring()
    fingerprint = ring.fingerprint(req.msisdn)
    existing = _by_key(session, key)
    if existing is not None:
        differs = [n for n, a, b in (("msisdn", ring.matches(req.msisdn, existing.msisdn_fingerprint), True), ("type", existing.ctype, req.ctype.value),
                                      ("source", existing.source, req.source.value)) if a != b]
        if differs:
            raise IdempotencyConflict(f"Idempotency-Key already used for complaint {existing.id} with a different "
                                      f"{', '.join(differs)}")
        return Registration(existing, case_of(existing), created=False)

    received_at = require_aware(req.received_at) if req.received_at else now
    if received_at > now + MAX_FUTURE_SKEW:
        raise InvalidComplaint(f"received_at {received_at.isoformat()} is in the future")
    if received_at < now - MAX_LATE_REGISTRATION:
        raise InvalidComplaint("received_at is more than 30 days ago: register it as received now and say so in the text")

    earlier = session.exec(select(Complaint).where(col(Complaint.msisdn_fingerprint).in_(ring.fingerprints(req.msisdn)),
                                                   Complaint.ctype == req.ctype.value,
                                                   Complaint.received_at >= received_at - REPEAT_WINDOW)).all()
    prior = is_repeat(fingerprint, req.ctype, received_at, [
        PriorComplaint(complaint_id=c.id, msisdn_fingerprint=fingerprint, ctype=ComplaintType(c.ctype),  # same number, any key
                       received_at=c.received_at) for c in earlier])
    level = classify(req.source, req.customer, req.ctype, req.multi_department)
    due = due_time(level.level, prior is not None, received_at, load_calendar(session))
    for _ in range(3):
        cid = new_complaint_id(received_at)
        row = Complaint(id=cid, idempotency_key=key, msisdn=req.msisdn, msisdn_masked=mask_msisdn(req.msisdn),
                        msisdn_fingerprint=fingerprint, source=req.source.value, customer=req.customer.value,
                        ctype=req.ctype.value, multi_department=req.multi_department, text=req.text,
                        special_channel=is_special_channel(req.source, req.special_channel),
                        receiving_department=req.receiving_department.value,
                        handling_department=req.receiving_department.value, received_at=received_at,
                        level=level.level.value, level_reasons="\n".join(level.reasons),
                        repeat_of=prior.complaint_id if prior else None, due_at=due.due_at, due_limit=due.limit,
                        due_explanation=due.explanation, calendar_version=due.calendar_version,
                        calendar_fallback=due.fallback, state=Stage.AWAITING_DEPARTMENT.value, updated_at=now)
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            if (existing := _by_key(session, key)) is not None:
                return Registration(existing, case_of(existing), created=False)
            continue
        session.refresh(row)
        if due.fallback:
            log.warning("complaint due time on the weekday estimate", complaint_id=cid,
                        calendar_version=due.calendar_version)
        log.info("complaint registered", complaint_id=cid, level=level.level.value, repeat_of=row.repeat_of,
                 due_at=due.due_at.isoformat(), msisdn=row.msisdn_masked)
        return Registration(row, case_of(row), created=True)
    raise RuntimeError("could not allocate a complaint id")


async def ensure_workflow(client: Client, case: Case) -> None:
    try:
        await client.start_workflow(
            contract.COMPLAINT_WORKFLOW, ComplaintStart(case=case), id=contract.complaint_workflow_id(case.facts.complaint_id),
            task_queue=contract.TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(contract.COMPLAINT_LEVEL, case.level.value),
                SearchAttributePair(contract.DEPARTMENT, [case.handling_department.value]),
                SearchAttributePair(contract.DUE_AT, case.due.due_at),
                SearchAttributePair(contract.COMPLAINT_STATE, case.public_state()),
            ]),
            memo={"summary": f"level {case.level.value} {case.facts.ctype.value} {case.facts.msisdn_masked}"},
            static_summary=contract.complaint_summary(case),
        )
    except WorkflowAlreadyStartedError:
        log.info("complaint workflow already closed", complaint_id=case.facts.complaint_id)


# ---- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintFilter:
    level: str | None = None
    department: str | None = None
    state: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    received_month: tuple[datetime, datetime] | None = None
    repeat: bool | None = None
    received_by: str | None = None  # the receiving department, first responsible wherever the ticket is now
    special_channel: bool | None = None


def list_complaints(session: Session, f: ComplaintFilter, limit: int, offset: int) -> tuple[list[Complaint], int]:
    conds = []
    if f.level:
        conds.append(Complaint.level == f.level)
    if f.department:
        conds.append(Complaint.handling_department == f.department)
    if f.state:
        conds.append(Complaint.state == f.state)
    if f.due_before:
        conds.append(Complaint.due_at < f.due_before)
    if f.due_after:
        conds.append(Complaint.due_at >= f.due_after)
    if f.received_month:
        conds += [Complaint.received_at >= f.received_month[0], Complaint.received_at < f.received_month[1]]
    if f.repeat is not None:
        conds.append(col(Complaint.repeat_of).is_not(None) if f.repeat else col(Complaint.repeat_of).is_(None))
    if f.received_by:
        conds.append(Complaint.receiving_department == f.received_by)
    if f.special_channel is not None:
        conds.append(Complaint.special_channel == f.special_channel)
    total = session.exec(select(func.count()).select_from(Complaint).where(*conds)).one()
    rows = session.exec(select(Complaint).where(*conds).order_by(col(Complaint.due_at), col(Complaint.id))
                        .limit(limit).offset(offset)).all()
    return list(rows), int(total)


def events_of(session: Session, complaint_id: str) -> list[ComplaintEvent]:
    return list(session.exec(select(ComplaintEvent).where(ComplaintEvent.complaint_id == complaint_id)
                             .order_by(col(ComplaintEvent.at), col(ComplaintEvent.id))).all())


async def live_view(client: Client | None, complaint_id: str) -> tuple[ComplaintView | None, str]:
    return await live_query(client, contract.complaint_workflow_id(complaint_id), contract.VIEW, ComplaintView)


# ---- acting ---------------------------------------------------------------------------------------


async def act(session: Session, client: Client | None, complaint_id: str, update: str, payload,
              update_id: str | None = None) -> ComplaintView:
    """Run a department/ops action as a workflow update; a refusal raises ActionRefused with the domain's type."""
    def exists() -> bool:
        # End the read transaction before waiting on the workflow: on SQLite every transaction takes the write
        # lock, and the update's own activities must write while we wait.
        try:
            return session.get(Complaint, complaint_id) is not None
        finally:
            session.commit()

    if not await asyncio.to_thread(exists):  # the database off the event loop
        raise UnknownComplaint(f"unknown complaint {complaint_id}")
    if client is None:
        raise TemporalUnavailable("Temporal is unreachable; retry later")
    handle = client.get_workflow_handle(contract.complaint_workflow_id(complaint_id))
    try:
        return await asyncio.wait_for(handle.execute_update(update, payload, id=update_id, result_type=ComplaintView),
                                      UPDATE_TIMEOUT_S)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        kind = cause.type if isinstance(cause, ApplicationError) and cause.type else "Refused"
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
        if kind == "UnqualifiedReply":
            await asyncio.to_thread(_record_refused_reply, session, complaint_id, payload, reason)
        log.info("complaint action refused", complaint_id=complaint_id, action=update, refusal=kind, reason=reason)
        raise ActionRefused(kind, reason) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise TicketClosed(f"complaint {complaint_id} is closed (its workflow has finished): {err.message}") from None
        raise TemporalUnavailable(f"Temporal error: {err.message}") from None
    except TimeoutError:
        raise TemporalUnavailable(f"no answer from the complaint workflow within {UPDATE_TIMEOUT_S:g}s; retry") from None


def _record_refused_reply(session: Session, complaint_id: str, payload, reason: str) -> None:
    session.add(ComplaintEvent(key=f"{complaint_id}:api:{uuid.uuid4().hex}", complaint_id=complaint_id, at=utcnow(),
                               kind="reply_refused", department=getattr(payload, "department", None) and payload.department.value,
                               actor=getattr(payload, "actor", ""), detail=reason))
    session.commit()


# ---- inbound SMS (survey answers) -----------------------------------------------------------------


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    sender: str
    text: str
    received_at: datetime


async def inbound_sms(session: Session, client: Client | None, msg: InboundMessage) -> tuple[str, str | None, bool]:
    """(outcome, complaint id, duplicate). The survey answer reaches the ticket as an update whose id is the
    gateway's message id, so a re-delivered SMS is applied once. The database is read and written in worker
    threads, each in a short transaction: none is open while the update goes to Temporal."""
    fp = crypto.fingerprint(msg.sender)

    def lookup() -> tuple[InboundSms | None, str | None]:
        try:
            seen = session.get(InboundSms, msg.message_id)
            ticket = session.exec(select(Complaint.id).where(
                col(Complaint.msisdn_fingerprint).in_(crypto.fingerprints(msg.sender)),
                Complaint.state == Stage.SURVEY.value)
                                  .order_by(col(Complaint.updated_at).desc())).first()
            return seen, ticket
        finally:
            session.rollback()

    seen, complaint_id = await asyncio.to_thread(lookup)
    if seen is not None:
        return seen.outcome, seen.complaint_id, True
    answer = read_survey_answer(msg.text)
    if complaint_id is None:
        outcome = "no_open_survey"
    elif answer is None:
        outcome = "not_an_answer"
    else:
        try:
            await act(session, client, complaint_id, "survey_answer",
                      SurveyReply(message_id=msg.message_id, answer=answer, received_at=msg.received_at),
                      update_id=f"sms-{msg.message_id}")
            outcome = "reopened" if answer.value == "dissatisfied" else "closed_satisfied"
        except (ActionRefused, TicketClosed) as err:
            outcome = f"refused: {err.reason}"

    def store() -> bool:
        session.add(InboundSms(message_id=msg.message_id, msisdn_fingerprint=fp, text=msg.text[:500],
                               received_at=msg.received_at, complaint_id=complaint_id, outcome=outcome))
        try:
            session.commit()
            return True
        except IntegrityError:  # the same message delivered twice at once: the update id made it count once
            session.rollback()
            return False

    if not await asyncio.to_thread(store):
        return outcome, complaint_id, True
    log.info("inbound SMS", message_id=msg.message_id, complaint_id=complaint_id, outcome=outcome)
    return outcome, complaint_id, False


# ---- working-day schedules ------------------------------------------------------------------------


@dataclass
class ScheduleLoaded:
    year: int
    revision: int
    version: str
    signalled: list[str]
    not_signalled: list[str]


async def load_schedule(session: Session, client: Client | None, year: int, holidays: list[date], workdays: list[date],
                        loaded_by: str, note: str) -> ScheduleLoaded:
    def save() -> tuple[int, list[str]]:
        row = save_schedule(session, year, holidays, workdays, loaded_by, note)
        affected = affected_open_tickets(session, year)
        revision = row.revision
        session.commit()  # no transaction held while the tickets' activities recompute and write
        return revision, affected

    revision, affected = await asyncio.to_thread(save)
    version = version_of(year, revision)
    signalled, missed = [], []
    reason = f"working-day schedule {version} loaded by {loaded_by}"
    for cid in affected:
        try:
            if client is None:
                raise RuntimeError("Temporal unreachable")
            await client.get_workflow_handle(contract.complaint_workflow_id(cid)).signal(contract.RECOMPUTE_DUE, RecomputeDue(reason=reason))
            signalled.append(cid)
        except Exception as err:  # noqa: BLE001 - reported to the caller, who loads again to retry
            log.warning("due recompute not signalled", complaint_id=cid, error=str(err))
            missed.append(cid)
    log.info("working-day schedule loaded", year=year, version=version, loaded_by=loaded_by, signalled=len(signalled))
    return ScheduleLoaded(year, revision, version, signalled, missed)


def actor_for(principal: Principal, department: Department) -> str:
    """The actor's id, once it may act for `department`: a department's people act for their own only."""
    if principal.department is not None and principal.department != department:
        raise Forbidden(f"{principal.id} acts for {principal.department}, not {department}", type="other_department")
    return principal.id


def count_overdue_open(session: Session) -> int:
    """Tickets past their due time and not yet closed (a gauge of /metrics)."""
    return int(session.exec(select(func.count()).select_from(Complaint)
                            .where(col(Complaint.overdue).is_(True), col(Complaint.closed_at).is_(None))).one())

"""Account cancellations: start one, act on it (workflow updates), read it, its timeline, the follow-up calls and
the monthly report.

Start is idempotent on the client's Idempotency-Key: the row is written first, then the workflow
`cancellation-<id>` starts with USE_EXISTING, so a retry after a crash between the two only ensures the workflow.
One open cancellation per number is the database's unique `open_number_key` (the number's fingerprint while the
case is open); the id is ours (`CX...`), so no phone number enters a workflow id or a search attribute.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime

import structlog
from pydantic import BaseModel
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
from core.access import Principal, Role
from core.db import utcnow
from core.errors import BusinessError, Conflict, Forbidden, IdempotencyConflict, NotFound, TemporalUnavailable
from core.exports import csv_bytes, xlsx_bytes
from core.temporal import live_query
from db.cancellations import Cancellation, CancellationObstacle, CancellationProgress, FollowUpCall
from domain.cancellations import (
    Appointment,
    Case,
    Channel,
    ClearVia,
    ObstacleKind,
    State,
    days_added,
    open_case,
)
from domain.clock import SHANGHAI, month_bounds
from domain.msisdn import mask_msisdn
from domain.orders.carriers import Carrier
from services.orders.order import order_of_number
from workflows.cancellations import contract
from workflows.cancellations.contract import CancellationStart, CancellationView
from workflows.orders.contract import CARRIER

log = structlog.get_logger(__name__)

UPDATE_TIMEOUT_S = 20.0

REFUSAL_STATUS = {
    "WrongState": 409, "AlreadyCleared": 409, "AlreadyReviewed": 409, "CoolingOffOver": 409, "NotEligible": 409,
    "DocumentsNotReviewed": 409, "UnknownItem": 404, "EvidenceMissing": 422, "AppointmentPast": 422,
    "CarrierRefused": 422,
}


class UnknownCancellation(NotFound):
    pass


class CancellationOpen(Conflict):
    """This number already has an open cancellation."""


class CancellationClosed(Conflict):
    pass


class ActionRefused(BusinessError):
    """The workflow refused an action; its type is the domain's refusal (NotEligible, CoolingOffOver, ...)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason, type=kind, status=REFUSAL_STATUS.get(kind, 409))


@dataclass(frozen=True)
class NewCancellation:
    msisdn: str
    carrier: Carrier
    documents_checked: bool = False
    appointment_at: datetime | None = None
    appointment_hall: str = ""


@dataclass
class Started:
    row: Cancellation
    case: Case
    created: bool


def channel_of(principal: Principal) -> Channel:
    """A self-service client acts for the customer it verified; everyone else is a clerk at a service hall."""
    return Channel.SELF_SERVICE if Role.SELF_SERVICE in principal.roles and not (
        principal.roles & {Role.SERVICE_CLERK, Role.ADMIN}) else Channel.SERVICE_HALL


def actor_of(principal: Principal) -> str:
    return f"self_service:{principal.id}" if channel_of(principal) == Channel.SELF_SERVICE else principal.id


def new_cancellation_id(at: datetime) -> str:
    return f"CX{at.astimezone(SHANGHAI).strftime('%Y%m%d')}{secrets.token_hex(4).upper()}"


def _by_key(session: Session, key: str) -> Cancellation | None:
    return session.exec(select(Cancellation).where(Cancellation.idempotency_key == key)).first()


def _open_for(session: Session, fingerprints: list[str]) -> Cancellation | None:
    """`fingerprints`: the number's under every readable key (a case opened before a key rotation still counts)."""
    return session.exec(select(Cancellation).where(col(Cancellation.open_number_key).in_(fingerprints))).first()


def start(session: Session, key: str, req: NewCancellation, principal: Principal,
          now: datetime | None = None) -> Started:
    now = now or utcnow()
    fingerprint, every_fingerprint = crypto.fingerprint(req.msisdn), crypto.fingerprints(req.msisdn)
    existing = _by_key(session, key)
    if existing is not None:
        if existing.msisdn_fingerprint not in every_fingerprint or existing.carrier != req.carrier.value:
            raise IdempotencyConflict(f"Idempotency-Key already used for cancellation {existing.id} of another number")
        return Started(existing, first_case(existing, req, principal), created=False)
    channel = channel_of(principal)
    if req.documents_checked and channel != Channel.SERVICE_HALL:
        raise Forbidden("only a clerk at the counter sees the original documents", type="documents_at_counter")
    if (open_row := _open_for(session, every_fingerprint)) is not None:
        raise CancellationOpen(f"this number already has an open cancellation, {open_row.id} ({open_row.state})")
    stock_order = order_of_number(session, every_fingerprint)
    for _ in range(3):
        cid = new_cancellation_id(now)
        row = Cancellation(id=cid, idempotency_key=key, msisdn=req.msisdn.strip(), msisdn_masked=mask_msisdn(req.msisdn),
                           msisdn_fingerprint=fingerprint, open_number_key=fingerprint, carrier=req.carrier.value,
                           channel=channel.value, requested_by=actor_of(principal), requested_at=now,
                           month=now.astimezone(SHANGHAI).strftime("%Y%m"), state=State.PRECHECKING.value,
                           from_own_stock=stock_order is not None, stock_order_id=stock_order,
                           appointment_at=req.appointment_at, appointment_hall=req.appointment_hall, updated_at=now)
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            if (existing := _by_key(session, key)) is not None:
                return Started(existing, first_case(existing, req, principal), created=False)
            if (open_row := _open_for(session, every_fingerprint)) is not None:  # a parallel start won
                raise CancellationOpen(f"this number already has an open cancellation, {open_row.id}") from None
            continue
        session.refresh(row)
        log.info("cancellation requested", cancellation_id=cid, to=row.msisdn_masked, carrier=row.carrier,
                 channel=channel.value, from_own_stock=row.from_own_stock)
        return Started(row, first_case(row, req, principal), created=True)
    raise Conflict("could not allocate a cancellation id; retry")


def first_case(row: Cancellation, req: NewCancellation, principal: Principal) -> Case:
    """The case the workflow starts from, the same on every retry of the start (it is built from the row)."""
    appointment = (Appointment(at=row.appointment_at, hall=row.appointment_hall)
                   if row.appointment_at and row.appointment_hall else None)
    return open_case(row.id, row.carrier, row.msisdn_masked, Channel(row.channel), row.requested_by, row.requested_at,
                     from_own_stock=row.from_own_stock,
                     documents_checked=req.documents_checked and Channel(row.channel) == Channel.SERVICE_HALL,
                     appointment=appointment)


async def ensure_workflow(client: Client, case: Case) -> None:
    try:
        await client.start_workflow(
            contract.CANCELLATION_WORKFLOW, CancellationStart(case=case),
            id=contract.cancellation_workflow_id(case.cancellation_id), task_queue=contract.TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(contract.CANCELLATION_STATE, [case.state.value]),
                SearchAttributePair(CARRIER, case.carrier),
            ]),
            memo={"summary": f"{case.msisdn_masked} {case.summary()}"},
            static_summary=f"Cancellation {case.cancellation_id}: {case.msisdn_masked} at {case.carrier}",
            static_details=(f"Requested {case.requested_at.astimezone(SHANGHAI).strftime('%Y-%m-%d %H:%M')} Shanghai "
                            f"by {case.requested_by} ({case.channel.value}). Steps: document review, "
                            "early-termination calculation, contract handling, confirmation, 72-hour cooling-off, "
                            "cancellation at the carrier, follow-up call 48 h later."),
        )
    except WorkflowAlreadyStartedError:
        log.info("cancellation workflow already closed", cancellation_id=case.cancellation_id)


def sees(principal: Principal, row: Cancellation) -> bool:
    """A self-service client sees only the cancellations it started (for the customers it verified)."""
    return channel_of(principal) != Channel.SELF_SERVICE or row.requested_by == actor_of(principal)


async def act(session: Session, client: Client | None, cancellation_id: str, update: str, payload,
              principal: Principal) -> CancellationView:
    """Run an action as a workflow update; a refusal raises ActionRefused with the domain's type."""
    get(session, cancellation_id, principal)
    if getattr(payload, "via", None) == ClearVia.EVIDENCE and channel_of(principal) != Channel.SERVICE_HALL:
        raise Forbidden("only a clerk clears a to-do item with evidence", type="evidence_by_clerk")
    if client is None:
        raise TemporalUnavailable("Temporal is unreachable; retry later")
    session.commit()  # no transaction (SQLite's write lock) held while the update's activities write
    handle = client.get_workflow_handle(contract.cancellation_workflow_id(cancellation_id))
    try:
        return await asyncio.wait_for(handle.execute_update(update, payload, result_type=CancellationView),
                                      UPDATE_TIMEOUT_S)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        kind = cause.type if isinstance(cause, ApplicationError) and cause.type else "Refused"
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
        log.info("cancellation action refused", cancellation_id=cancellation_id, action=update, refusal=kind,
                 actor=principal.id)
        raise ActionRefused(kind, reason) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CancellationClosed(f"cancellation {cancellation_id} is closed: {err.message}") from None
        raise TemporalUnavailable(f"Temporal error: {err.message}") from None
    except TimeoutError:
        raise TemporalUnavailable(f"no answer from the cancellation workflow within {UPDATE_TIMEOUT_S:g}s; retry") from None


# ---- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CancellationFilter:
    state: str | None = None
    carrier: str | None = None
    month: str | None = None


def list_cancellations(session: Session, f: CancellationFilter, principal: Principal, limit: int, offset: int):
    q = select(Cancellation)
    if channel_of(principal) == Channel.SELF_SERVICE:
        q = q.where(Cancellation.requested_by == actor_of(principal))
    if f.state:
        q = q.where(Cancellation.state == f.state)
    if f.carrier:
        q = q.where(Cancellation.carrier == f.carrier)
    if f.month:
        q = q.where(Cancellation.month == f.month)
    total = session.exec(select(func.count()).select_from(q.subquery())).one()
    rows = session.exec(q.order_by(col(Cancellation.requested_at).desc()).limit(limit).offset(offset)).all()
    return rows, total


def get(session: Session, cancellation_id: str, principal: Principal) -> Cancellation:
    row = session.get(Cancellation, cancellation_id)
    if row is None or not sees(principal, row):
        raise UnknownCancellation(f"unknown cancellation {cancellation_id}")
    return row


def timeline(session: Session, cancellation_id: str, principal: Principal) -> list[CancellationProgress]:
    get(session, cancellation_id, principal)
    return list(session.exec(select(CancellationProgress).where(CancellationProgress.cancellation_id == cancellation_id)
                             .order_by(col(CancellationProgress.seq))))


def obstacles(session: Session, cancellation_id: str) -> list[CancellationObstacle]:
    return list(session.exec(select(CancellationObstacle).where(CancellationObstacle.cancellation_id == cancellation_id)
                             .order_by(col(CancellationObstacle.found_at), col(CancellationObstacle.id))))


def follow_up_calls(session: Session, open_only: bool, limit: int) -> list[FollowUpCall]:
    q = select(FollowUpCall)
    if open_only:
        q = q.where(col(FollowUpCall.outcome).is_(None))
    return list(session.exec(q.order_by(col(FollowUpCall.due_at)).limit(limit)))


async def live_view(client: Client | None, cancellation_id: str) -> tuple[CancellationView | None, str]:
    return await live_query(client, contract.cancellation_workflow_id(cancellation_id), contract.VIEW,
                            CancellationView)


# ---- the monthly report (account cancellation 1.9) -----------------------------------------------


class ObstacleRow(BaseModel):
    kind: str
    cases: int  # cancellations of the month with at least one obstacle of this kind
    items: int
    cleared: int
    average_days_added: float | None  # found -> cleared (still open: -> the end of the month or now), one decimal


class MonthlyReport(BaseModel):
    month: str
    started: int
    completed: int  # cancelled at the carrier
    withdrawn_in_cooling_off: int
    withdrawn_before_confirmation: int
    failed: int
    open: int
    obstacles: list[ObstacleRow]


def monthly_report(session: Session, month: str, now: datetime | None = None) -> MonthlyReport:
    """Cancellations requested in the month (Shanghai), by outcome, and the obstacles they met."""
    now = now or utcnow()
    _, end = month_bounds(month)
    rows = session.exec(select(Cancellation).where(Cancellation.month == month)).all()
    ids = [r.id for r in rows]
    items = session.exec(select(CancellationObstacle).where(col(CancellationObstacle.cancellation_id).in_(ids))).all() if ids else []
    by_state = {s: 0 for s in State}
    for r in rows:
        by_state[State(r.state)] += 1
    withdrawn_cooling = sum(1 for r in rows if r.state == State.WITHDRAWN.value and r.confirmed_at is not None)
    until = min(now, end)
    out = []
    for kind in ObstacleKind:
        mine = [i for i in items if i.kind == kind.value]
        if not mine:
            out.append(ObstacleRow(kind=kind.value, cases=0, items=0, cleared=0, average_days_added=None))
            continue
        days = [d for i in mine if (d := _days(i, until)) is not None]
        out.append(ObstacleRow(kind=kind.value, cases=len({i.cancellation_id for i in mine}), items=len(mine),
                               cleared=sum(1 for i in mine if i.cleared_at is not None),
                               average_days_added=round(sum(days) / len(days), 1) if days else None))
    return MonthlyReport(month=month, started=len(rows), completed=by_state[State.CANCELLED],
                         withdrawn_in_cooling_off=withdrawn_cooling,
                         withdrawn_before_confirmation=by_state[State.WITHDRAWN] - withdrawn_cooling,
                         failed=by_state[State.FAILED],
                         open=len(rows) - by_state[State.CANCELLED] - by_state[State.WITHDRAWN] - by_state[State.FAILED],
                         obstacles=out)


def _days(item: CancellationObstacle, until: datetime) -> float | None:
    return days_added(item.found_at, item.cleared_at, max(until, item.found_at))


REPORT_COLUMNS = ("month", "section", "kind", "count", "cases", "cleared", "average_days_added")


def _report_rows(r: MonthlyReport) -> list[tuple]:
    rows = [(r.month, "cancellations", name, value, None, None, None) for name, value in (
        ("started", r.started), ("completed", r.completed), ("withdrawn_in_cooling_off", r.withdrawn_in_cooling_off),
        ("withdrawn_before_confirmation", r.withdrawn_before_confirmation), ("failed", r.failed), ("open", r.open))]
    rows += [(r.month, "obstacles", o.kind, o.items, o.cases, o.cleared, o.average_days_added) for o in r.obstacles]
    return rows


def report_csv(r: MonthlyReport) -> bytes:
    return csv_bytes(REPORT_COLUMNS, _report_rows(r))


def report_xlsx(r: MonthlyReport) -> bytes:
    return xlsx_bytes(f"cancellations {r.month}", REPORT_COLUMNS, _report_rows(r), text_columns=("month",))

"""Carrier and logistics pushes: store every raw event, then signal the order workflows.

Two steps with a crash window between them, closed by `signalled_at`:
1. `record_events` stores each event once per (source, event_id), with its outcome, in one commit.
2. `deliver` signals the accepted ones concurrently, one signal per order carrying its events of this push;
   `mark_delivered` stamps `signalled_at`.
A resend of an event whose record was never signalled is signalled again (the workflow dedupes on
event id, so a double signal is harmless), and a resend of an "unknown order" event whose order now
exists is accepted then.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import structlog
from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core import crypto
from core.db import utcnow
from core.errors import TemporalUnavailable
from db.orders import CarrierEventRecord, EventOutcome, Order
from domain.msisdn import mask_msisdn
from domain.orders.carrier_events import CarrierEventIn, ParsedLine
from domain.orders.carriers import Carrier
from domain.orders.order import OrderEvent
from workflows.orders import contract
from workflows.orders.contract import OrderEvents, order_workflow_id

log = structlog.get_logger(__name__)

LOGISTICS = "logistics"
SOURCES = frozenset([*(c.value for c in Carrier), LOGISTICS])
SIGNAL_CONCURRENCY = 50
_CHUNK = 500


class LineResult(BaseModel):
    line: int
    event_id: str | None = None
    outcome: EventOutcome
    error: str = ""
    order_id: str | None = None


class IngestReport(BaseModel):
    accepted: int = 0
    duplicate: int = 0
    unknown_order: int = 0
    rejected: int = 0
    order_closed: int = 0
    results: list[LineResult] = []


@dataclass
class Pending:
    """An accepted event to signal: `index` points into the results list."""

    index: int
    record_id: int
    order_id: str
    event: OrderEvent


@dataclass
class Delivery:
    signalled: list[Pending] = field(default_factory=list)
    closed: list[Pending] = field(default_factory=list)
    failed: list[tuple[Pending, str]] = field(default_factory=list)


def _event_id_in(raw: str) -> str | None:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # a rejected line may be anything, nested without end too
        return None
    value = data.get("event_id") if isinstance(data, dict) else None
    return str(value)[:128] if value not in (None, "") else None


def _order_id_in(raw: str) -> str | None:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # a rejected line may be anything, nested without end too
        return None
    value = data.get("order_id") if isinstance(data, dict) else None
    return str(value)[:64] if isinstance(value, str | int) and value != "" else None


def rejected_keys(raw: str) -> list[str]:
    """Rejected events are keyed by their content, so a corrected resend with the same event id is
    not mistaken for a duplicate of the malformed one, and a repeat of the same bad line adds no row.

    The content's hash is keyed (a bad line may carry a full number, and an unkeyed hash of a short line can be
    guessed back): the active key's first, then every other readable key's, to recognise a repeat across a
    rotation."""
    prefix = f"{_event_id_in(raw) or ''}#rejected-"
    active = crypto.fingerprint(raw)
    return [prefix + fp for fp in [active, *(fp for fp in crypto.fingerprints(raw) if fp != active)]]


def rejected_key(raw: str) -> str:
    return rejected_keys(raw)[0]


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _plan_and_store(session: Session, source: str, lines: Sequence[ParsedLine]) -> tuple[list[LineResult], list[Pending]]:
    keys = sorted({k for ln in lines for k in ([ln.event.event_id] if ln.event else rejected_keys(ln.raw))})
    existing: dict[str, CarrierEventRecord] = {}
    for chunk in _chunks(keys):
        rows = session.exec(
            select(CarrierEventRecord).where(
                CarrierEventRecord.source == source, col(CarrierEventRecord.event_id).in_(chunk)
            )
        ).all()
        existing.update({r.event_id: r for r in rows})
    order_ids = sorted({ln.event.order_id for ln in lines if ln.event})
    known: dict[str, str] = {}  # order id -> its number's fingerprint
    for chunk in _chunks(order_ids):
        known.update(session.exec(select(Order.id, Order.msisdn_fingerprint).where(col(Order.id).in_(chunk))).all())

    def order_event(ev: CarrierEventIn) -> OrderEvent:
        return order_event_of(ev, known.get(ev.order_id), source)

    results: list[LineResult] = []
    to_signal: list[tuple[int, CarrierEventRecord, OrderEvent]] = []
    seen: set[str] = set()
    for ln in lines:
        idx = len(results)
        ev = ln.event
        if ev is None:
            variants = rejected_keys(ln.raw)
            key = variants[0]
            if not any(k in existing or k in seen for k in variants):
                session.add(
                    CarrierEventRecord(
                        source=source,
                        event_id=key,
                        order_id=_order_id_in(ln.raw),
                        raw=ln.raw,
                        outcome=EventOutcome.REJECTED,
                        error=ln.error,
                    )
                )
            seen.add(key)
            results.append(LineResult(line=ln.line, event_id=_event_id_in(ln.raw), outcome=EventOutcome.REJECTED, error=ln.error))
            continue

        eid = ev.event_id
        if eid in seen:
            results.append(LineResult(line=ln.line, event_id=eid, outcome=EventOutcome.DUPLICATE, order_id=ev.order_id, error="repeated in this request"))
            continue
        seen.add(eid)
        prior = existing.get(eid)
        if prior is not None:
            if prior.outcome == EventOutcome.ACCEPTED and prior.signalled_at is None and prior.order_id:
                # stored earlier but never delivered (crash or Temporal outage): deliver it now
                to_signal.append((idx, prior, order_event(ev)))
                results.append(LineResult(line=ln.line, event_id=eid, outcome=EventOutcome.DUPLICATE, order_id=prior.order_id, error="earlier copy was not yet delivered; delivering it now"))
            elif prior.outcome == EventOutcome.UNKNOWN_ORDER and ev.order_id in known:
                prior.outcome, prior.order_id, prior.kind, prior.error = EventOutcome.ACCEPTED, ev.order_id, ev.kind.value, ""
                session.add(prior)
                to_signal.append((idx, prior, order_event(ev)))
                results.append(LineResult(line=ln.line, event_id=eid, outcome=EventOutcome.ACCEPTED, order_id=ev.order_id))
            else:
                results.append(LineResult(line=ln.line, event_id=eid, outcome=EventOutcome.DUPLICATE, order_id=prior.order_id))
            continue

        if ev.order_id not in known:
            error = f"no order {ev.order_id}; stored for ops, resend once the order exists"
            session.add(CarrierEventRecord(source=source, event_id=eid, order_id=ev.order_id, kind=ev.kind.value, raw=ln.raw, outcome=EventOutcome.UNKNOWN_ORDER, error=error))
            results.append(LineResult(line=ln.line, event_id=eid, outcome=EventOutcome.UNKNOWN_ORDER, order_id=ev.order_id, error=error))
            continue
        record = CarrierEventRecord(source=source, event_id=eid, order_id=ev.order_id, kind=ev.kind.value, raw=ln.raw, outcome=EventOutcome.ACCEPTED)
        session.add(record)
        to_signal.append((idx, record, order_event(ev)))
        results.append(LineResult(line=ln.line, event_id=eid, outcome=EventOutcome.ACCEPTED, order_id=ev.order_id))
    session.flush()  # assigns ids; read them before the commit expires the objects
    pending = [Pending(index=i, record_id=int(rec.id), order_id=str(rec.order_id), event=ev) for i, rec, ev in to_signal]  # type: ignore[arg-type]
    session.commit()
    return results, pending


def order_event_of(ev: CarrierEventIn, order_fingerprint: str | None, source: str | None) -> OrderEvent:
    """The event as its order's workflow gets it, from `source`: the recharged number's fingerprint under the key
    the order's own was made with (so a key rotation never turns a right number wrong), and whether it is the
    order's number."""
    if not ev.to_msisdn or not order_fingerprint:
        return ev.to_order_event(source=source)
    ring = crypto.key_ring()
    kid, keyed, _ = order_fingerprint.partition(".")
    fp = ring.fingerprint(ev.to_msisdn, kid if keyed and kid in ring.keys else None)
    if keyed:
        return ev.to_order_event(fp, ring.matches(ev.to_msisdn, order_fingerprint), source)
    # a row the migration could not re-key still holds the old unkeyed hash: compared here, never sent on
    return ev.to_order_event(fp, crypto.legacy_fingerprint(ev.to_msisdn) == order_fingerprint, source)


def record_events(session: Session, source: str, lines: Sequence[ParsedLine]) -> tuple[list[LineResult], list[Pending]]:
    """Store the events (one commit); return each line's outcome and the events still to signal."""
    for attempt in range(3):
        try:
            results, pending = _plan_and_store(session, source, lines)
            break
        except IntegrityError:
            # a concurrent request stored one of these events first: plan again, it is now a duplicate
            session.rollback()
            if attempt == 2:
                raise
    for r in results:
        if r.outcome == EventOutcome.REJECTED:
            log.info("carrier event rejected", source=source, event_id=r.event_id, line=r.line, error=r.error)
        elif r.outcome == EventOutcome.UNKNOWN_ORDER:
            log.warning("carrier event for unknown order", source=source, event_id=r.event_id, order_id=r.order_id)
    return results, pending


async def deliver(client: Client | None, pending: Sequence[Pending], concurrency: int = SIGNAL_CONCURRENCY) -> Delivery:
    """Signal each order workflow once with all its events of this push, in the push's order (one signal per order,
    not per event: fewer history events and workflow tasks); NOT_FOUND means the workflow has already ended."""
    out = Delivery()
    if not pending:
        return out
    if client is None:
        out.failed = [(p, "Temporal is unreachable") for p in pending]
        return out
    by_order: dict[str, list[Pending]] = {}
    for p in pending:
        by_order.setdefault(p.order_id, []).append(p)
    sem = asyncio.Semaphore(concurrency)

    async def one(order_id: str, group: list[Pending]) -> None:
        async with sem:
            try:
                await client.get_workflow_handle(order_workflow_id(order_id)).signal(
                    contract.CARRIER_EVENTS, OrderEvents(events=[p.event for p in group]))
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    out.closed.extend(group)
                else:
                    out.failed.extend((p, f"{err.status.name}: {err.message}") for p in group)
                return
            except Exception as err:  # noqa: BLE001 - reported as not delivered; a resend retries
                out.failed.extend((p, f"{type(err).__name__}: {err}") for p in group)
                return
            out.signalled.extend(group)

    await asyncio.gather(*(one(o, g) for o, g in by_order.items()))
    return out


CLOSED_ERROR = "the order's workflow has already ended; event stored, not applied"


def mark_delivered(session: Session, delivery: Delivery) -> None:
    now = utcnow()
    for chunk in _chunks([p.record_id for p in delivery.signalled]):  # type: ignore[arg-type]
        session.exec(update(CarrierEventRecord).where(col(CarrierEventRecord.id).in_(chunk)).values(signalled_at=now))
    for chunk in _chunks([p.record_id for p in delivery.closed]):  # type: ignore[arg-type]
        session.exec(
            update(CarrierEventRecord)
            .where(col(CarrierEventRecord.id).in_(chunk))
            .values(outcome=EventOutcome.ORDER_CLOSED, error=CLOSED_ERROR)
        )
    session.commit()


def summarise(results: list[LineResult]) -> IngestReport:
    report = IngestReport(results=results)
    for r in results:
        setattr(report, r.outcome.value, getattr(report, r.outcome.value) + 1)
    return report


async def ingest(session: Session, client: Client | None, source: str, lines: Sequence[ParsedLine]) -> IngestReport:
    results, pending = await anyio.to_thread.run_sync(record_events, session, source, lines)
    delivery = await deliver(client, pending)
    await anyio.to_thread.run_sync(mark_delivered, session, delivery)
    for p in delivery.closed:
        results[p.index] = results[p.index].model_copy(update={"outcome": EventOutcome.ORDER_CLOSED, "error": CLOSED_ERROR})
        log.info("carrier event for closed order", source=source, event_id=p.event.event_id, order_id=p.order_id)
    if delivery.failed:
        first = delivery.failed[0][1]
        log.error("carrier events stored but not signalled", source=source, count=len(delivery.failed), error=first)
        raise TemporalUnavailable(
            f"{len(delivery.failed)} event(s) stored but not delivered to their orders ({first}); "
            "resend the same request: duplicates are recognised and delivered"
        )
    report = summarise(results)
    log.info(
        "carrier events ingested",
        source=source,
        accepted=report.accepted,
        duplicate=report.duplicate,
        unknown_order=report.unknown_order,
        rejected=report.rejected,
        order_closed=report.order_closed,
    )
    return report


_DIGITS = re.compile(r"\+?\d{7,20}")


def masked_raw(raw: str) -> str:
    """The stored raw text for display: phone numbers masked."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return _DIGITS.sub(lambda m: mask_msisdn(m.group()), raw)
    if isinstance(data, dict) and isinstance(data.get("to_msisdn"), str):
        data["to_msisdn"] = mask_msisdn(data["to_msisdn"])
        return json.dumps(data, ensure_ascii=False)
    return raw


def list_events(
    session: Session,
    outcome: EventOutcome | None,
    source: str | None,
    order_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[CarrierEventRecord], int]:
    conds = []
    if outcome:
        conds.append(CarrierEventRecord.outcome == outcome)
    if source:
        conds.append(CarrierEventRecord.source == source)
    if order_id:
        conds.append(CarrierEventRecord.order_id == order_id)
    total = session.exec(select(func.count()).select_from(CarrierEventRecord).where(*conds)).one()
    rows = session.exec(
        select(CarrierEventRecord)
        .where(*conds)
        .order_by(col(CarrierEventRecord.received_at).desc(), col(CarrierEventRecord.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)

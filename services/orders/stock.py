"""The number stock (settlement rules 1.11, docs/fulfilment.md): import, listing with pattern filters, levels,
low-stock alerts, the report; and the steps an order takes a number through: reserve at placement, confirm at the
carrier's acceptance, release when the order ends without a customer keeping it.

Every change of a number's state is ONE conditional UPDATE (`... WHERE state allows it`), so two requests racing
for a number cannot both win on either database: SQLite serialises writers (BEGIN IMMEDIATE), and PostgreSQL
re-checks the WHERE clause on the row a concurrent winner has just changed (READ COMMITTED) and finds it taken.
A lapsed reservation and an ended quarantine count as available at once (the WHERE clause says so); the sweep
only writes that down for the levels and the report.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, case, func, literal, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from core.db import utcnow
from core.errors import Conflict, Refused
from core.settings import get_settings
from db.fulfilment import StockAlert, StockImport, StockNumber
from db.orders import Order, Product
from domain.clock import SHANGHAI
from domain.msisdn import mask_msisdn
from domain.orders.stock import NumberPattern, NumberState, StockLevel, is_low, number_after, parse_import

log = structlog.get_logger(__name__)

S = NumberState


class StockFileRefused(Refused):
    """An import file with bad lines is refused whole, each bad line named."""


class NumberUnavailable(Conflict):
    """The chosen number is not (or no longer) available for this product."""


def _free(now: datetime):
    """The condition of a number anyone may take now."""
    return or_(col(StockNumber.state) == S.AVAILABLE.value,
               and_(col(StockNumber.state) == S.RESERVED.value, col(StockNumber.reserved_until) < now),
               and_(col(StockNumber.state) == S.QUARANTINED.value, col(StockNumber.quarantined_until) < now))


# ---- import ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    import_id: str
    numbers: int
    by_product: dict[str, int]


def import_numbers(session: Session, text: str, actor: str, now: datetime | None = None) -> Imported:
    """All or nothing: a file with any bad line (malformed, unknown product, twice in the file, already in the
    stock) imports nothing and names every line."""
    now = now or utcnow()
    products = {p.id: p for p in session.exec(select(Product)).all()}
    parsed = parse_import(text, set(products))
    known = set()
    if parsed.lines:
        numbers = [line.msisdn for line in parsed.lines]
        for i in range(0, len(numbers), 900):  # bounded IN lists (SQLite's variable limit)
            known |= set(session.exec(select(StockNumber.msisdn).where(col(StockNumber.msisdn).in_(numbers[i:i + 900]))))
    for line in parsed.lines:
        if line.msisdn in known:
            parsed.refuse(line.line, "duplicate: already in the stock", line.msisdn)
    if parsed.problem_count:
        parsed.problems.sort(key=lambda p: p.line)
        shown = "; ".join(f"line {p.line}: {p.problem}" + (f" ({p.msisdn_masked})" if p.msisdn_masked else "")
                          for p in parsed.problems[:20])
        more = f"; and {parsed.problem_count - 20} more" if parsed.problem_count > 20 else ""
        raise StockFileRefused(f"{parsed.problem_count} bad line(s), nothing imported: {shown}{more}")
    import_id = "SI" + uuid.uuid4().hex[:12].upper()
    by_product: dict[str, int] = {}
    for line in parsed.lines:
        session.add(StockNumber(msisdn=line.msisdn, product_id=line.product_id, carrier=products[line.product_id].carrier,
                                state=S.AVAILABLE.value, state_since=now, import_id=import_id, imported_at=now))
        by_product[line.product_id] = by_product.get(line.product_id, 0) + 1
    session.add(StockImport(id=import_id, imported_by=actor, numbers=len(parsed.lines),
                            products=",".join(sorted(by_product)), at=now))
    try:
        session.commit()
    except IntegrityError:  # a concurrent import of the same numbers won
        session.rollback()
        raise StockFileRefused("some numbers of the file were imported meanwhile by another request: "
                               "nothing imported, send the file again to see which") from None
    log.info("stock imported", import_id=import_id, numbers=len(parsed.lines), by_product=by_product, actor=actor)
    return Imported(import_id=import_id, numbers=len(parsed.lines), by_product=by_product)


# ---- reading ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberFilter:
    product_id: str | None = None
    carrier: str | None = None
    state: NumberState | None = None  # None: what may be chosen now
    pattern: NumberPattern = field(default_factory=NumberPattern)


def list_numbers(session: Session, f: NumberFilter, limit: int, offset: int,
                 now: datetime | None = None) -> tuple[list[StockNumber], int]:
    now = now or utcnow()
    conds = [_free(now)] if f.state is None else [col(StockNumber.state) == f.state.value]
    if f.product_id:
        conds.append(col(StockNumber.product_id) == f.product_id)
    if f.carrier:
        conds.append(col(StockNumber.carrier) == f.carrier)
    p = f.pattern
    if p.starts_with:
        conds.append(col(StockNumber.msisdn).like(f"{p.starts_with}%"))
    if p.ends_with:
        conds.append(col(StockNumber.msisdn).like(f"%{p.ends_with}"))
    if p.contains:
        conds.append(col(StockNumber.msisdn).like(f"%{p.contains}%"))
    if p.without_digit:
        conds.append(col(StockNumber.msisdn).not_like(f"%{p.without_digit}%"))
    total = session.exec(select(func.count()).select_from(StockNumber).where(*conds)).one()
    rows = session.exec(select(StockNumber).where(*conds).order_by(col(StockNumber.msisdn))
                        .limit(limit).offset(offset)).all()
    return list(rows), int(total)


def levels(session: Session, now: datetime | None = None, product_id: str | None = None) -> list[StockLevel]:
    """Numbers per product and state as of now (a lapsed reservation or an ended quarantine counts as available)."""
    now = now or utcnow()
    settings = get_settings()
    effective = _effective_state(now)
    q = (select(StockNumber.product_id, StockNumber.carrier, effective, func.count())
         .group_by(StockNumber.product_id, StockNumber.carrier, effective))
    if product_id:
        q = q.where(col(StockNumber.product_id) == product_id)
    out: dict[str, StockLevel] = {}
    for pid, carrier, state, n in session.exec(q).all():
        lv = out.setdefault(pid, StockLevel(product_id=pid, carrier=carrier))
        setattr(lv, state, getattr(lv, state) + int(n))
    for lv in out.values():
        lv.low = is_low(lv.available, settings.stock_low_level)
    return [out[k] for k in sorted(out)]


def _effective_state(now: datetime):
    return case((_free(now), literal(S.AVAILABLE.value)), else_=col(StockNumber.state)).label("effective")


def stocked(session: Session, product_id: str, before: datetime | None = None) -> bool:
    """Whether this product sells numbers from our stock (it has had a number imported; by `before`, when given)."""
    q = select(StockNumber.id).where(col(StockNumber.product_id) == product_id)
    if before is not None:
        q = q.where(col(StockNumber.imported_at) <= before)
    return session.exec(q.limit(1)).first() is not None


# ---- an order's number -----------------------------------------------------------------------------------------


def reserve(session: Session, product_id: str, msisdn: str, order_id: str, now: datetime) -> None:
    """Reserve the chosen number for the order, in the caller's transaction (the order row commits with it)."""
    until = now + timedelta(minutes=get_settings().stock_reservation_minutes)
    taken = session.exec(update(StockNumber).where(
        col(StockNumber.msisdn) == msisdn, col(StockNumber.product_id) == product_id, _free(now))
        .values(state=S.RESERVED.value, order_id=order_id, reserved_until=until, quarantined_until=None,
                state_since=now)).rowcount
    if taken != 1:
        raise NumberUnavailable(f"number {mask_msisdn(msisdn)} is not available for product {product_id}: "
                                "choose another from GET /stock/numbers")


def confirm(session: Session, order_id: str, now: datetime) -> bool:
    """The carrier is about to be told: the order's reservation becomes an assignment. True when the number is the
    order's (also on a retry: already assigned to it, or lapsed while nobody took it); False when it is lost.
    An order placed while its product sold no numbers from our stock (numbers assigned by the carrier) is confirmed
    as it is, even if the product's first numbers were imported since."""
    row = session.exec(select(StockNumber).where(col(StockNumber.order_id) == order_id)).first()
    if row is None:  # never reserved from the stock, or the reservation lapsed and another order took the number
        placed = session.exec(select(Order.product_id, Order.placed_at).where(col(Order.id) == order_id)).first()
        return placed is not None and not stocked(session, placed[0], before=placed[1])
    n = session.exec(update(StockNumber).where(
        col(StockNumber.id) == row.id, col(StockNumber.order_id) == order_id,
        # reserved or assigned to it, or lapsed and written down by the sweep while nobody took it
        col(StockNumber.state).in_([S.RESERVED.value, S.ASSIGNED.value, S.AVAILABLE.value]))
        .values(state=S.ASSIGNED.value, reserved_until=None, state_since=now)).rowcount
    return n == 1


def release(session: Session, order_id: str, status: str, failure_reason: str | None, now: datetime) -> str | None:
    """The number release hook, keyed on the order's status (every status change passes here, in the caller's
    transaction): quarantine, back to the pool, or retired, as `domain.orders.stock.number_after` says. Returns the
    number's new state, or None when nothing changed."""
    target = number_after(status, failure_reason)
    if target is None:
        return None
    values: dict = {"state": target.value, "reserved_until": None, "state_since": now, "quarantined_until": None}
    if target == S.QUARANTINED:
        values["quarantined_until"] = now + timedelta(days=get_settings().stock_quarantine_days)
    n = session.exec(update(StockNumber).where(
        col(StockNumber.order_id) == order_id,
        col(StockNumber.state).in_([S.RESERVED.value, S.ASSIGNED.value])).values(**values)).rowcount
    if n:
        log.info("stock number released", order_id=order_id, order_status=status, failure_reason=failure_reason,
                 number_state=target.value)
        return target.value
    return None


def quarantine_number(session: Session, order_id: str | None, since: datetime, until: datetime) -> bool:
    """A cancelled number of our stock (account cancellation 1.8), found by the order that sold it, rests in
    quarantine until `until` (in the caller's transaction)."""
    if not order_id:
        return False
    n = session.exec(update(StockNumber).where(col(StockNumber.order_id) == order_id,
                                               col(StockNumber.state) == S.ASSIGNED.value)
                     .values(state=S.QUARANTINED.value, quarantined_until=until, state_since=since)).rowcount
    return bool(n)


# ---- the sweep (the order repair pass runs it) -----------------------------------------------------------------


@dataclass
class SweepReport:
    lapsed: int = 0
    back_from_quarantine: int = 0
    alerts: int = 0


def sweep(session: Session, now: datetime | None = None) -> SweepReport:
    """Write down what time did (lapsed reservations, ended quarantines) and alert ops of low stock: one alert per
    product and Shanghai day."""
    now = now or utcnow()
    report = SweepReport()
    report.lapsed = session.exec(update(StockNumber).where(
        col(StockNumber.state) == S.RESERVED.value, col(StockNumber.reserved_until) < now)
        .values(state=S.AVAILABLE.value, reserved_until=None, state_since=now)).rowcount
    report.back_from_quarantine = session.exec(update(StockNumber).where(
        col(StockNumber.state) == S.QUARANTINED.value, col(StockNumber.quarantined_until) < now)
        .values(state=S.AVAILABLE.value, quarantined_until=None, state_since=now)).rowcount
    day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
    low_level = get_settings().stock_low_level
    for lv in levels(session, now):
        if not lv.low:
            continue
        key = f"low-stock-{lv.product_id}-{day}"
        if session.exec(select(StockAlert.id).where(col(StockAlert.key) == key)).first() is None:
            message = (f"product {lv.product_id} ({lv.carrier}): {lv.available} numbers available, "
                       f"below the low-stock level {low_level}; import more")
            session.add(StockAlert(key=key, product_id=lv.product_id, available=lv.available, low_level=low_level,
                                   message=message, at=now))
            report.alerts += 1
            log.warning("low stock", product_id=lv.product_id, carrier=lv.carrier, available=lv.available,
                        low_level=low_level)
    session.commit()
    if report.lapsed or report.back_from_quarantine:
        log.info("stock sweep", lapsed=report.lapsed, back_from_quarantine=report.back_from_quarantine)
    return report


def alerts(session: Session, limit: int, offset: int) -> tuple[list[StockAlert], int]:
    total = session.exec(select(func.count()).select_from(StockAlert)).one()
    rows = session.exec(select(StockAlert).order_by(col(StockAlert.at).desc(), col(StockAlert.id).desc())
                        .limit(limit).offset(offset)).all()
    return list(rows), int(total)


REPORT_COLUMNS = ("product_id", "carrier", "available", "reserved", "assigned", "quarantined", "retired", "low")


def report_rows(session: Session, now: datetime | None = None) -> list[tuple]:
    return [(lv.product_id, lv.carrier, lv.available, lv.reserved, lv.assigned, lv.quarantined, lv.retired,
             "yes" if lv.low else "") for lv in levels(session, now)]


def number_of(session: Session, order_id: str) -> str | None:
    """The stock number the order holds (for the carrier submission); None for a number the carrier assigns."""
    return session.exec(select(StockNumber.msisdn).where(col(StockNumber.order_id) == order_id,
                                                          col(StockNumber.state) == S.ASSIGNED.value)).first()

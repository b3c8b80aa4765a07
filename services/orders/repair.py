"""The orders' repair pass: a crash between a row and its workflow heals itself.

An order is stored, then its workflow started; a carrier event is stored, then signalled. A crash (or
Temporal down) between the two leaves an order with no process or an accepted event never delivered, and
only a client's retry would finish the step. The pass finds them (`process_started_at` / `signalled_at`
still empty some time after the write) and finishes the step; every step is idempotent (a workflow start
uses the existing one, the workflow dedupes events), so the pass may run beside a request in flight or twice.
Run by the Schedule `order-repair-schedule` and once at API start.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import anyio
import structlog
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from core.db import utcnow
from db.orders import CarrierEventRecord, EventOutcome, Order, Product
from domain.orders.carrier_events import parse_one
from services.identity import record_repairs
from services.orders import stock
from services.orders.carrier_events import Pending, deliver, mark_delivered, order_event_of
from services.orders.order import ensure_workflow, mark_started, terms_of

log = structlog.get_logger(__name__)

PAGE = 500


class OrderRepairReport(BaseModel):
    processes_started: int = 0
    events_delivered: int = 0
    events_for_closed_orders: int = 0
    failed: int = 0
    # the stock sweep rides along (docs/fulfilment.md): lapsed reservations, ended quarantines, low-stock alerts
    reservations_lapsed: int = 0
    back_from_quarantine: int = 0
    low_stock_alerts: int = 0


def _unstarted(session: Session, before: datetime, limit: int) -> list[tuple[Order, Product]]:
    rows = session.exec(select(Order, Product).join(Product, col(Product.id) == col(Order.product_id))
                        .where(col(Order.process_started_at).is_(None), Order.placed_at < before)
                        .order_by(col(Order.placed_at)).limit(limit)).all()
    return [(o, p) for o, p in rows]


def _undelivered(session: Session, before: datetime, limit: int) -> list[Pending]:
    rows = session.exec(select(CarrierEventRecord, Order.msisdn_fingerprint)
                        .join(Order, col(Order.id) == col(CarrierEventRecord.order_id)).where(
        CarrierEventRecord.outcome == EventOutcome.ACCEPTED, col(CarrierEventRecord.signalled_at).is_(None),
        CarrierEventRecord.received_at < before)
        .order_by(col(CarrierEventRecord.id)).limit(limit)).all()
    pending = []
    for i, (r, order_fingerprint) in enumerate(rows):
        parsed = parse_one(r.raw)
        if parsed.event is not None:  # it was accepted, so it parses; a row edited by hand is left to ops
            pending.append(Pending(index=i, record_id=int(r.id or 0), order_id=str(r.order_id),
                                   event=order_event_of(parsed.event, order_fingerprint, r.source)))
    return pending


async def repair_orders(engine: Engine, client: Client, grace: timedelta, now: datetime | None = None,
                        limit: int = PAGE) -> OrderRepairReport:
    """One pass over rows written more than `grace` ago (a request still in flight finishes its own step)."""
    before = (now or utcnow()) - grace
    report = OrderRepairReport()

    def read_unstarted() -> list[tuple[Order, Product]]:
        with Session(engine, expire_on_commit=False) as s:
            return _unstarted(s, before, limit)

    started = []
    for order, product in await anyio.to_thread.run_sync(read_unstarted):
        try:
            await ensure_workflow(client, order, terms_of(product))
        except Exception as err:  # noqa: BLE001 - the next pass tries again
            report.failed += 1
            log.error("order repair: workflow not started", order_id=order.id, error=f"{type(err).__name__}: {err}")
            continue
        started.append(order.id)
        log.warning("order repair: workflow started after a lost start", order_id=order.id, agent_id=order.agent_id)

    def stamp() -> None:
        with Session(engine) as s:
            record_repairs(s, "repair: order workflow started", [f"order_id={o}" for o in started])
            mark_started(s, started)  # commits both

    await anyio.to_thread.run_sync(stamp)
    report.processes_started = len(started)

    def read_undelivered() -> list[Pending]:
        with Session(engine) as s:
            return _undelivered(s, before, limit)

    pending = await anyio.to_thread.run_sync(read_undelivered)
    delivery = await deliver(client, pending)

    def mark() -> None:
        with Session(engine) as s:
            record_repairs(s, "repair: carrier event delivered",
                           [f"order_id={p.order_id} event_id={p.event.event_id}" for p in delivery.signalled])
            mark_delivered(s, delivery)  # commits both

    await anyio.to_thread.run_sync(mark)
    for p in delivery.signalled:
        log.warning("order repair: carrier event delivered after a lost signal", order_id=p.order_id,
                    event_id=p.event.event_id)
    report.events_delivered = len(delivery.signalled)
    report.events_for_closed_orders = len(delivery.closed)
    report.failed += len(delivery.failed)

    def sweep_stock() -> stock.SweepReport:
        with Session(engine) as s:
            return stock.sweep(s, now)

    swept = await anyio.to_thread.run_sync(sweep_stock)
    report.reservations_lapsed, report.back_from_quarantine = swept.lapsed, swept.back_from_quarantine
    report.low_stock_alerts = swept.alerts
    if report.processes_started or report.events_delivered or report.failed:
        log.warning("order repair pass", **report.model_dump())
    return report

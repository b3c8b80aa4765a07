"""Placing, reading and listing orders. The order row is the business record; the workflow owns the process.

Placement is idempotent on the client's Idempotency-Key: the row is written first (unique key), then
the workflow is started with USE_EXISTING, so a retry after a crash between the two only ensures
the workflow. A closed workflow is never started again (REJECT_DUPLICATE).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from core import crypto
from core.db import utcnow
from core.errors import Forbidden, IdempotencyConflict, Refused
from core.settings import get_settings
from core.temporal import QUERY_TIMEOUT_S, live_query
from db.agents import Agent, AgentStatus
from db.orders import Order, Product
from domain.msisdn import mask_msisdn
from domain.orders.customer import Customer
from domain.orders.delivery import DeliveryTerms
from domain.orders.order import OrderStatus, ProductTerms
from services import agents
from services.orders import fulfilment, stock
from services.orders.fulfilment import PaidWith
from workflows.orders import contract
from workflows.orders.contract import OrderInput, OrderView, order_workflow_id

log = structlog.get_logger(__name__)



class UnknownReference(Refused):
    """The order names an agent or a product we do not know."""


class AgentSuspended(Forbidden):
    """A suspended agent places no orders (agent accounts 3.1)."""


class OrderingPaused(Forbidden):
    """Ordering is paused for every agent during an announced platform maintenance window (agent accounts 2.4)."""


@dataclass(frozen=True)
class NewOrder:
    agent_id: str
    product_id: str
    msisdn: str
    customer_name: str | None = None  # legacy: the recipient's name before `customer`; never stored
    customer: Customer | None = None  # sealed in `order_customer`, never in workflow payloads
    payment: PaidWith | None = None  # a paid product: what the customer paid


@dataclass
class Placement:
    order: Order
    created: bool
    terms: ProductTerms


@dataclass(frozen=True)
class OrderFilter:
    status: str | None = None
    carrier: str | None = None
    agent_id: str | None = None
    settlement_month: str | None = None
    failure_reason: str | None = None


def new_order_id() -> str:
    return "O" + uuid.uuid4().hex[:12].upper()


def terms_of(product: Product) -> ProductTerms:
    return ProductTerms(
        product_id=product.id,
        carrier=product.carrier,
        activation_window_days=product.activation_window_days,
        recharge_window_days=product.recharge_window_days,
        min_first_recharge_fen=product.min_first_recharge_fen,
        commission_fen=product.commission_fen,
        parent_override_bp=product.parent_override_bp,
    )


def _by_key(session: Session, key: str) -> Order | None:
    return session.exec(select(Order).where(Order.idempotency_key == key)).first()


def _replay(session: Session, existing: Order, req: NewOrder, fingerprint: str) -> Placement:
    differs = [
        name
        for name, stored, sent in (
            ("agent_id", existing.agent_id, req.agent_id),
            ("product_id", existing.product_id, req.product_id),
            ("msisdn", existing.msisdn_fingerprint, existing.msisdn_fingerprint if crypto.key_ring().matches(
                req.msisdn, existing.msisdn_fingerprint) else fingerprint),
        )
        if stored != sent
    ]
    if differs:
        raise IdempotencyConflict(
            f"Idempotency-Key already used for order {existing.id} with a different {', '.join(differs)}"
        )
    product = session.get(Product, existing.product_id)
    assert product is not None  # foreign key
    return Placement(order=existing, created=False, terms=terms_of(product))


def place_order(session: Session, key: str, req: NewOrder, now: datetime | None = None) -> Placement:
    """Insert the order row once per Idempotency-Key; a repeat returns the first row."""
    fingerprint = crypto.fingerprint(req.msisdn)
    existing = _by_key(session, key)
    if existing is not None:
        return _replay(session, existing, req, fingerprint)

    agent = session.get(Agent, req.agent_id)
    if agent is None:
        raise UnknownReference(f"unknown agent {req.agent_id}")
    product = session.get(Product, req.product_id)
    if product is None:
        raise UnknownReference(f"unknown product {req.product_id}")
    if agent.status == AgentStatus.SUSPENDED:
        raise AgentSuspended(f"agent {agent.id} is suspended: {agent.status_reason}")
    at = now or utcnow()
    window = agents.maintenance_at(session, at)
    if window is not None:
        raise OrderingPaused(f"ordering is paused for platform maintenance until {window.ends_at.isoformat()}: "
                             f"{window.message}")
    payment_id = None
    if req.payment is not None:  # recorded first, under an id the same key gives again (a retry finds it)
        payment_id = fulfilment.payment_id_for(agent.id, key)
        fulfilment.record_customer_payment(session, payment_id, product.id, req.payment, at)
    for _ in range(3):
        order = Order(
            id=new_order_id(),
            idempotency_key=key,
            agent_id=agent.id,
            product_id=product.id,
            carrier=product.carrier,
            msisdn_masked=mask_msisdn(req.msisdn),
            msisdn_fingerprint=fingerprint,
            placed_at=at,
            status=OrderStatus.PLACED.value,
            waiting_for="shipment with a tracking number",
            updated_at=at,
        )
        session.add(order)
        try:
            session.flush()  # the order row first: the stock and customer rows point to it
            if stock.stocked(session, product.id):
                stock.reserve(session, product.id, req.msisdn, order.id, at)
            fulfilment.store_customer(session, order.id, req.msisdn, req.customer)
            fulfilment.store_payment(session, order, req.payment, payment_id, at)
            session.commit()
        except stock.NumberUnavailable:
            session.rollback()
            raise
        except IntegrityError:
            session.rollback()
            # A concurrent request with the same key won the race: answer with its order.
            existing = _by_key(session, key)
            if existing is not None:
                return _replay(session, existing, req, fingerprint)
            continue  # an order id collision: draw again
        session.refresh(order)
        log.info("order placed", order_id=order.id, agent_id=order.agent_id, msisdn=order.msisdn_masked)
        return Placement(order=order, created=True, terms=terms_of(product))
    raise RuntimeError("could not allocate an order id")


def delivery_terms() -> DeliveryTerms:
    """The delivery clocks a new order takes from the settings."""
    s = get_settings()
    return DeliveryTerms(acceptance_window_h=s.order_acceptance_window_hours,
                         shipment_window_h=s.order_shipment_window_hours,
                         logistics_window_h=s.order_logistics_window_hours,
                         rescue_give_up_days=s.order_rescue_give_up_days,
                         rescue_reminder_h=s.order_rescue_reminder_hours)


def order_input(order: Order, terms: ProductTerms) -> OrderInput:
    return OrderInput(
        order_id=order.id,
        agent_id=order.agent_id,
        carrier=order.carrier,
        terms=terms,
        msisdn_masked=order.msisdn_masked,
        msisdn_fingerprint=order.msisdn_fingerprint,
        placed_at=order.placed_at,
        delivery=delivery_terms(),
    )


def summary(order: Order) -> str:
    """The memo the order starts with: what it is. Where it stands is its OrderStatus search attribute and its current
    details; the workflow no longer rewrites the memo at each step (patch "publish-at-rest")."""
    return f"{order.carrier} {order.product_id} agent {order.agent_id} {order.msisdn_masked}"


async def ensure_workflow(client: Client, order: Order, terms: ProductTerms) -> None:
    """Start the order's workflow, or accept the one already running / already finished."""
    try:
        inp = order_input(order, terms)
        await client.start_workflow(
            contract.ORDER_WORKFLOW,
            inp,
            id=order_workflow_id(order.id),
            task_queue=contract.TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # pairs, not `key.value_set(...)`: value_set builds an upsert update, which a start cannot encode
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(contract.CARRIER, order.carrier),
                    SearchAttributePair(contract.AGENT_ID, order.agent_id),
                    SearchAttributePair(contract.ORDER_STATUS, OrderStatus.PLACED.value),
                ]
            ),
            memo={"summary": summary(order)},
            static_summary=contract.order_summary(inp),
        )
    except WorkflowAlreadyStartedError:
        # Only raised for a closed workflow (REJECT_DUPLICATE): the order's process already ran.
        log.info("order workflow already closed", order_id=order.id, agent_id=order.agent_id)
        return
    log.info("order workflow ensured", order_id=order.id, agent_id=order.agent_id)


def mark_started(session: Session, order_ids: list[str], now: datetime | None = None) -> None:
    """Its workflow is known to run (or to have run): the repair pass leaves the order alone."""
    if order_ids:
        session.exec(update(Order).where(col(Order.id).in_(order_ids), col(Order.process_started_at).is_(None))
                     .values(process_started_at=now or utcnow()))
        session.commit()


def get_order(session: Session, order_id: str) -> Order | None:
    return session.get(Order, order_id)


async def live_view(client: Client | None, order_id: str, timeout: float = QUERY_TIMEOUT_S) -> tuple[OrderView | None, str]:
    """The workflow's live checklist, or (None, why) when Temporal or the worker does not answer."""
    return await live_query(client, order_workflow_id(order_id), contract.CHECKLIST, OrderView, timeout)


def list_orders(session: Session, f: OrderFilter, limit: int, offset: int) -> tuple[list[Order], int]:
    conds = []
    if f.status:
        conds.append(Order.status == f.status)
    if f.carrier:
        conds.append(Order.carrier == f.carrier)
    if f.agent_id:
        conds.append(Order.agent_id == f.agent_id)
    if f.settlement_month:
        conds.append(Order.settlement_month == f.settlement_month)
    if f.failure_reason:
        conds.append(Order.failure_reason == f.failure_reason)
    total = session.exec(select(func.count()).select_from(Order).where(*conds)).one()
    items = session.exec(
        select(Order).where(*conds).order_by(col(Order.placed_at).desc(), col(Order.id)).limit(limit).offset(offset)
    ).all()
    return list(items), int(total)



def order_of_number(session: Session, fingerprints: list[str]) -> str | None:
    """The latest order that sold this number from our stock (the cancellations business asks: a cancelled number
    of our stock goes back to quarantine, account cancellation 1.8); `fingerprints` under every readable key."""
    return session.exec(select(Order.id).where(col(Order.msisdn_fingerprint).in_(fingerprints))
                        .order_by(col(Order.placed_at).desc())).first()


def count_by_status(session: Session) -> dict[str, int]:
    """How many orders stand at each status (a gauge of /metrics)."""
    rows = session.exec(select(Order.status, func.count()).group_by(Order.status)).all()
    return {status: int(n) for status, n in rows}

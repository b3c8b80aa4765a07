"""The agent's order-tracking table (every order with each link's time) and the agents' monthly delivery figures.

Read from the order rows the workflows keep up to date (`record_order_progress` writes each met link's carrier time)
and the carrier's audit rows; agents see their own orders only, staff every agent's (the route passes the scope).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from db.orders import AuditRow, Order
from domain.clock import month_bounds
from domain.orders.delivery import AgentKpis, rate

TIME_COLUMNS = ("placed_at", "accepted_at", "shipped_at", "signed_at", "activated_at", "recharged_at", "check_point",
                "in_network_at", "audited_at")
MAX_EXPORT_ROWS = 50_000  # one export; narrow the filters for more


@dataclass(frozen=True)
class TrackingFilter:
    agent_id: str | None = None
    carrier: str | None = None
    product_id: str | None = None
    status: str | None = None
    failure_reason: str | None = None
    month: str | None = None  # placed in this yyyymm (Shanghai)
    stale: bool | None = None


class TrackingRow(BaseModel):
    """One order with each link's time (carrier times; null: not reached yet)."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    agent_id: str
    carrier: str
    product_id: str
    msisdn_masked: str
    status: str
    failure_reason: str | None
    placed_at: datetime
    accepted_at: datetime | None = Field(description="the carrier accepted the order (a shipment implies it)")
    shipped_at: datetime | None
    tracking_no: str | None
    signed_at: datetime | None
    activated_at: datetime | None
    recharged_at: datetime | None = Field(description="the first recharge that counts")
    check_point: datetime | None = Field(description="when condition 5 is checked (end of the next month)")
    in_network_at: datetime | None = Field(description="the carrier answered: in network at the check point")
    audited_at: datetime | None = Field(description="the carrier's audit of the order reached us")
    settlement_month: str | None
    stale_reason: str | None
    commission_fen: int | None

    def values(self) -> tuple:
        return tuple(getattr(self, c) for c in COLUMNS)


# The table's columns, in the order of the chain (settlement rules 1.7: "the time of each link"), then the rest.
COLUMNS = tuple(TrackingRow.model_fields)


def _conditions(f: TrackingFilter) -> list:
    conds = []
    for column, value in ((Order.agent_id, f.agent_id), (Order.carrier, f.carrier), (Order.product_id, f.product_id),
                          (Order.status, f.status), (Order.failure_reason, f.failure_reason)):
        if value:
            conds.append(column == value)
    if f.month:
        start, end = month_bounds(f.month)
        conds += [col(Order.placed_at) >= start, col(Order.placed_at) < end]
    if f.stale is True:
        conds.append(col(Order.stale_reason).is_not(None))
    elif f.stale is False:
        conds.append(col(Order.stale_reason).is_(None))
    return conds


def tracking_rows(session: Session, f: TrackingFilter, limit: int, offset: int = 0) -> tuple[list[TrackingRow], int]:
    """One page of the table, newest order first, and how many orders match."""
    conds = _conditions(f)
    total = session.exec(select(func.count()).select_from(Order).where(*conds)).one()
    audited = (select(AuditRow.order_id, func.min(AuditRow.applied_at).label("audited_at"))
               .group_by(AuditRow.order_id).subquery())
    rows = session.exec(
        select(Order, audited.c.audited_at).outerjoin(audited, audited.c.order_id == Order.id).where(*conds)
        .order_by(col(Order.placed_at).desc(), col(Order.id)).limit(limit).offset(offset)
    ).all()
    out = [TrackingRow(order_id=o.id, agent_id=o.agent_id, carrier=o.carrier, product_id=o.product_id,
                       msisdn_masked=o.msisdn_masked, status=o.status, failure_reason=o.failure_reason,
                       placed_at=o.placed_at, accepted_at=o.carrier_accepted_at, shipped_at=o.shipped_at,
                       tracking_no=o.tracking_no, signed_at=o.signed_at, activated_at=o.activated_at,
                       recharged_at=o.recharged_at, check_point=o.check_point, in_network_at=o.in_network_at,
                       audited_at=_aware(audited_at), settlement_month=o.settlement_month,
                       stale_reason=o.stale_reason, commission_fen=o.commission_fen)
           for o, audited_at in rows]
    return out, int(total)


def _aware(at: datetime | str | None) -> datetime | None:
    """An aggregate bypasses the column type: SQLite hands back text (UTC), PostgreSQL an aware datetime."""
    if at is None:
        return None
    parsed = at if isinstance(at, datetime) else datetime.fromisoformat(at)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def kpis(session: Session, month: str, agent_id: str | None = None) -> list[AgentKpis]:
    """Each agent's figures for the orders it placed in `month` (Shanghai), by agent id: sign-for rate = signed /
    shipped, activation rate = activated / signed, settlement rate = settled / activated."""
    start, end = month_bounds(month)
    conds = [col(Order.placed_at) >= start, col(Order.placed_at) < end]
    if agent_id:
        conds.append(Order.agent_id == agent_id)
    rows = session.exec(
        select(Order.agent_id, func.count(), func.count(Order.shipped_at), func.count(Order.signed_at),
               func.count(Order.activated_at), func.sum(case((Order.status == "settled", 1), else_=0)),
               func.sum(case((Order.status == "failed", 1), else_=0)))
        .where(*conds).group_by(Order.agent_id).order_by(Order.agent_id)
    ).all()
    out = []
    for agent, placed, shipped, signed, activated, settled, failed in rows:
        shipped, signed, activated, settled = int(shipped), int(signed), int(activated), int(settled or 0)
        out.append(AgentKpis(agent_id=agent, month=month, placed=int(placed), shipped=shipped, signed=signed,
                             activated=activated, settled=settled, failed=int(failed or 0),
                             sign_for_rate=rate(signed, shipped), activation_rate=rate(activated, signed),
                             settlement_rate=rate(settled, activated)))
    if agent_id and not out:
        out.append(AgentKpis(agent_id=agent_id, month=month, placed=0, shipped=0, signed=0, activated=0, settled=0,
                             failed=0, sign_for_rate=None, activation_rate=None, settlement_rate=None))
    return out


KPI_COLUMNS = ("agent_id", "month", "placed", "shipped", "signed", "activated", "settled", "failed", "sign_for_rate",
               "activation_rate", "settlement_rate")


def kpi_values(k: AgentKpis) -> tuple:
    return tuple(getattr(k, c) for c in KPI_COLUMNS)


def stale_orders(session: Session, agent_id: str | None, reason: str | None, carrier: str | None, limit: int,
                 offset: int) -> tuple[list[Order], int]:
    """Orders flagged stale now, the longest without news first."""
    conds = [col(Order.stale_reason).is_not(None)]
    if agent_id:
        conds.append(Order.agent_id == agent_id)
    if reason:
        conds.append(Order.stale_reason == reason)
    if carrier:
        conds.append(Order.carrier == carrier)
    total = session.exec(select(func.count()).select_from(Order).where(*conds)).one()
    rows = session.exec(select(Order).where(*conds).order_by(col(Order.stale_since), col(Order.id))
                        .limit(limit).offset(offset)).all()
    return list(rows), int(total)

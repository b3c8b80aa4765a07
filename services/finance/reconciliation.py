"""Each carrier batch reconciled with the carrier's audit (domain/finance/reconciliation.py), and its totals to the
fen: every commission line of the batch's statements is paid, held, waiting in a payout exception, or payable."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import delete
from sqlmodel import Session, col, select

from core.settings import get_settings
from db.finance import PayoutException, ReconciliationLine
from db.orders import AgentStatement, AuditRow, CommissionLineRecord, LineStatus, Order, Product
from domain.finance.payouts import CLOSED_STATES
from domain.finance.reconciliation import AuditFigure, Difference, Totals, compare, paid_figure, policy_for
from domain.orders.order import ABSENT_FROM_AUDIT, OrderStatus
from workflows.finance.contract import ReconcileOutcome


def batch_id_of(carrier: str, month: str) -> str:
    return f"settlement-{carrier}-{month}"


def figures(session: Session, carrier: str, month: str) -> list[tuple[AuditFigure, Order | None]]:
    """Every order the carrier's audit of `month` named, and every one it should have named but did not."""
    rows = {r.order_id: r for r in session.exec(select(AuditRow).where(AuditRow.carrier == carrier,
                                                                      AuditRow.month == month))}
    orders = {o.id: o for o in session.exec(select(Order).where(
        Order.carrier == carrier, Order.settlement_month == month))}
    named = {o.id: o for o in session.exec(select(Order).where(col(Order.id).in_(list(rows))))} if rows else {}
    orders.update(named)
    products = {p.id: p.commission_fen for p in session.exec(select(Product))}
    out: list[tuple[AuditFigure, Order | None]] = []
    for order_id, row in sorted(rows.items()):
        order = orders.get(order_id)
        expected = products.get(order.product_id, 0) if order else 0
        out.append((AuditFigure(order_id=order_id, known=order is not None, expected_fen=expected, audited=True,
                                approved=row.approved, audited_fen=row.commission_fen), order))
    for order in sorted(orders.values(), key=lambda o: o.id):
        if order.id not in rows and order.status == OrderStatus.FAILED.value and order.failure_detail == ABSENT_FROM_AUDIT:
            out.append((AuditFigure(order_id=order.id, known=True, expected_fen=products.get(order.product_id, 0),
                                    audited=False), order))
    return out


def reconcile(session: Session, carrier: str, month: str) -> ReconcileOutcome:
    """Write the batch's differences (replacing an earlier run's) and answer the totals. Idempotent."""
    policy = policy_for(carrier, get_settings().finance_paid_figure)
    batch_id = batch_id_of(carrier, month)
    agent_lines = {ln.order_id: ln.amount_fen for ln in session.exec(select(CommissionLineRecord).where(
        CommissionLineRecord.carrier == carrier, CommissionLineRecord.month == month,
        CommissionLineRecord.role == "agent"))}
    session.exec(delete(ReconciliationLine).where(ReconciliationLine.batch_id == batch_id))  # type: ignore[call-overload]
    expected = audited = 0
    causes: Counter[str] = Counter()
    for fig, order in figures(session, carrier, month):
        expected += fig.expected_fen if fig.known else 0
        audited += (fig.audited_fen if fig.audited_fen is not None else fig.expected_fen) if fig.approved else 0
        diff = compare(fig, policy)
        if diff is None:
            continue
        if fig.order_id in agent_lines:  # what the agent's line really says (written when the order settled)
            diff = diff.model_copy(update={"paid_fen": agent_lines[fig.order_id]})
        causes[diff.cause.value] += 1
        session.add(ReconciliationLine(batch_id=batch_id, carrier=carrier, month=month, order_id=fig.order_id,
                                       agent_id=order.agent_id if order else "", cause=diff.cause.value,
                                       expected_fen=diff.expected_fen, audited_fen=diff.audited_fen,
                                       paid_fen=diff.paid_fen, difference_fen=diff.difference_fen))
    session.commit()
    return ReconcileOutcome(expected_fen=expected, audited_fen=audited, differences=sum(causes.values()),
                            by_cause=dict(causes))


def differences(session: Session, batch_id: str) -> list[ReconciliationLine]:
    return list(session.exec(select(ReconciliationLine).where(ReconciliationLine.batch_id == batch_id)
                             .order_by(col(ReconciliationLine.cause), col(ReconciliationLine.order_id))).all())


def waiting_line_ids(session: Session, *, carrier: str | None = None, agent_id: str | None = None) -> set[int]:
    """Lines waiting in an open payout exception (payable, but no payout takes them until finance acts)."""
    q = select(PayoutException.line_ids).where(col(PayoutException.state).not_in([s.value for s in CLOSED_STATES]))
    if carrier:
        q = q.where(PayoutException.carrier == carrier)
    if agent_id:
        q = q.where(PayoutException.agent_id == agent_id)
    return {i for ids in session.exec(q) for i in json.loads(ids)}


def line_state(line: CommissionLineRecord, waiting: set[int]) -> str:
    """paid, held, exception (payable, waiting for finance) or payable (the next payout pays it)."""
    if line.status == LineStatus.PAYABLE and line.id in waiting:
        return "exception"
    return line.status.value


def totals_of(lines: list[CommissionLineRecord], waiting: set[int]) -> Totals:
    by: Counter[str] = Counter()
    for ln in lines:
        by[line_state(ln, waiting)] += ln.amount_fen
    return Totals(lines_fen=sum(ln.amount_fen for ln in lines), paid_fen=by["paid"], held_fen=by["held"],
                  exceptions_fen=by["exception"], payable_fen=by["payable"])


def batch_lines(session: Session, batch_id: str) -> list[CommissionLineRecord]:
    ids = select(AgentStatement.id).where(AgentStatement.batch_id == batch_id)
    return list(session.exec(select(CommissionLineRecord).where(col(CommissionLineRecord.statement_id).in_(ids))
                             .order_by(col(CommissionLineRecord.agent_id), col(CommissionLineRecord.order_id),
                                       col(CommissionLineRecord.role))).all())


def batch_totals(session: Session, batch_id: str, carrier: str) -> Totals:
    return totals_of(batch_lines(session, batch_id), waiting_line_ids(session, carrier=carrier))


__all__ = ["Difference", "paid_figure"]

"""Reports finance and agents open and sum: the carrier batch, the agent's statement of a month, and the month-end
summary per carrier. Each is a `core.exports.Report` (CSV and XLSX): a header block (carrier or agent, month,
generated at, the subtotals paid / held / exceptions / payable), tables with amounts in exact fen integers and
in yuan as numbers, and a sheet of failures by reason (orders by failure reason, payouts by the bank's reason).

A line's state in every report: `paid`, `held` (the agent is suspended: agent accounts 3.2, paid with the next
payout after reinstatement), `exception` (its payout was refused; finance acts on it) or `payable` (the next
payout of the carrier pays it).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from core.errors import NotFound
from core.exports import Report, Sheet, safe_text, yuan_number
from core.settings import get_settings
from db.agents import Agent
from db.finance import PayoutException
from db.orders import AgentStatement, CommissionLineRecord, Order, SettlementBatch
from domain.clock import shanghai_text
from domain.finance.payouts import CLOSED_STATES
from domain.finance.reconciliation import Totals, policy_for
from domain.orders.carriers import carrier_name
from domain.orders.order import OrderStatus
from services.agents import AgentNotFound
from services.finance.reconciliation import (
    batch_lines,
    batch_totals,
    differences,
    line_state,
    totals_of,
    waiting_line_ids,
)

FAILURE_COLUMNS = ("kind", "reason", "count", "amount_fen", "amount_yuan")


class BatchNotFound(NotFound):
    def __init__(self, batch_id: str) -> None:
        super().__init__(f"unknown settlement batch {batch_id}")


def _subtotals(t: Totals) -> list[tuple[str, object]]:
    return [(f"{label} (fen)", fen) for label, fen in (
        ("commission", t.lines_fen), ("paid", t.paid_fen), ("held", t.held_fen), ("exceptions", t.exceptions_fen),
        ("payable", t.payable_fen))] + [
        (f"{label} (yuan)", yuan_number(fen)) for label, fen in (
            ("commission", t.lines_fen), ("paid", t.paid_fen), ("held", t.held_fen),
            ("exceptions", t.exceptions_fen), ("payable", t.payable_fen))] + [
        ("balanced", "yes" if t.balanced else "NO")]


def _failures(failed: list[Order], exceptions: list[PayoutException]) -> Sheet:
    orders = Counter(o.failure_reason or "unknown" for o in failed)
    bank_n = Counter(e.reason for e in exceptions)
    bank_fen: Counter[str] = Counter()
    for e in exceptions:
        bank_fen[e.reason] += e.amount_fen
    rows: list[list] = [["order failed", reason, n, None, None] for reason, n in sorted(orders.items())]
    rows += [["payout exception", reason, n, bank_fen[reason], yuan_number(bank_fen[reason])]
             for reason, n in sorted(bank_n.items())]
    return Sheet("failures by reason", FAILURE_COLUMNS, rows, money_columns=("amount_yuan",))


def _now() -> str:
    return shanghai_text(datetime.now(UTC))


# ---- the carrier batch -------------------------------------------------------------------------------------

BATCH_ORDER_COLUMNS = ("order_id", "agent_id", "status", "failure_reason", "paid_fen", "paid_yuan")
STATEMENT_COLUMNS = ("agent_id", "orders_settled", "orders_failed", "commission_fen", "paid_fen", "held_fen",
                     "exceptions_fen", "payable_fen", "commission_yuan", "paid_yuan", "held_yuan", "exceptions_yuan")
DIFFERENCE_COLUMNS = ("order_id", "agent_id", "cause", "expected_fen", "audited_fen", "paid_fen", "difference_fen",
                      "difference_yuan")
EXCEPTION_COLUMNS = ("payout_id", "agent_id", "state", "reason", "amount_fen", "amount_yuan", "detail")


def batch_report(session: Session, batch_id: str) -> Report:
    batch = session.get(SettlementBatch, batch_id)
    if batch is None:
        raise BatchNotFound(batch_id)
    lines = batch_lines(session, batch_id)
    waiting = waiting_line_ids(session, carrier=batch.carrier)
    totals = totals_of(lines, waiting)
    statements = session.exec(select(AgentStatement).where(AgentStatement.batch_id == batch_id)
                              .order_by(col(AgentStatement.agent_id))).all()
    orders = session.exec(select(Order).where(Order.carrier == batch.carrier, Order.settlement_month == batch.month)
                          .order_by(col(Order.id))).all()
    exceptions = session.exec(select(PayoutException).where(PayoutException.batch_id == batch_id)
                              .order_by(col(PayoutException.id))).all()
    paid_by_order: Counter[str] = Counter()
    for ln in lines:
        paid_by_order[ln.order_id] += ln.amount_fen
    stmt_rows = []
    for st in statements:
        t = totals_of([ln for ln in lines if ln.statement_id == st.id], waiting)
        stmt_rows.append([st.agent_id, st.orders_settled, st.orders_failed, t.lines_fen, t.paid_fen, t.held_fen,
                          t.exceptions_fen, t.payable_fen, yuan_number(t.lines_fen), yuan_number(t.paid_fen),
                          yuan_number(t.held_fen), yuan_number(t.exceptions_fen)])
    diffs = differences(session, batch_id)
    header: list[tuple[str, object]] = [
        ("report", "carrier settlement batch"), ("carrier", carrier_name(batch.carrier)), ("month", batch.month),
        ("batch", batch.id), ("status", batch.status.value), ("generated at", _now()),
        ("paid figure", policy_for(batch.carrier, get_settings().finance_paid_figure).value),
        ("orders settled", batch.orders_settled), ("orders failed", batch.orders_failed),
        *_subtotals(totals)]
    return Report(header, [
        Sheet("orders", BATCH_ORDER_COLUMNS,
              [[o.id, o.agent_id, o.status, o.failure_reason or "", paid_by_order.get(o.id, 0),
                yuan_number(paid_by_order.get(o.id, 0))] for o in orders], money_columns=("paid_yuan",)),
        Sheet("statements", STATEMENT_COLUMNS, stmt_rows,
              money_columns=("commission_yuan", "paid_yuan", "held_yuan", "exceptions_yuan")),
        Sheet("differences", DIFFERENCE_COLUMNS,
              [[d.order_id, d.agent_id, d.cause, d.expected_fen, d.audited_fen, d.paid_fen, d.difference_fen,
                yuan_number(d.difference_fen)] for d in diffs], money_columns=("difference_yuan",)),
        Sheet("payout exceptions", EXCEPTION_COLUMNS,
              [[e.id, e.agent_id, e.state, e.reason, e.amount_fen, yuan_number(e.amount_fen), safe_text(e.detail)]
               for e in exceptions], money_columns=("amount_yuan",)),
        _failures([o for o in orders if o.status == OrderStatus.FAILED.value], list(exceptions)),
    ])


# ---- the agent's statement of a month (every carrier) ---------------------------------------------------------

LINE_COLUMNS = ("order_id", "carrier", "role", "state", "amount_fen", "amount_yuan")
FAILED_COLUMNS = ("order_id", "carrier", "failure_reason", "failure_detail")


def statement_report(session: Session, agent_id: str, month: str) -> Report:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise AgentNotFound(agent_id)
    lines = list(session.exec(select(CommissionLineRecord).where(
        CommissionLineRecord.agent_id == agent_id, CommissionLineRecord.month == month)
        .order_by(col(CommissionLineRecord.carrier), col(CommissionLineRecord.order_id),
                  col(CommissionLineRecord.role))).all())
    failed = session.exec(select(Order).where(Order.agent_id == agent_id, Order.settlement_month == month,
                                              Order.status == OrderStatus.FAILED.value)
                          .order_by(col(Order.carrier), col(Order.id))).all()
    exceptions = session.exec(select(PayoutException).where(PayoutException.agent_id == agent_id,
                                                            PayoutException.month == month)).all()
    waiting = waiting_line_ids(session, agent_id=agent_id)
    totals = totals_of(lines, waiting)
    header: list[tuple[str, object]] = [
        ("report", "agent statement"), ("agent", agent.id), ("agent name", agent.name), ("month", month),
        ("agent status", agent.status.value), ("generated at", _now()),
        ("carriers", ", ".join(sorted({carrier_name(ln.carrier) for ln in lines})) or "-"), *_subtotals(totals)]
    return Report(header, [
        Sheet("commission lines", LINE_COLUMNS,
              [[ln.order_id, ln.carrier, ln.role, line_state(ln, waiting), ln.amount_fen, yuan_number(ln.amount_fen)]
               for ln in lines], money_columns=("amount_yuan",)),
        Sheet("failed orders", FAILED_COLUMNS,
              [[o.id, o.carrier, o.failure_reason or "", safe_text(o.failure_detail)] for o in failed]),
        _failures(list(failed), list(exceptions)),
    ])


# ---- month end: one row per carrier ----------------------------------------------------------------------------

MONTH_END_COLUMNS = ("carrier", "batch", "status", "orders_settled", "orders_failed", "commission_fen", "paid_fen",
                     "held_fen", "exceptions_fen", "payable_fen", "open_exceptions", "differences", "balanced",
                     "commission_yuan", "paid_yuan", "held_yuan", "exceptions_yuan")


def month_end(session: Session, month: str) -> tuple[Report, list[dict]]:
    batches = session.exec(select(SettlementBatch).where(SettlementBatch.month == month)
                           .order_by(col(SettlementBatch.carrier))).all()
    rows, items = [], []
    for b in batches:
        t = batch_totals(session, b.id, b.carrier)
        open_exc = len([e for e in session.exec(select(PayoutException).where(PayoutException.batch_id == b.id))
                        if e.state not in CLOSED_STATES])
        diffs = len(differences(session, b.id))
        item = dict(carrier=b.carrier, batch_id=b.id, status=b.status.value, orders_settled=b.orders_settled,
                    orders_failed=b.orders_failed, commission_fen=t.lines_fen, paid_fen=t.paid_fen,
                    held_fen=t.held_fen, exceptions_fen=t.exceptions_fen, payable_fen=t.payable_fen,
                    open_exceptions=open_exc, differences=diffs, balanced=t.balanced)
        items.append(item)
        rows.append([carrier_name(b.carrier), b.id, b.status.value, b.orders_settled, b.orders_failed, t.lines_fen,
                     t.paid_fen, t.held_fen, t.exceptions_fen, t.payable_fen, open_exc, diffs,
                     "yes" if t.balanced else "NO", yuan_number(t.lines_fen), yuan_number(t.paid_fen),
                     yuan_number(t.held_fen), yuan_number(t.exceptions_fen)])
    total = Totals(lines_fen=sum(i["commission_fen"] for i in items), paid_fen=sum(i["paid_fen"] for i in items),
                   held_fen=sum(i["held_fen"] for i in items), exceptions_fen=sum(i["exceptions_fen"] for i in items),
                   payable_fen=sum(i["payable_fen"] for i in items))
    header: list[tuple[str, object]] = [("report", "month-end summary"), ("month", month), ("generated at", _now()),
                                        ("carriers", len(items)), *_subtotals(total)]
    return Report(header, [Sheet("carriers", MONTH_END_COLUMNS, rows,
                                 money_columns=("commission_yuan", "paid_yuan", "held_yuan", "exceptions_yuan"))]), items

"""Settlement batches, agent statements and their CSV / XLSX export.

An export covers one agent and one settlement month: one row per commission line, one row per
failed order of that month with its failure reason, and a total row. Amounts appear twice: exact
yuan text (domain.money.yuan) and integer fen.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.exports import csv_bytes, safe_filename_part, xlsx_bytes
from db.agents import Agent
from db.orders import AgentStatement, CommissionLineRecord, Order, SettlementBatch
from domain.money import yuan
from domain.orders.order import OrderStatus
from services.agents import AgentNotFound

COLUMNS = (
    "kind",
    "order_id",
    "carrier",
    "role",
    "line_status",
    "amount_yuan",
    "amount_fen",
    "failure_reason",
    "failure_detail",
)


def list_batches(
    session: Session, carrier: str | None, month: str | None, limit: int, offset: int
) -> tuple[list[SettlementBatch], int]:
    conds = []
    if carrier:
        conds.append(SettlementBatch.carrier == carrier)
    if month:
        conds.append(SettlementBatch.month == month)
    total = session.exec(select(func.count()).select_from(SettlementBatch).where(*conds)).one()
    rows = session.exec(
        select(SettlementBatch)
        .where(*conds)
        .order_by(col(SettlementBatch.month).desc(), col(SettlementBatch.carrier))
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def get_batch(session: Session, batch_id: str) -> tuple[SettlementBatch, list[AgentStatement]] | None:
    batch = session.get(SettlementBatch, batch_id)
    if batch is None:
        return None
    statements = session.exec(
        select(AgentStatement).where(AgentStatement.batch_id == batch_id).order_by(col(AgentStatement.agent_id))
    ).all()
    return batch, list(statements)


def agent_statements(session: Session, agent_id: str, month: str | None) -> list[AgentStatement]:
    if session.get(Agent, agent_id) is None:
        raise AgentNotFound(agent_id)
    q = select(AgentStatement).where(AgentStatement.agent_id == agent_id)
    if month:
        q = q.where(AgentStatement.month == month)
    return list(session.exec(q.order_by(col(AgentStatement.month).desc(), col(AgentStatement.carrier))).all())


@dataclass
class StatementRow:
    kind: str  # "commission" | "failed" | "total"
    order_id: str = ""
    carrier: str = ""
    role: str = ""
    line_status: str = ""
    amount_fen: int | None = None
    failure_reason: str = ""
    failure_detail: str = ""

    def cells(self) -> list[str | int]:
        amount_yuan = yuan(self.amount_fen) if self.amount_fen is not None else ""
        amount_fen: str | int = self.amount_fen if self.amount_fen is not None else ""
        return [
            self.kind,
            _safe(self.order_id),
            _safe(self.carrier),
            _safe(self.role),
            _safe(self.line_status),
            amount_yuan,
            amount_fen,
            _safe(self.failure_reason),
            _safe(self.failure_detail),
        ]


def _safe(text: str) -> str:
    """Spreadsheet formula injection guard for text that may come from outside (carrier details)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def statement_rows(session: Session, agent_id: str, month: str) -> list[StatementRow]:
    if session.get(Agent, agent_id) is None:
        raise AgentNotFound(agent_id)
    lines = session.exec(
        select(CommissionLineRecord)
        .where(CommissionLineRecord.agent_id == agent_id, CommissionLineRecord.month == month)
        .order_by(col(CommissionLineRecord.carrier), col(CommissionLineRecord.order_id), col(CommissionLineRecord.role))
    ).all()
    failed = session.exec(
        select(Order)
        .where(
            Order.agent_id == agent_id,
            Order.settlement_month == month,
            Order.status == OrderStatus.FAILED.value,
        )
        .order_by(col(Order.carrier), col(Order.id))
    ).all()
    rows = [
        StatementRow(
            kind="commission",
            order_id=ln.order_id,
            carrier=ln.carrier,
            role=ln.role,
            line_status=ln.status.value,
            amount_fen=ln.amount_fen,
        )
        for ln in lines
    ]
    rows += [
        StatementRow(
            kind="failed",
            order_id=o.id,
            carrier=o.carrier,
            failure_reason=o.failure_reason or "",
            failure_detail=o.failure_detail,
        )
        for o in failed
    ]
    rows.append(StatementRow(kind="total", amount_fen=sum(ln.amount_fen for ln in lines)))
    return rows


def export_filename(agent_id: str, month: str, ext: str) -> str:
    return f"statement-{safe_filename_part(agent_id)}-{month}.{ext}"


def to_csv(rows: list[StatementRow]) -> bytes:
    return csv_bytes(COLUMNS, (r.cells() for r in rows))


def to_xlsx(rows: list[StatementRow], title: str) -> bytes:
    return xlsx_bytes(title, COLUMNS, (r.cells() for r in rows), text_columns=["amount_yuan"], total_row=True)


def commission_lines_by_status(session: Session) -> dict[str, tuple[int, int]]:
    """Commission lines per status (payable: waiting for the next payout; held: the agent is suspended; paid),
    each as (lines, fen) — the payouts pending of /metrics."""
    rows = session.exec(select(CommissionLineRecord.status, func.count(), func.coalesce(func.sum(CommissionLineRecord.amount_fen), 0))
                        .group_by(CommissionLineRecord.status)).all()
    return {str(status): (int(n), int(fen)) for status, n, fen in rows}

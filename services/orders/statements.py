"""Settlement batches and agent statements. Their CSV / XLSX exports are finance's reports
(services/finance/reports.py): header block, numbers as numbers, subtotals, failures by reason."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.exports import safe_filename_part
from db.agents import Agent
from db.orders import AgentStatement, CommissionLineRecord, SettlementBatch
from services.agents import AgentNotFound


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


def export_filename(agent_id: str, month: str, ext: str) -> str:
    return f"statement-{safe_filename_part(agent_id)}-{month}.{ext}"


def commission_lines_by_status(session: Session) -> dict[str, tuple[int, int]]:
    """Commission lines per status (payable: waiting for the next payout; held: the agent is suspended; paid),
    each as (lines, fen) — the payouts pending of /metrics."""
    rows = session.exec(select(CommissionLineRecord.status, func.count(), func.coalesce(func.sum(CommissionLineRecord.amount_fen), 0))
                        .group_by(CommissionLineRecord.status)).all()
    return {str(status): (int(n), int(fen)) for status, n, fen in rows}

"""Complaint KPIs per month and department (complaint procedure 4.6.1), as rows for JSON, CSV and XLSX.

Attribution (our choice where the complaint procedure is silent, see docs/complaints.md): a complaint counts in the month
it was RECEIVED (Shanghai) and for its RECEIVING department (the first responsible, who tracks it to the
end); an unqualified (refused) reply counts for the department that sent it, in the month it was sent.

- on-time rate = complaints replied within their due time in every handling cycle / complaints received
- repeat rate = repeat complaints (same number, same type within 30 days) / complaints received
- satisfaction rate = closed satisfied or silent / complaints whose survey has closed
- unqualified replies = replies refused for missing elements or "transferred" as a reply
- escalations = crisis reports filed
- fee returns by kind: count and fen of the month's returns that were not refused
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel
from sqlmodel import Session, col, select

from core.exports import csv_bytes, xlsx_bytes
from db.complaints import Complaint, ComplaintEvent, FeeReturn
from domain.clock import month_bounds
from domain.complaints.fee_return import FeeReturnStatus, Kind

KINDS = [k.value for k in Kind if k != Kind.NONE]


class KpiRow(BaseModel):
    month: str
    department: str
    received: int
    replied_on_time: int
    on_time_rate: float | None
    repeats: int
    repeat_rate: float | None
    surveyed: int
    satisfied: int
    satisfaction_rate: float | None
    unqualified_replies: int
    escalations: int
    fee_returns: dict[str, int]  # kind -> count
    fee_returns_fen: dict[str, int]  # kind -> amount


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def kpis(session: Session, month: str, department: str | None = None) -> list[KpiRow]:
    start, end = month_bounds(month)
    received = session.exec(select(Complaint).where(Complaint.received_at >= start, Complaint.received_at < end)).all()
    by_dept: dict[str, list[Complaint]] = defaultdict(list)
    for c in received:
        by_dept[c.receiving_department].append(c)
    dept_of = {c.id: c.receiving_department for c in received}

    unqualified: dict[str, int] = defaultdict(int)
    for e in session.exec(select(ComplaintEvent).where(ComplaintEvent.kind == "reply_refused",
                                                       ComplaintEvent.at >= start, ComplaintEvent.at < end)).all():
        unqualified[e.department or "unknown"] += 1
    escalations: dict[str, int] = defaultdict(int)
    for e in session.exec(select(ComplaintEvent).where(ComplaintEvent.kind == "escalated",
                                                       col(ComplaintEvent.complaint_id).in_(list(dept_of)))).all():
        escalations[dept_of[e.complaint_id]] += 1
    fee_count: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    fee_fen: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    returns = session.exec(select(FeeReturn, Complaint.receiving_department).join(Complaint)
                           .where(FeeReturn.requested_at >= start, FeeReturn.requested_at < end,
                                  col(FeeReturn.status).not_in([FeeReturnStatus.REFUSED.value, FeeReturnStatus.NO_RETURN.value]))).all()
    for r, dept in returns:
        fee_count[dept][r.decision] += 1
        fee_fen[dept][r.decision] += r.amount_fen

    departments = sorted(set(by_dept) | set(unqualified) | set(fee_count))
    if department:
        departments = [d for d in departments if d == department] or [department]
    rows = []
    for d in departments:
        cs = by_dept.get(d, [])
        on_time = sum(1 for c in cs if c.on_time is True)
        repeats = sum(1 for c in cs if c.repeat_of)
        surveyed = [c for c in cs if c.outcome]
        satisfied = sum(1 for c in surveyed if c.outcome in ("satisfied", "silent"))
        rows.append(KpiRow(month=month, department=d, received=len(cs), replied_on_time=on_time,
                           on_time_rate=_rate(on_time, len(cs)), repeats=repeats, repeat_rate=_rate(repeats, len(cs)),
                           surveyed=len(surveyed), satisfied=satisfied, satisfaction_rate=_rate(satisfied, len(surveyed)),
                           unqualified_replies=unqualified.get(d, 0), escalations=escalations.get(d, 0),
                           fee_returns=dict(fee_count[d]) if d in fee_count else dict.fromkeys(KINDS, 0),
                           fee_returns_fen=dict(fee_fen[d]) if d in fee_fen else dict.fromkeys(KINDS, 0)))
    return rows


COLUMNS = ["month", "department", "received", "replied_on_time", "on_time_rate", "repeats", "repeat_rate", "surveyed",
           "satisfied", "satisfaction_rate", "unqualified_replies", "escalations",
           *[f"fee_returns_{k}" for k in KINDS], *[f"fee_returns_{k}_fen" for k in KINDS]]


def _flat(row: KpiRow) -> list:
    d = row.model_dump()
    return [*(d[c] for c in COLUMNS[:12]), *(row.fee_returns[k] for k in KINDS), *(row.fee_returns_fen[k] for k in KINDS)]


def to_csv(rows: list[KpiRow]) -> bytes:
    return csv_bytes(COLUMNS, (_flat(r) for r in rows))


def to_xlsx(rows: list[KpiRow]) -> bytes:
    return xlsx_bytes(f"complaints {rows[0].month}" if rows else "complaints", COLUMNS, (_flat(r) for r in rows))

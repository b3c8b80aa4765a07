"""Complaint KPIs per month and department (complaint procedure 4.4 statistics, 4.6.1), each beside its target from
settings, as rows for JSON, CSV and XLSX. One row per department and an `all` row for the city.

Attribution (docs/complaints.md, "KPIs"): a ticket counts for its RECEIVING department (the first responsible,
complaint procedure 4.2.2.1); what a department did itself (a transfer, a refused reply) counts for that
department, in the month it did it.

- on-time rate = tickets DUE in the month (their current due time) that got a qualified reply by it, in every
  handling cycle / tickets due in the month whose due time has passed or that were replied; the ones not due yet
  are `due_pending`, never counted against anyone;
- reply rate = tickets received in the month that got a reply / those received whose due time passed or that were
  replied; the same for VIP customers (the procedure: at least 98%, important customers always);
- transfer timeliness = transfers made within the level's transfer deadline (settings, 4.3.7) / transfers made;
- repeat rate = repeats (same number and type within 30 days, 4.3.5) / tickets received;
- satisfaction = satisfied answers / survey answers (satisfied + dissatisfied); silence and tickets never surveyed
  (care-SMS limit) are counted apart and are no answer;
- unqualified replies: refused replies, count and rate over all replies the department sent;
- crisis reports filed (4.4 crisis); escalations = tickets that went over our heads (9.0): received through a
  regulator or public channel from a number that complained to us within the 30 days before;
- "subscribed without knowing" per 10,000 customers of the department (settings `complaint_customer_base`);
- unacknowledged notices addressed to the department, and their repeats;
- hot-spot types: the month's most frequent complaint types.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlmodel import Session, col, select

from core.db import utcnow
from core.exports import csv_bytes, xlsx_bytes
from core.settings import get_settings
from db.complaints import Complaint, ComplaintEvent, ComplaintNotice, FeeReturn, SmsMessage
from domain.clock import month_bounds, require_aware
from domain.complaints.complaint import LEVEL1_SOURCES, REGULATOR_SOURCES, REPEAT_WINDOW, ComplaintType
from domain.complaints.fee_return import FeeReturnStatus, Kind

KINDS = [k.value for k in Kind if k != Kind.NONE]
ALL = "all"
HOT_SPOTS = 3
ARRIVALS = ("registered", "transferred", "reopened")  # the ticket reaches a department


class KpiRow(BaseModel):
    month: str
    department: str
    received: int
    # on time, over the tickets due in the month
    due: int
    due_pending: int
    closed_on_time: int
    on_time_rate: float | None
    # reply rate, over the tickets received
    replied: int
    reply_rate: float | None
    vip_received: int
    vip_replied: int
    vip_reply_rate: float | None
    transfers: int
    transfers_on_time: int
    transfer_on_time_rate: float | None
    repeats: int
    repeat_rate: float | None
    survey_answers: int
    satisfied: int
    dissatisfied: int
    satisfaction_rate: float | None
    silent: int
    not_surveyed: int
    replies_sent: int
    unqualified_replies: int
    unqualified_rate: float | None
    crisis_reports: int
    escalations: int
    uninformed_subscription: int
    customer_base: int | None
    uninformed_per_10k: float | None
    special_channel: int
    notices: int
    unacknowledged_notices: int
    notice_repeats: int
    hot_spots: list[str]  # "type: count", most frequent first
    fee_returns: dict[str, int]  # kind -> count
    fee_returns_fen: dict[str, int]  # kind -> amount
    credit_failed: int
    targets: dict[str, float]
    off_target: list[str]


def targets() -> dict[str, float]:
    s = get_settings()
    return {"on_time_rate": s.complaint_target_on_time_rate, "reply_rate": s.complaint_target_reply_rate,
            "vip_reply_rate": s.complaint_target_vip_reply_rate,
            "transfer_on_time_rate": s.complaint_target_transfer_on_time_rate,
            "repeat_rate": s.complaint_target_repeat_rate_max, "satisfaction_rate": s.complaint_target_satisfaction_rate,
            "unqualified_replies": s.complaint_target_unqualified_replies,
            "crisis_reports": s.complaint_target_crisis_reports, "escalations": s.complaint_target_escalations,
            "uninformed_per_10k": s.complaint_target_uninformed_per_10k_max,
            "unacknowledged_notices": s.complaint_target_unacknowledged_notices}


AT_MOST = {"repeat_rate", "unqualified_replies", "crisis_reports", "escalations", "uninformed_per_10k",
           "unacknowledged_notices"}  # the others are "at least"


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _misses(row: dict, goal: dict[str, float]) -> list[str]:
    out = []
    for name, target in goal.items():
        value = row.get(name)
        if value is None:
            continue
        if (value > target) if name in AT_MOST else (value < target):
            out.append(name)
    return out


def transfer_within(level: str) -> timedelta:
    hours = get_settings().complaint_transfer_within_h
    return timedelta(hours=hours.get(level, max(hours.values(), default=8)))


def kpis(session: Session, month: str, department: str | None = None, now: datetime | None = None) -> list[KpiRow]:
    now = require_aware(now) if now else utcnow()
    start, end = month_bounds(month)
    received = list(session.exec(select(Complaint).where(Complaint.received_at >= start, Complaint.received_at < end)).all())
    due_rows = list(session.exec(select(Complaint).where(Complaint.due_at >= start, Complaint.due_at < end)).all())
    tickets = {c.id: c for c in [*received, *due_rows]}
    dept_of = {c.id: c.receiving_department for c in received}

    d_received: dict[str, list[Complaint]] = defaultdict(list)
    for c in received:
        d_received[c.receiving_department].append(c)
    d_due: dict[str, list[Complaint]] = defaultdict(list)
    for c in due_rows:
        d_due[c.receiving_department].append(c)

    # events of the month's tickets (survey answers, crisis reports) and the month's own acts (transfers, replies)
    ev_month = list(session.exec(select(ComplaintEvent).where(ComplaintEvent.at >= start, ComplaintEvent.at < end,
                                                              col(ComplaintEvent.kind).in_(["transferred", "replied",
                                                                                            "reply_refused"]))).all())
    ids = list(dept_of)
    ev_tickets = list(session.exec(select(ComplaintEvent).where(col(ComplaintEvent.complaint_id).in_(ids),
                                                                col(ComplaintEvent.kind).in_(["escalated", "dissatisfied"]))
                                   ).all()) if ids else []
    transferred_ids = sorted({e.complaint_id for e in ev_month if e.kind == "transferred"})
    trail: dict[str, list[ComplaintEvent]] = defaultdict(list)
    if transferred_ids:
        for e in session.exec(select(ComplaintEvent).where(col(ComplaintEvent.complaint_id).in_(transferred_ids),
                                                           col(ComplaintEvent.kind).in_(ARRIVALS))
                              .order_by(col(ComplaintEvent.at), col(ComplaintEvent.id))).all():
            trail[e.complaint_id].append(e)
        for cid in transferred_ids:
            if cid not in tickets:
                tickets[cid] = session.get(Complaint, cid)

    transfers: dict[str, list[bool]] = defaultdict(list)
    for cid, evs in trail.items():
        arrived = None
        for e in evs:
            if e.kind == "transferred" and arrived is not None and start <= e.at < end:
                level = tickets[cid].level if tickets.get(cid) else "3"
                transfers[e.department or "unknown"].append(e.at - arrived <= transfer_within(level))
            arrived = e.at
    replies_sent: Counter[str] = Counter(e.department or "unknown" for e in ev_month if e.kind == "replied")
    refused: Counter[str] = Counter(e.department or "unknown" for e in ev_month if e.kind == "reply_refused")
    crises: Counter[str] = Counter(dept_of[e.complaint_id] for e in ev_tickets if e.kind == "escalated")
    dissatisfied: Counter[str] = Counter(dept_of[e.complaint_id] for e in ev_tickets if e.kind == "dissatisfied")

    held = set(session.exec(select(SmsMessage.complaint_id).where(col(SmsMessage.complaint_id).in_(ids),
                                                                  SmsMessage.kind == "survey",
                                                                  SmsMessage.status == "held_care_limit")).all()) if ids else set()
    escalated = _escalated_over_us(session, received)

    notices: dict[str, list[ComplaintNotice]] = defaultdict(list)
    for n in session.exec(select(ComplaintNotice).where(ComplaintNotice.at >= start, ComplaintNotice.at < end)).all():
        notices[n.to_department].append(n)

    fee_count: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    fee_fen: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    credit_failed: Counter[str] = Counter()
    returns = session.exec(select(FeeReturn, Complaint.receiving_department).join(Complaint)
                           .where(FeeReturn.requested_at >= start, FeeReturn.requested_at < end,
                                  col(FeeReturn.status).not_in([FeeReturnStatus.REFUSED.value, FeeReturnStatus.NO_RETURN.value,
                                                                FeeReturnStatus.CANCELLED.value]))).all()
    for r, dept in returns:
        fee_count[dept][r.decision] += 1
        fee_fen[dept][r.decision] += r.amount_fen
        if r.status == FeeReturnStatus.CREDIT_FAILED:
            credit_failed[dept] += 1

    departments = sorted(set(d_received) | set(d_due) | set(transfers) | set(refused) | set(replies_sent)
                         | set(notices) | set(fee_count))
    if department:
        departments = [department]
    base = get_settings().complaint_customer_base
    goal = targets()

    def row(d: str, rec: list[Complaint], due: list[Complaint], tr: list[bool], sent: int, ref: int, crisis: int,
            dissat: int, note: list[ComplaintNotice], fc: dict[str, int], ff: dict[str, int], cf: int) -> KpiRow:
        passed = [c for c in due if c.due_at <= now or c.replied_at is not None]
        on_time = sum(1 for c in passed if c.on_time is True and c.replied_at is not None and c.replied_at <= c.due_at)
        answerable = [c for c in rec if c.due_at <= now or c.replied_at is not None]
        vip = [c for c in answerable if c.customer == "vip"]
        replied = sum(1 for c in answerable if c.replied_at is not None)
        vip_replied = sum(1 for c in vip if c.replied_at is not None)
        satisfied = sum(1 for c in rec if c.outcome == "satisfied")
        not_surveyed = sum(1 for c in rec if c.id in held)  # the survey was held (care-SMS limit): never asked
        silent = sum(1 for c in rec if c.outcome == "silent" and c.id not in held)
        uninformed = sum(1 for c in rec if c.ctype == ComplaintType.UNINFORMED_SUBSCRIPTION.value)
        customers = base.get(d)
        types = sorted(Counter(c.ctype for c in rec).items(), key=lambda t: (-t[1], t[0]))[:HOT_SPOTS]
        values = dict(
            month=month, department=d, received=len(rec), due=len(passed), due_pending=len(due) - len(passed),
            closed_on_time=on_time, on_time_rate=_rate(on_time, len(passed)),
            replied=replied, reply_rate=_rate(replied, len(answerable)), vip_received=len(vip), vip_replied=vip_replied,
            vip_reply_rate=_rate(vip_replied, len(vip)), transfers=len(tr), transfers_on_time=sum(tr),
            transfer_on_time_rate=_rate(sum(tr), len(tr)),
            repeats=sum(1 for c in rec if c.repeat_of), repeat_rate=_rate(sum(1 for c in rec if c.repeat_of), len(rec)),
            survey_answers=satisfied + dissat, satisfied=satisfied, dissatisfied=dissat,
            satisfaction_rate=_rate(satisfied, satisfied + dissat), silent=silent,
            not_surveyed=not_surveyed, replies_sent=sent + ref, unqualified_replies=ref,
            unqualified_rate=_rate(ref, sent + ref), crisis_reports=crisis,
            escalations=sum(1 for c in rec if c.id in escalated), uninformed_subscription=uninformed,
            customer_base=customers,
            uninformed_per_10k=round(uninformed * 10_000 / customers, 2) if customers else None,
            special_channel=sum(1 for c in rec if c.special_channel), notices=len(note),
            unacknowledged_notices=sum(1 for n in note if n.acknowledged_at is None),
            notice_repeats=sum(max(0, n.deliveries - 1) for n in note),
            hot_spots=[f"{t}: {n}" for t, n in types], fee_returns=fc, fee_returns_fen=ff, credit_failed=cf,
            targets=goal)
        return KpiRow(**values, off_target=_misses(values, goal))

    rows = [row(d, d_received.get(d, []), d_due.get(d, []), transfers.get(d, []), replies_sent.get(d, 0),
                refused.get(d, 0), crises.get(d, 0), dissatisfied.get(d, 0), notices.get(d, []),
                dict(fee_count[d]) if d in fee_count else dict.fromkeys(KINDS, 0),
                dict(fee_fen[d]) if d in fee_fen else dict.fromkeys(KINDS, 0), credit_failed.get(d, 0))
            for d in departments]
    if not department:
        rows.append(row(ALL, received, due_rows, [t for v in transfers.values() for t in v], sum(replies_sent.values()),
                        sum(refused.values()), sum(crises.values()), sum(dissatisfied.values()),
                        [n for v in notices.values() for n in v],
                        {k: sum(v[k] for v in fee_count.values()) for k in KINDS},
                        {k: sum(v[k] for v in fee_fen.values()) for k in KINDS}, sum(credit_failed.values())))
    return rows


def _escalated_over_us(session: Session, received: list[Complaint]) -> set[str]:
    """Tickets that came through a regulator or a public channel from a number that complained to us in the 30 days
    before: the customer went over our heads (complaint procedure 9.0)."""
    over = [c for c in received if c.source in {s.value for s in REGULATOR_SOURCES | LEVEL1_SOURCES}]
    out = set()
    for c in over:
        earlier = session.exec(select(Complaint.id).where(Complaint.msisdn_fingerprint == c.msisdn_fingerprint,
                                                          Complaint.id != c.id,
                                                          Complaint.received_at >= c.received_at - REPEAT_WINDOW,
                                                          Complaint.received_at < c.received_at)).first()
        if earlier is not None:
            out.add(c.id)
    return out


FLAT = ["received", "due", "due_pending", "closed_on_time", "on_time_rate", "replied", "reply_rate", "vip_received",
        "vip_replied", "vip_reply_rate", "transfers", "transfers_on_time", "transfer_on_time_rate", "repeats",
        "repeat_rate", "survey_answers", "satisfied", "dissatisfied", "satisfaction_rate", "silent", "not_surveyed",
        "replies_sent", "unqualified_replies", "unqualified_rate", "crisis_reports", "escalations",
        "uninformed_subscription", "customer_base", "uninformed_per_10k", "special_channel", "notices",
        "unacknowledged_notices", "notice_repeats"]


def _columns() -> list[str]:
    goal = targets()
    cols = ["month", "department"]
    for name in FLAT:
        cols.append(name)
        if name in goal:
            cols.append(f"{name}_target")
    return [*cols, "hot_spots", *[f"fee_returns_{k}" for k in KINDS], *[f"fee_returns_{k}_fen" for k in KINDS],
            "credit_failed", "off_target"]


def _flat(row: KpiRow) -> list:
    d = row.model_dump()
    out = [row.month, row.department]
    for name in FLAT:
        out.append(d[name])
        if name in row.targets:
            out.append(row.targets[name])
    return [*out, "; ".join(row.hot_spots), *(row.fee_returns[k] for k in KINDS),
            *(row.fee_returns_fen[k] for k in KINDS), row.credit_failed, ", ".join(row.off_target)]


def to_csv(rows: list[KpiRow]) -> bytes:
    return csv_bytes(_columns(), (_flat(r) for r in rows))


def to_xlsx(rows: list[KpiRow]) -> bytes:
    return xlsx_bytes(f"complaints {rows[0].month}" if rows else "complaints", _columns(), (_flat(r) for r in rows),
                      total_row=bool(rows) and rows[-1].department == ALL)

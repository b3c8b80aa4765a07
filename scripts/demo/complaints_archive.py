"""Last month's closed tickets, as the ticket system's history would hold them, so that every column of
`GET /complaints/kpis?month=<last month>` has a figure on the first `make run` (this month's live tickets need days
to be surveyed, to go silent or to have a notice repeated). Written straight into the tables, like an import:
these tickets have no workflow (they are closed)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core import crypto
from db.complaints import (
    Complaint,
    ComplaintDocument,
    ComplaintEvent,
    ComplaintNotice,
    FeeReturn,
    SmsMessage,
    WrittenReply,
)
from domain.clock import month_bounds, previous_month
from domain.msisdn import mask_msisdn

BRANCH = "branch_shunqing"


def load_archive(engine: Engine, now: datetime) -> str:
    month = previous_month(now)
    start, _ = month_bounds(month)
    day = lambda d, h=10: start + timedelta(days=d - 1, hours=h)  # noqa: E731 - local shorthand

    def ticket(n: int, received: datetime, hours: int, *, customer="standard", ctype="billing", source="hotline",
               replied_after: float | None = None, outcome: str | None = "satisfied", repeat_of=None, special=False,
               number: int | None = None, level="3") -> Complaint:
        msisdn = f"1350001{(number or n):04d}"
        due = received + timedelta(hours=hours)
        replied = received + timedelta(hours=replied_after) if replied_after is not None else None
        return Complaint(id=f"C{month[2:]}ARC{n:03d}", idempotency_key=f"demo-archive-{month}-{n}", msisdn=msisdn,
                         msisdn_masked=mask_msisdn(msisdn), msisdn_fingerprint=crypto.fingerprint(msisdn), source=source,
                         customer=customer, ctype=ctype, receiving_department=BRANCH, handling_department=BRANCH,
                         received_at=received, level=level, due_at=due, due_limit=f"{hours} clock hours",
                         state="closed" if outcome else "in_handling", overdue=replied is None or replied > due,
                         replied_at=replied, on_time=None if replied is None else replied <= due, outcome=outcome,
                         closed_at=replied + timedelta(days=3) if outcome and replied else None, repeat_of=repeat_of,
                         special_channel=special, updated_at=now)

    t = [ticket(1, day(2), 48, replied_after=20),
         ticket(2, day(3), 8, customer="vip", replied_after=6, outcome="silent"),
         ticket(3, day(5), 24, repeat_of=f"C{month[2:]}ARC001", number=1, replied_after=30, outcome="satisfied"),
         ticket(4, day(8), 48, ctype="uninformed_subscription", replied_after=10, outcome="satisfied"),
         ticket(5, day(10), 8, customer="vip", replied_after=None, outcome=None),
         ticket(6, day(12), 120, source="ministry_forwarded", ctype="other", special=True, number=4,
                replied_after=90, outcome="satisfied", level="regulator"),
         ticket(7, day(15), 48, ctype="mms", replied_after=12, outcome="silent")]
    ev = []

    def e(c: Complaint, seq: int, kind: str, at: datetime, dept: str | None = BRANCH, detail: str = "") -> None:
        ev.append(ComplaintEvent(key=f"{c.id}:{seq}", complaint_id=c.id, at=at, kind=kind, department=dept,
                                 actor="archive", detail=detail))

    for c in t:
        e(c, 1, "registered", c.received_at)
        if c.replied_at:
            e(c, 9, "replied", c.replied_at, detail="on time" if c.on_time else "LATE")
    e(t[0], 2, "transferred", t[0].received_at + timedelta(minutes=40), detail="to billing")  # in time (4 h)
    e(t[2], 2, "transferred", t[2].received_at + timedelta(hours=5), detail="to network")  # late (2 h for level 2)
    e(t[0], 3, "reply_refused", t[0].received_at + timedelta(hours=18), "billing", "'已转相关部门处理' is a transfer")
    e(t[0], 4, "replied", t[0].received_at + timedelta(hours=19), "billing")
    e(t[3], 5, "dissatisfied", t[3].replied_at + timedelta(hours=9), None, "survey answer: dissatisfied")
    e(t[3], 6, "reopened", t[3].replied_at + timedelta(hours=9), detail="back to the branch")
    e(t[4], 2, "escalated", t[4].received_at + timedelta(days=1), None, "the customer called the newspaper")
    notices = [ComplaintNotice(key=f"{t[4].id}-supervision-1-1", complaint_id=t[4].id, kind="supervision",
                               to_department=BRANCH, cc_department="market", receiving_department=BRANCH,
                               at=t[4].due_at, text=f"supervision notice 1: complaint {t[4].id} overdue", deliveries=4,
                               last_delivered_at=t[4].due_at + timedelta(days=3), delivery="inbox only"),
               ComplaintNotice(key=f"{t[4].id}-crisis_report-1", complaint_id=t[4].id, kind="crisis_report",
                               to_department="market", cc_department=BRANCH, receiving_department=BRANCH,
                               at=t[4].received_at + timedelta(days=1), text="crisis report", deliveries=1,
                               acknowledged_at=t[4].received_at + timedelta(days=1, hours=1), acknowledged_by="demo-manager")]
    sms = [SmsMessage(message_id=f"{t[6].id}-survey-1", complaint_id=t[6].id, kind="survey", to_masked=t[6].msisdn_masked,
                      text="survey", status="held_care_limit", sent_at=t[6].replied_at + timedelta(hours=1))]
    fee = FeeReturn(id=f"FR{month}ARC1", idempotency_key=f"demo-archive-fr-{month}", complaint_id=t[0].id,
                    msisdn_fingerprint=t[0].msisdn_fingerprint, category="receipt_mismatch", charge_month=month,
                    decision="double", wrong_fen=1000, amount_fen=2000, tier=1, needs_audit=False, status="credited",
                    operator_id="archive", billing_reference="BL-archive", requested_at=t[0].received_at + timedelta(hours=19),
                    credit_attempts=1)
    with Session(engine) as s:
        if s.get(Complaint, t[0].id) is not None:
            return month
        s.add_all(t)
        s.flush()
        s.add_all([*ev, *notices, *sms, fee,
                   ComplaintDocument(complaint_id=t[5].id, name="ministry-form.txt", media_type="text/plain",
                                     size=26, sha256="-", content=b"MIIT forwarding form (demo)", uploaded_by="archive"),
                   WrittenReply(complaint_id=t[5].id, department=BRANCH, process="called the customer twice, checked "
                                "the bill", background="a plan changed at the counter", measures="plan restored, "
                                "2 x 38.00 returned", customer_acceptance="accepted, recorded", written_by="archive",
                                at=t[5].replied_at)])
        s.commit()
    return month

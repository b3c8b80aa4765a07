"""Every KPI figure on one fixture month (October 2026), on SQLite and PostgreSQL, without workflows: the rows are
what the workflows would have recorded."""

from datetime import datetime, timedelta
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlmodel import Session

from core.crypto import fingerprint as msisdn_fingerprint
from db.complaints import Complaint, ComplaintEvent, ComplaintNotice, FeeReturn, SmsMessage
from domain.clock import SHANGHAI
from domain.msisdn import mask_msisdn
from services.complaints import kpis as kpi

A_NUMBER, B_NUMBER = "13800000001", "13800000002"
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=SHANGHAI)
G, BILL = "branch_gaoping", "billing"


def at(day: str, hm: str = "10:00") -> datetime:
    return datetime.fromisoformat(f"2026-{day}T{hm}:00").replace(tzinfo=SHANGHAI)


def ticket(cid: str, received: datetime, due: datetime, *, number=A_NUMBER, customer="standard", ctype="billing",
           source="hotline", replied: datetime | None = None, on_time: bool | None = None, outcome=None,
           repeat_of=None, special=False, level="3") -> Complaint:
    return Complaint(id=cid, idempotency_key=cid, msisdn=number, msisdn_masked=mask_msisdn(number),
                     msisdn_fingerprint=msisdn_fingerprint(number), source=source, customer=customer, ctype=ctype,
                     receiving_department=G, handling_department=G, received_at=received, level=level, due_at=due,
                     state="closed" if outcome else "in_handling", replied_at=replied, on_time=on_time, outcome=outcome,
                     repeat_of=repeat_of, special_channel=special)


def event(cid: str, seq: int, kind: str, when: datetime, dept: str | None = G) -> ComplaintEvent:
    return ComplaintEvent(key=f"{cid}:{seq}", complaint_id=cid, at=when, kind=kind, department=dept)


@pytest.fixture
def october(db):
    with Session(db) as s:
        s.add_all([
            ticket("A", at("10-01"), at("10-03"), replied=at("10-02"), on_time=True, outcome="satisfied"),
            ticket("B", at("10-05", "09:00"), at("10-07"), customer="vip", replied=at("10-08"), on_time=False,
                   outcome="silent", repeat_of="A"),
            ticket("C", at("10-10"), at("10-11"), number=B_NUMBER, customer="vip", ctype="uninformed_subscription"),
            ticket("D", at("10-30", "20:00"), at("11-01", "20:00"), number=B_NUMBER, ctype="uninformed_subscription",
                   replied=at("10-31"), on_time=True, outcome="silent"),
            ticket("E", at("09-29"), at("10-01"), number=B_NUMBER, ctype="mms", replied=at("09-30"), on_time=True),
            ticket("F", at("10-20"), at("10-27"), source="ministry_forwarded", ctype="other", special=True,
                   level="regulator"),
            ticket("N", at("11-02"), at("11-04"), number=B_NUMBER),  # another month
        ])
        s.flush()
        s.add_all([
            event("A", 1, "registered", at("10-01")), event("A", 2, "transferred", at("10-01", "10:30")),
            event("A", 3, "reply_refused", at("10-02", "08:00"), BILL), event("A", 4, "replied", at("10-02"), BILL),
            event("A", 5, "dissatisfied", at("10-02", "12:00"), None), event("A", 6, "reopened", at("10-02", "12:00"), BILL),
            event("B", 1, "registered", at("10-05", "09:00")), event("B", 2, "transferred", at("10-05", "15:00")),
            event("B", 3, "replied", at("10-08")),
            event("C", 1, "registered", at("10-10")), event("C", 2, "escalated", at("10-12"), None),
            event("D", 1, "registered", at("10-30", "20:00")), event("D", 2, "replied", at("10-31")),
            ComplaintNotice(key="n1", complaint_id="C", kind="supervision", to_department=G, cc_department="market",
                            at=at("10-11"), deliveries=3),
            ComplaintNotice(key="n2", complaint_id="C", kind="handler_warning", to_department=G, at=at("10-11", "09:00"),
                            deliveries=1, acknowledged_at=at("10-11", "09:30"), acknowledged_by="g-lead"),
            SmsMessage(message_id="D-survey-1", complaint_id="D", kind="survey", to_masked="x", text="t",
                       status="held_care_limit"),
            FeeReturn(id="FR1", idempotency_key="FR1", complaint_id="A", msisdn_fingerprint=msisdn_fingerprint(A_NUMBER),
                      category="receipt_mismatch", charge_month="202609", decision="double", wrong_fen=500, amount_fen=1000,
                      tier=1, needs_audit=False, status="credit_failed", operator_id="op", requested_at=at("10-02")),
        ])
        s.commit()
    return db


def test_every_figure_of_the_fixture_month(october):
    with Session(october) as s:
        rows = {r.department: r for r in kpi.kpis(s, "202610", now=NOW)}
    assert set(rows) == {G, BILL, "all"}
    g = rows[G]
    assert (g.received, g.due, g.due_pending, g.closed_on_time, g.on_time_rate) == (5, 5, 0, 2, 0.4)  # A and E by due time
    assert (g.replied, g.reply_rate, g.vip_received, g.vip_replied, g.vip_reply_rate) == (3, 0.6, 2, 1, 0.5)
    assert (g.transfers, g.transfers_on_time, g.transfer_on_time_rate) == (2, 1, 0.5)  # 30 min ok, 6 h late (level 3: 4 h)
    assert (g.repeats, g.repeat_rate) == (1, 0.2)
    assert (g.survey_answers, g.satisfied, g.dissatisfied, g.satisfaction_rate) == (2, 1, 1, 0.5)
    assert (g.silent, g.not_surveyed) == (1, 1)  # B silent; D's survey held by the care-SMS limit
    assert (g.replies_sent, g.unqualified_replies, g.unqualified_rate) == (2, 0, 0.0)
    assert (g.crisis_reports, g.escalations) == (1, 1)  # F: the ministry forwarded a number that complained 19 days before
    assert (g.uninformed_subscription, g.customer_base, g.uninformed_per_10k) == (2, 380_000, 0.05)
    assert g.special_channel == 1
    assert (g.notices, g.unacknowledged_notices, g.notice_repeats) == (2, 1, 2)
    assert g.hot_spots == ["billing: 2", "uninformed_subscription: 2", "other: 1"]
    assert g.fee_returns["double"] == 1 and g.fee_returns_fen["double"] == 1000 and g.credit_failed == 1
    assert g.targets["reply_rate"] == 0.98 and g.targets["repeat_rate"] == 0.10
    assert set(g.off_target) == {"on_time_rate", "reply_rate", "vip_reply_rate", "transfer_on_time_rate", "repeat_rate",
                                 "satisfaction_rate", "crisis_reports", "escalations", "unacknowledged_notices"}
    b = rows[BILL]
    assert (b.received, b.replies_sent, b.unqualified_replies, b.unqualified_rate) == (0, 2, 1, 0.5)
    assert b.customer_base is None and b.uninformed_per_10k is None and b.on_time_rate is None
    assert "unqualified_replies" in b.off_target
    total = rows["all"]
    assert (total.received, total.unqualified_replies, total.replies_sent, total.customer_base) == (5, 1, 4, 1_200_000)


def test_tickets_not_due_yet_are_pending_not_late(october):
    with Session(october) as s:
        [g] = kpi.kpis(s, "202610", G, now=at("10-10", "12:00"))
    # by 10 October noon: A, B, E due and C (due 11 Oct) and F (27 Oct) still running
    assert (g.due, g.due_pending, g.closed_on_time) == (3, 2, 2)
    assert (g.replied, g.reply_rate) == (3, 1.0)  # A, B and the replied D answerable; C and F not due yet


def test_csv_and_xlsx_put_each_figure_beside_its_target(october):
    with Session(october) as s:
        rows = kpi.kpis(s, "202610", now=NOW)
    text = kpi.to_csv(rows).decode("utf-8-sig").splitlines()
    header = text[0].split(",")
    assert header[header.index("on_time_rate") + 1] == "on_time_rate_target"
    assert header[header.index("uninformed_per_10k") + 1] == "uninformed_per_10k_target"
    g = next(line.split(",") for line in text[1:] if f",{G}," in line)
    assert g[header.index("on_time_rate")] == "0.4" and g[header.index("on_time_rate_target")] == "0.98"
    sheet = load_workbook(BytesIO(kpi.to_xlsx(rows))).active
    assert sheet.max_row == 1 + len(rows) and sheet.cell(sheet.max_row, 2).value == "all"
    assert [c.value for c in sheet[1]] == header


def test_an_empty_month_has_no_rates(db):
    with Session(db) as s:
        [g] = kpi.kpis(s, "202601", G, now=NOW)
    assert g.received == 0 and g.on_time_rate is None and g.satisfaction_rate is None and g.off_target == []
    assert timedelta(hours=4) == kpi.transfer_within("3")


def test_the_demo_archive_fills_every_kpi_column(db):
    from scripts.demo.complaints_archive import BRANCH, load_archive

    month = load_archive(db, NOW)
    assert load_archive(db, NOW) == month == "202610"  # once
    with Session(db) as s:
        rows = {r.department: r for r in kpi.kpis(s, month, now=NOW)}
    row, total = rows[BRANCH].model_dump(), rows["all"].model_dump()
    empty = [k for k, v in row.items() if v in (None, 0, [], {}) and k not in ("unqualified_replies", "replies_sent",
                                                                              "unqualified_rate", "credit_failed", "due_pending")]
    assert empty == [], empty  # (nothing is pending in a past month; the billing row has the refused reply)
    assert rows["billing"].unqualified_replies == 1 and total["unqualified_rate"] and total["fee_returns"]["double"] == 1

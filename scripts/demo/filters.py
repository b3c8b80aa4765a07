"""The Web UI filters the start banner and the README show, built from the data that is there (never a
hard-coded month or date that stops matching a month later): a failed order's reason, carrier and agent, the
demo's busiest settlement month, the stale orders, the overdue ticket's due time, the manual-review refund's channel and merchant.

Each filter uses search attributes the workflows publish from the same business rows read here.
"""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from db.complaints import Complaint
from db.orders import Order
from db.refunds import Refund


def web_ui_filters(session: Session) -> dict[str, str]:
    """name -> visibility query; a name is missing when the data for it is not there (yet)."""
    out: dict[str, str] = {}
    failed = session.exec(select(Order).where(Order.status == "failed", col(Order.failure_reason).is_not(None))
                          .order_by(col(Order.id)).limit(1)).first()
    if failed:
        out["failed orders"] = (f'OrderStatus="failed" AND FailureReason="{failed.failure_reason}" AND '
                                f'Carrier="{failed.carrier}" AND AgentId="{failed.agent_id}"')
    # the month most demo orders settle in (the latest would be a lone order far ahead)
    busiest = session.exec(select(Order.settlement_month).where(col(Order.settlement_month).is_not(None))
                           .group_by(col(Order.settlement_month))
                           .order_by(func.count().desc(), col(Order.settlement_month).desc()).limit(1)).first()
    if busiest:
        out["settlement month"] = f'SettlementMonth="{busiest}"'
    if session.exec(select(Order.id).where(col(Order.stale_reason).is_not(None)).limit(1)).first():
        out["stale orders"] = "OrderStale = true"
    # a ticket the desk is still working past its due time (the archive of last month has no workflows)
    overdue = session.exec(select(Complaint).where(col(Complaint.overdue).is_(True), col(Complaint.closed_at).is_(None),
                                                   Complaint.state == "overdue")
                           .order_by(col(Complaint.due_at)).limit(1)).first()
    if overdue:
        after_due = (overdue.due_at + timedelta(minutes=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out["overdue complaints"] = (f'ComplaintState="overdue" AND ComplaintLevel="{overdue.level}" AND '
                                     f'DueAt < "{after_due}"')
    manual = session.exec(select(Refund).where(Refund.status == "manual_review").order_by(col(Refund.id)).limit(1)).first()
    if manual:
        out["refunds in manual review"] = (f'RefundStatus="manual_review" AND Channel="{manual.channel}" AND '
                                           f'MerchantId="{manual.merchant_id}"')
    return out

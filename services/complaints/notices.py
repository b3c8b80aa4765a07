"""A department's inbox of complaint notices: list, acknowledge.

A department sees the notices addressed to it, copied to it, and those about tickets it received (it stays
first responsible wherever the ticket is now, complaint procedure 4.2.2.1). Only the addressee acknowledges; the
acknowledgement stops the daily repeats of `complaint-notice-<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import func, or_
from sqlmodel import Session, col, select
from temporalio.client import Client

from core.access import Principal
from core.db import utcnow
from core.errors import Conflict, Forbidden, NotFound
from db.complaints import ComplaintNotice
from workflows.complaints import contract

log = structlog.get_logger(__name__)


class UnknownNotice(NotFound):
    pass


class AlreadyAcknowledged(Conflict):
    pass


@dataclass(frozen=True)
class NoticeFilter:
    department: str | None = None
    unacknowledged: bool | None = None
    kind: str | None = None
    complaint_id: str | None = None


def department_of(principal: Principal, asked: str | None) -> str | None:
    """A department's member reads its own inbox only; staff without a department read any (or all)."""
    if principal.department is None:
        return asked
    if asked is not None and asked != principal.department:
        raise Forbidden(f"{principal.id} belongs to {principal.department}, not {asked}", type="other_department")
    return principal.department


def list_notices(session: Session, f: NoticeFilter, limit: int, offset: int) -> tuple[list[ComplaintNotice], int]:
    conds = []
    if f.department:
        conds.append(or_(ComplaintNotice.to_department == f.department, ComplaintNotice.cc_department == f.department,
                         ComplaintNotice.receiving_department == f.department))
    if f.unacknowledged is not None:
        ack = col(ComplaintNotice.acknowledged_at)
        conds.append(ack.is_(None) if f.unacknowledged else ack.is_not(None))
    if f.kind:
        conds.append(ComplaintNotice.kind == f.kind)
    if f.complaint_id:
        conds.append(ComplaintNotice.complaint_id == f.complaint_id)
    total = session.exec(select(func.count()).select_from(ComplaintNotice).where(*conds)).one()
    rows = session.exec(select(ComplaintNotice).where(*conds).order_by(col(ComplaintNotice.at).desc(),
                                                                       col(ComplaintNotice.id).desc())
                        .limit(limit).offset(offset)).all()
    return list(rows), int(total)


def acknowledge(session: Session, notice_id: int, principal: Principal, note: str = "") -> ComplaintNotice:
    row = session.get(ComplaintNotice, notice_id)
    if row is None:
        raise UnknownNotice(f"unknown notice {notice_id}")
    if principal.department is not None and principal.department != row.to_department:
        raise Forbidden(f"notice {notice_id} is addressed to {row.to_department}; {principal.department} has a copy "
                        "and does not acknowledge it", type="not_addressee")
    if row.acknowledged_at is not None:
        raise AlreadyAcknowledged(f"notice {notice_id} was acknowledged by {row.acknowledged_by} at "
                                  f"{row.acknowledged_at.isoformat()}", type="already_acknowledged")
    row.acknowledged_at = utcnow()
    row.acknowledged_by = principal.id + (f" ({note})" if note else "")
    session.add(row)
    session.commit()
    session.refresh(row)
    log.info("notice acknowledged", notice_id=notice_id, complaint_id=row.complaint_id, by=principal.id,
             deliveries=row.deliveries)
    return row


async def stop_repeats(client: Client | None, row: ComplaintNotice) -> bool:
    """Tell the notice's delivery; when Temporal is away, its next delivery finds the row acknowledged and stops."""
    if client is None:
        return False
    try:
        await client.get_workflow_handle(contract.notice_workflow_id(row.id)).signal(contract.ACKNOWLEDGED,
                                                                                    row.acknowledged_by or "")
        return True
    except Exception as err:  # noqa: BLE001 - the row is the truth; the delivery reads it before each repeat
        log.warning("notice acknowledgement not signalled", notice_id=row.id, error=str(err))
        return False

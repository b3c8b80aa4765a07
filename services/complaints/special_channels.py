"""Special-channel complaints (complaint procedure 6.0): the archive of their documents, the written reply with its
four elements, and the monthly special-channel report (6.2.1, 6.3).

The ticket itself runs as every other (its workflow owns the deadline); these records sit beside it, so the
workflow does not carry documents or long written texts in its history.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter, defaultdict

import structlog
from sqlalchemy import func
from sqlmodel import Session, col, select

from core.db import utcnow
from core.errors import BusinessError
from core.exports import csv_bytes
from db.complaints import Complaint, ComplaintDocument, ComplaintEvent, WrittenReply
from domain.clock import month_bounds
from domain.complaints.complaint import check_written_reply
from services.complaints.complaint import UnknownComplaint

log = structlog.get_logger(__name__)

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024  # a scanned letter or fax; larger files belong in the document system
REFUSAL_STATUS = {"NotSpecialChannel": 409, "UnqualifiedReply": 422}


class UnknownDocument(BusinessError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason, type="unknown_document", status=404)


def _complaint(session: Session, complaint_id: str) -> Complaint:
    row = session.get(Complaint, complaint_id)
    if row is None:
        raise UnknownComplaint(f"unknown complaint {complaint_id}")
    return row


def attach(session: Session, complaint_id: str, name: str, media_type: str, content: bytes, note: str,
           uploaded_by: str) -> ComplaintDocument:
    _complaint(session, complaint_id)
    if not content:
        raise BusinessError("the document is empty", type="empty_document", status=422)
    if len(content) > MAX_DOCUMENT_BYTES:
        raise BusinessError(f"the document has more than {MAX_DOCUMENT_BYTES} bytes", type="document_too_large", status=422)
    doc = ComplaintDocument(complaint_id=complaint_id, name=(name or "document")[:200], media_type=media_type[:100],
                            size=len(content), sha256=hashlib.sha256(content).hexdigest(), content=content,
                            note=note[:2000], uploaded_by=uploaded_by)
    session.add(doc)
    session.commit()
    session.refresh(doc)
    log.info("complaint document archived", complaint_id=complaint_id, document_id=doc.id, size=doc.size, by=uploaded_by)
    return doc


def documents(session: Session, complaint_id: str) -> list[ComplaintDocument]:
    _complaint(session, complaint_id)
    return list(session.exec(select(ComplaintDocument).where(ComplaintDocument.complaint_id == complaint_id)
                             .order_by(col(ComplaintDocument.uploaded_at), col(ComplaintDocument.id))).all())


def document(session: Session, complaint_id: str, document_id: int) -> ComplaintDocument:
    doc = session.get(ComplaintDocument, document_id)
    if doc is None or doc.complaint_id != complaint_id:
        raise UnknownDocument(f"complaint {complaint_id} has no document {document_id}")
    return doc


def write_reply(session: Session, complaint_id: str, department: str, elements: dict[str, str],
                written_by: str) -> WrittenReply:
    row = _complaint(session, complaint_id)
    if refusal := check_written_reply(row.special_channel, elements):
        raise BusinessError(refusal.reason, type=refusal.type, status=REFUSAL_STATUS[refusal.type])
    reply = WrittenReply(complaint_id=complaint_id, department=department, written_by=written_by, at=utcnow(),
                         **{k: elements[k].strip() for k in ("process", "background", "measures", "customer_acceptance")})
    session.add(reply)
    session.add(ComplaintEvent(key=f"{complaint_id}:api:{uuid.uuid4().hex}", complaint_id=complaint_id, at=reply.at,
                               kind="written_reply",
                               department=department, actor=written_by,
                               detail=f"written reply: measures: {elements['measures'][:300]}"))
    session.commit()
    session.refresh(reply)
    log.info("written reply", complaint_id=complaint_id, department=department, by=written_by)
    return reply


def written_replies(session: Session, complaint_id: str) -> list[WrittenReply]:
    _complaint(session, complaint_id)
    return list(session.exec(select(WrittenReply).where(WrittenReply.complaint_id == complaint_id)
                             .order_by(col(WrittenReply.at), col(WrittenReply.id))).all())


def report(session: Session, month: str) -> list[dict]:
    """Per receiving department: the month's special-channel complaints, which have their written reply and their
    documents, and how satisfied their customers were (answers only; silence is no answer)."""
    start, end = month_bounds(month)
    rows = list(session.exec(select(Complaint).where(Complaint.special_channel == True,  # noqa: E712 - SQL
                                                     Complaint.received_at >= start, Complaint.received_at < end)
                             .order_by(col(Complaint.received_at))).all())
    ids = [c.id for c in rows]
    replied = set(session.exec(select(WrittenReply.complaint_id).where(col(WrittenReply.complaint_id).in_(ids))).all()) if ids else set()
    docs = dict(session.exec(select(ComplaintDocument.complaint_id, func.count()).where(
        col(ComplaintDocument.complaint_id).in_(ids)).group_by(ComplaintDocument.complaint_id)).all()) if ids else {}
    unhappy = Counter(session.exec(select(ComplaintEvent.complaint_id).where(
        col(ComplaintEvent.complaint_id).in_(ids), ComplaintEvent.kind == "dissatisfied")).all()) if ids else Counter()
    by: dict[str, list[Complaint]] = defaultdict(list)
    for c in rows:
        by[c.receiving_department].append(c)
    out = []
    for dept, cs in sorted(by.items()):
        satisfied = sum(1 for c in cs if c.outcome == "satisfied")
        dissatisfied = sum(unhappy[c.id] for c in cs)
        out.append({"month": month, "department": dept, "received": len(cs),
                    "written_replies": sum(1 for c in cs if c.id in replied),
                    "without_written_reply": [c.id for c in cs if c.id not in replied],
                    "documents": sum(docs.get(c.id, 0) for c in cs), "closed": sum(1 for c in cs if c.state == "closed"),
                    "satisfied": satisfied, "dissatisfied_answers": dissatisfied,
                    "satisfaction_rate": round(satisfied / (satisfied + dissatisfied), 4) if satisfied + dissatisfied else None,
                    "by_source": dict(sorted(Counter(c.source for c in cs).items()))})
    return out


REPORT_COLUMNS = ["month", "department", "received", "written_replies", "without_written_reply", "documents", "closed",
                  "satisfied", "dissatisfied_answers", "satisfaction_rate", "by_source"]


def report_csv(rows: list[dict]) -> bytes:
    return csv_bytes(REPORT_COLUMNS, ([*(r[c] for c in REPORT_COLUMNS[:4]), " ".join(r["without_written_reply"]),
                                       *(r[c] for c in REPORT_COLUMNS[5:10]),
                                       "; ".join(f"{k}: {v}" for k, v in r["by_source"].items())] for r in rows))

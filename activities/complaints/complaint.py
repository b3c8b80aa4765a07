"""Complaint-side effects: the ticket projection and its trail, due times from the working-day calendar,
customer SMS through the gateway, department notices, and the daily calendar check."""

from datetime import UTC, date, datetime

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.quiet_hours import hold_in_quiet_hours  # noqa: F401 - the fee-return activities import it from here
from core.http import PeerRejected, PeerUnavailable
from db.complaints import Complaint, ComplaintEvent, ComplaintNotice, OpsAlert, SmsMessage
from domain.clock import SHANGHAI
from domain.complaints.complaint import DueDecision, due_time
from domain.workdays import next_year_check
from gateways.sms import SmsGateway
from services.complaints.calendar import load_calendar, loaded_schedules
from workflows.complaints import contract
from workflows.complaints.contract import ComplaintRecord, DueRequest, NoticeRequest, SmsRequest

log = structlog.get_logger()


class ComplaintActivities:
    def __init__(self, engine: Engine, sms: SmsGateway) -> None:
        self.engine = engine
        self.sms = sms

    @activity.defn(name=contract.RECORD_COMPLAINT)
    def record_complaint(self, rec: ComplaintRecord) -> None:
        case = rec.case
        cid = case.facts.complaint_id
        with Session(self.engine) as s:
            row = s.get(Complaint, cid)
            if row is None:  # the API writes the row before starting the workflow
                raise ApplicationError(f"complaint {cid} has no row", type="UnknownComplaint", non_retryable=True)
            row.handling_department = case.handling_department.value
            row.level = case.level.value
            row.level_reasons = "\n".join(case.level_reasons)
            row.customer = case.facts.customer.value
            row.ctype = case.facts.ctype.value
            row.repeat_of = case.facts.repeat_of
            row.due_at = case.due.due_at
            row.due_limit = case.due.limit
            row.due_explanation = case.due.explanation
            row.calendar_version = case.due.calendar_version
            row.calendar_fallback = case.due.fallback
            row.state = case.public_state()
            row.overdue = case.overdue
            row.escalations = len(case.escalations)
            row.supervision_notices = case.supervision_notices
            row.cycle = case.cycle
            row.replied_at = case.replied_at
            row.on_time = case.on_time
            row.acceptance = case.acceptance
            row.outcome = case.outcome.value if case.outcome else None
            row.closed_at = case.closed_at
            row.updated_at = datetime.now(UTC)
            s.add(row)
            keys = [e.key for e in rec.events]
            known = set(s.exec(select(ComplaintEvent.key).where(ComplaintEvent.key.in_(keys)))) if keys else set()  # type: ignore[attr-defined]
            for e in rec.events:
                if e.key not in known:
                    s.add(ComplaintEvent(key=e.key, complaint_id=cid, at=e.at, kind=e.kind,
                                         department=e.department.value if e.department else None,
                                         actor=e.actor, detail=e.detail))
            state = row.state
            s.commit()
        if rec.events:
            log.info("complaint progress", complaint_id=cid, state=state, events=[e.kind for e in rec.events],
                     workflow_id=activity.info().workflow_id)

    @activity.defn(name=contract.COMPUTE_DUE)
    def compute_due(self, req: DueRequest) -> DueDecision:
        with Session(self.engine) as s:
            calendar = load_calendar(s)
        due = due_time(req.level, req.repeat, req.start, calendar)
        if due.fallback:
            log.warning("due time on the weekday estimate: a year has no official schedule", complaint_id=req.complaint_id,
                        calendar_version=due.calendar_version)
        return due

    @activity.defn(name=contract.SEND_CUSTOMER_SMS)
    async def send_customer_sms(self, req: SmsRequest) -> str:
        with Session(self.engine) as s:
            row = s.get(Complaint, req.complaint_id)
            if row is None:
                raise ApplicationError(f"complaint {req.complaint_id} has no row", type="UnknownComplaint", non_retryable=True)
            msisdn, masked = row.msisdn, row.msisdn_masked
            done = s.get(SmsMessage, req.message_id)
            if done is not None and done.status == "sent":
                return "sent"
        hold_in_quiet_hours()
        try:
            status = await self.sms.send(req.message_id, msisdn, req.text)
        except PeerRejected as err:
            raise ApplicationError(f"SMS gateway refused {req.message_id}: {err.reason}", type="SmsRejected",
                                   non_retryable=True) from err
        except PeerUnavailable:
            raise  # retried by the activity's policy
        with Session(self.engine) as s:
            msg = s.get(SmsMessage, req.message_id) or SmsMessage(message_id=req.message_id, complaint_id=req.complaint_id,
                                                                  kind=req.kind, to_masked=masked, text=req.text, status=status)
            msg.status = status
            s.add(msg)
            s.commit()
        log.info("customer SMS sent", complaint_id=req.complaint_id, kind=req.kind, to=masked, message_id=req.message_id)
        return status

    @activity.defn(name=contract.NOTIFY_DEPARTMENT)
    def notify_department(self, req: NoticeRequest) -> None:
        with Session(self.engine) as s:
            if s.exec(select(ComplaintNotice).where(ComplaintNotice.key == req.key)).first() is None:
                s.add(ComplaintNotice(key=req.key, complaint_id=req.complaint_id, kind=req.kind,
                                      to_department=req.to_department.value,
                                      cc_department=req.cc_department.value if req.cc_department else None,
                                      at=datetime.now(UTC), text=req.text))
                s.commit()
        log.info("department notice", complaint_id=req.complaint_id, kind=req.kind, to=req.to_department.value,
                 cc=req.cc_department.value if req.cc_department else None)

    @activity.defn(name=contract.CHECK_CALENDAR)
    def check_calendar(self, today: date | None = None) -> list[str]:
        """The daily check (a Temporal Schedule): warn ops when next year's schedule is missing from 1 December."""
        day = today or datetime.now(SHANGHAI).date()
        with Session(self.engine) as s:
            warnings = next_year_check(day, loaded_schedules(s))
            for i, text in enumerate(warnings):
                key = f"calendar-missing-{day.isoformat()}-{i}"
                if s.exec(select(OpsAlert).where(OpsAlert.key == key)).first() is None:
                    s.add(OpsAlert(key=key, kind="calendar_missing", message=text))
            s.commit()
        for text in warnings:
            log.warning("working-day calendar check", warning=text)
        return warnings

"""Complaint-side effects: the ticket projection and its trail, due times from the working-day calendar,
customer SMS through the gateway, department notices, and the daily calendar check."""

import asyncio
from datetime import UTC, date, datetime

import structlog
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.quiet_hours import hold_in_quiet_hours  # noqa: F401 - the fee-return activities import it from here
from core.alerts import raise_once
from core.http import PeerRejected, PeerUnavailable
from core.settings import get_settings
from db.complaints import Complaint, ComplaintEvent, ComplaintNotice, SmsMessage
from domain.clock import SHANGHAI, month_bounds
from domain.complaints.complaint import DueDecision, care_sms_allowed, due_time
from domain.workdays import next_year_check
from gateways.notices import NoticeGateway, notice_gateway_from_settings
from gateways.sms import SmsGateway
from services.complaints.calendar import load_calendar, loaded_schedules
from workflows.complaints import contract
from workflows.complaints.contract import (
    ComplaintRecord,
    DeliverNotice,
    DueRequest,
    NoticeDelivered,
    NoticeDelivery,
    NoticeRequest,
    SmsRequest,
)

log = structlog.get_logger()


class ComplaintActivities:
    def __init__(self, engine: Engine, sms: SmsGateway, notices: NoticeGateway | None = None) -> None:
        self.engine = engine
        self.sms = sms
        self.notices = notices or notice_gateway_from_settings(get_settings())

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
            self._hold_beyond_care_limit(s, req, row, masked)
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

    def _hold_beyond_care_limit(self, s: Session, req: SmsRequest, row: Complaint, masked: str) -> None:
        """At most one care SMS (the survey) a month per customer (complaint procedure 8.0.2): a survey beyond it is
        not sent; the row says so and the ticket counts as not surveyed, never as silent."""
        settings = get_settings()
        kinds = settings.complaint_care_sms_kinds
        if req.kind not in kinds:
            return
        now = activity.info().current_attempt_scheduled_time or datetime.now(UTC)
        start, end = month_bounds(now.astimezone(SHANGHAI).strftime("%Y%m"))
        sent = s.exec(select(func.count()).select_from(SmsMessage).join(Complaint, SmsMessage.complaint_id == Complaint.id)
                      .where(Complaint.msisdn_fingerprint == row.msisdn_fingerprint, col(SmsMessage.kind).in_(kinds),
                             SmsMessage.status == "sent", SmsMessage.sent_at >= start, SmsMessage.sent_at < end,
                             SmsMessage.message_id != req.message_id)).one()
        if care_sms_allowed(req.kind, kinds, int(sent), settings.complaint_care_sms_per_month):
            return
        if s.get(SmsMessage, req.message_id) is None:
            s.add(SmsMessage(message_id=req.message_id, complaint_id=req.complaint_id, kind=req.kind, to_masked=masked,
                             text=req.text, status="held_care_limit", sent_at=now))
            s.commit()
        log.info("care SMS held: the customer had this month's care message", complaint_id=req.complaint_id,
                 kind=req.kind, to=masked, sent_this_month=int(sent))
        raise ApplicationError(f"{req.kind} SMS not sent: {masked} had {sent} care SMS this month (at most "
                               f"{settings.complaint_care_sms_per_month})", type="CareSmsLimit", non_retryable=True)

    @activity.defn(name=contract.NOTIFY_DEPARTMENT)
    async def notify_department(self, req: NoticeRequest) -> None:
        """Put the notice in the inbox (once per key) and start its delivery `complaint-notice-<id>`, which repeats it
        daily until the addressee acknowledges."""
        notice_id = await asyncio.to_thread(self._store_notice, req)
        s = get_settings()
        try:
            await activity.client().start_workflow(
                contract.NOTICE_WORKFLOW,
                NoticeDelivery(notice_id=notice_id, complaint_id=req.complaint_id, kind=req.kind,
                               repeat_every_s=s.complaint_notice_repeat_h * 3600),
                id=contract.notice_workflow_id(notice_id), task_queue=contract.TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                memo={"summary": f"{req.kind} for {req.to_department.value} on complaint {req.complaint_id}"})
        except WorkflowAlreadyStartedError:
            pass  # delivered (and acknowledged) before this retry
        log.info("department notice", complaint_id=req.complaint_id, kind=req.kind, to=req.to_department.value,
                 cc=req.cc_department.value if req.cc_department else None, notice_id=notice_id)

    def _store_notice(self, req: NoticeRequest) -> int:
        with Session(self.engine) as s:
            row = s.exec(select(ComplaintNotice).where(ComplaintNotice.key == req.key)).first()
            if row is None:
                complaint = s.get(Complaint, req.complaint_id)
                row = ComplaintNotice(key=req.key, complaint_id=req.complaint_id, kind=req.kind,
                                      to_department=req.to_department.value,
                                      cc_department=req.cc_department.value if req.cc_department else None,
                                      receiving_department=complaint.receiving_department if complaint else None,
                                      at=datetime.now(UTC), text=req.text)
                s.add(row)
                s.commit()
                s.refresh(row)
            assert row.id is not None
            return row.id

    @activity.defn(name=contract.DELIVER_NOTICE)
    async def deliver_notice(self, req: DeliverNotice) -> NoticeDelivered:
        with Session(self.engine) as s:
            row = s.get(ComplaintNotice, req.notice_id)
            if row is None:
                raise ApplicationError(f"notice {req.notice_id} has no row", type="UnknownNotice", non_retryable=True)
            if row.acknowledged_at is not None:
                return NoticeDelivered(acknowledged=True, summary=f"acknowledged by {row.acknowledged_by}")
            if req.delivery <= row.deliveries:  # a retried activity: this delivery went out already
                return NoticeDelivered(summary=row.delivery)
            n = row.model_copy()
        recipients = [(n.to_department, "addressee")]
        if req.delivery == 1:
            for department, role in ((n.cc_department, "copy"), (n.receiving_department, "receiving department")):
                if department and department not in {d for d, _ in recipients}:
                    recipients.append((department, role))
        repeat = f" (repeat {req.delivery - 1}: not acknowledged yet)" if req.delivery > 1 else ""
        base = get_settings().api_base_url.rstrip("/")
        parts = []
        for department, role in recipients:
            body = {"notice_id": n.id, "delivery": req.delivery, "kind": n.kind, "complaint_id": n.complaint_id,
                    "department": department, "as": role, "to_department": n.to_department, "text": n.text + repeat,
                    "at": n.at.isoformat(), "acknowledge": f"{base}/complaints/notices/{n.id}/acknowledge"}
            how = await self.notices.deliver(department, body, f"[{n.kind}] complaint {n.complaint_id}{repeat}",
                                             f"{n.text}{repeat}\n\nAcknowledge: POST {body['acknowledge']}")
            parts.append(f"{department} ({role}): {how}")
        summary = "; ".join(parts)
        with Session(self.engine) as s:
            row = s.get(ComplaintNotice, req.notice_id)
            row.deliveries, row.last_delivered_at, row.delivery = req.delivery, datetime.now(UTC), summary
            s.add(row)
            if req.final:
                key = f"notice-unacknowledged-{row.id}"
                raise_once(s, key, "notice_unacknowledged",
                           f"{row.kind} {row.id} on complaint {row.complaint_id} to {row.to_department}: "
                           f"delivered {req.delivery} times, never acknowledged")
            s.commit()
        log.info("notice delivered", notice_id=req.notice_id, delivery=req.delivery, complaint_id=n.complaint_id,
                 summary=summary, workflow_id=activity.info().workflow_id)
        return NoticeDelivered(summary=summary)

    @activity.defn(name=contract.CHECK_CALENDAR)
    def check_calendar(self, today: date | None = None) -> list[str]:
        """The daily check (a Temporal Schedule): warn ops when next year's schedule is missing from 1 December."""
        day = today or datetime.now(SHANGHAI).date()
        with Session(self.engine) as s:
            warnings = next_year_check(day, loaded_schedules(s))
            for i, text in enumerate(warnings):
                key = f"calendar-missing-{day.isoformat()}-{i}"
                raise_once(s, key, "calendar_missing", text)
            s.commit()
        for text in warnings:
            log.warning("working-day calendar check", warning=text)
        return warnings

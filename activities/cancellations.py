"""Cancellation side effects: the case's row, its progress trail and to-do items; the carrier (pre-check,
clearing, cancellation) and the reminder SMS, each with the full number read from the row here (never from
the workflow); the follow-up call task; the quarantine of a number of our stock."""

from datetime import UTC, datetime

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.quiet_hours import hold_in_quiet_hours
from core.http import PeerRejected
from db.cancellations import (
    Cancellation,
    CancellationObstacle,
    CancellationProgress,
    CancellationSms,
    FollowUpCall,
    NumberQuarantine,
)
from domain.cancellations import FINAL, QUARANTINE
from gateways.carrier import CarrierGateway
from gateways.sms import SmsGateway
from services.orders import stock
from workflows.cancellations import contract
from workflows.cancellations.contract import (
    CancelAtCarrier,
    CancellationRecord,
    CarrierOutcome,
    ClearAtCarrier,
    FollowUpTask,
    PrecheckAnswer,
    PrecheckRequest,
    Quarantine,
    ReminderSms,
)

log = structlog.get_logger()


def _row(s: Session, cancellation_id: str) -> Cancellation:
    row = s.get(Cancellation, cancellation_id)
    if row is None:  # the API writes the row before starting the workflow
        raise ApplicationError(f"cancellation {cancellation_id} has no row", type="UnknownCancellation",
                               non_retryable=True)
    return row


class CancellationActivities:
    def __init__(self, engine: Engine, carrier: CarrierGateway, sms: SmsGateway) -> None:
        self.engine = engine
        self.carrier = carrier
        self.sms = sms

    def _number(self, cancellation_id: str) -> tuple[str, str]:
        with Session(self.engine) as s:
            row = _row(s, cancellation_id)
            return row.msisdn, row.msisdn_masked

    @activity.defn(name=contract.RECORD_CANCELLATION)
    def record_cancellation(self, rec: CancellationRecord) -> None:
        case = rec.case
        cid = case.cancellation_id
        with Session(self.engine) as s:
            row = _row(s, cid)
            row.state = case.state.value
            row.summary = case.summary()
            row.prechecks, row.ineligible_again, row.open_items = case.prechecks, case.ineligible_again, len(case.todo)
            row.documents_reviewed_by, row.documents_reviewed_at = case.documents_reviewed_by, case.documents_reviewed_at
            if case.appointment:
                row.appointment_at, row.appointment_hall = case.appointment.at, case.appointment.hall
                row.reminder_at, row.reminder_sent_at = case.appointment.reminder_at, case.appointment.reminder_sent_at
            row.confirmed_at, row.cooling_off_until = case.confirmed_at, case.cooling_off_until
            row.withdrawn_at, row.cancelled_at = case.withdrawn_at, case.cancelled_at
            row.carrier_reference, row.failure_reason = case.carrier_reference, case.failure_reason
            row.follow_up_due = case.follow_up_due
            row.follow_up_outcome = case.follow_up_outcome.value if case.follow_up_outcome else None
            row.closed = case.closed
            if case.state in FINAL:
                row.open_number_key = None  # the number may be cancelled again (a withdrawn or failed case)
            row.updated_at = datetime.now(UTC)
            s.add(row)
            known = {o.item_id: o for o in s.exec(select(CancellationObstacle).where(
                CancellationObstacle.cancellation_id == cid))}
            for o in case.obstacles:
                item = known.get(o.item_id) or CancellationObstacle(cancellation_id=cid, item_id=o.item_id,
                                                                    kind=o.kind.value, title=o.title, found_at=o.found_at)
                item.reason, item.amount_fen, item.explanation = o.reason, o.amount_fen, o.explanation
                item.cleared_at, item.cleared_by = o.cleared_at, o.cleared_by
                item.cleared_via = o.cleared_via.value if o.cleared_via else None
                item.evidence, item.reference = o.evidence, o.reference
                s.add(item)
            keys = [f"{cid}:{e.seq}" for e in rec.progress]
            done = set(s.exec(select(CancellationProgress.key).where(CancellationProgress.key.in_(keys)))) if keys else set()  # type: ignore[attr-defined]
            for e in rec.progress:
                if f"{cid}:{e.seq}" not in done:
                    s.add(CancellationProgress(key=f"{cid}:{e.seq}", cancellation_id=cid, seq=e.seq, step=e.step.value,
                                               at=e.at, by=e.by, what=e.what))
            if case.follow_up_outcome and (task := s.get(FollowUpCall, cid)) is not None and task.outcome is None:
                last = next((e for e in reversed(case.progress) if e.step.value == "follow_up"), None)
                task.outcome, task.note = case.follow_up_outcome.value, case.follow_up_note
                task.done_by, task.done_at = (last.by, last.at) if last else ("system", datetime.now(UTC))
                s.add(task)
            s.commit()
        if rec.progress:
            log.info("cancellation progress", cancellation_id=cid, state=case.state.value,
                     steps=[e.step.value for e in rec.progress], workflow_id=activity.info().workflow_id)

    @activity.defn(name=contract.PRECHECK_AT_CARRIER)
    async def precheck_at_carrier(self, req: PrecheckRequest) -> PrecheckAnswer:
        msisdn, masked = self._number(req.cancellation_id)
        try:
            facts = await self.carrier.precheck(req.carrier, req.cancellation_id, msisdn)
        except PeerRejected as err:  # a carrier that cannot answer a pre-check is a fault to fix, not an answer
            raise ApplicationError(f"pre-check refused: {err.reason}", type="PrecheckRejected") from err
        log.info("cancellation pre-check", cancellation_id=req.cancellation_id, round=req.round, to=masked,
                 contracts=len(facts.contracts), balance_fen=facts.balance_fen, devices=len(facts.devices),
                 family_plans=len(facts.family_plans), value_added=len(facts.value_added))
        return PrecheckAnswer(facts=facts, asked_at=datetime.now(UTC))

    @activity.defn(name=contract.CLEAR_AT_CARRIER)
    async def clear_at_carrier(self, req: ClearAtCarrier) -> CarrierOutcome:
        msisdn, _ = self._number(req.cancellation_id)
        try:
            answer = await self.carrier.clear(req.carrier, req.cancellation_id, msisdn, req.item_id, req.action)
        except PeerRejected as err:
            return CarrierOutcome(done=False, reason=err.reason)
        log.info("to-do item at the carrier", cancellation_id=req.cancellation_id, item_id=req.item_id,
                 done=answer.done, reason=answer.reason)
        return CarrierOutcome(done=answer.done, reference=answer.reference, reason=answer.reason)

    @activity.defn(name=contract.CANCEL_AT_CARRIER)
    async def cancel_at_carrier(self, req: CancelAtCarrier) -> CarrierOutcome:
        msisdn, masked = self._number(req.cancellation_id)
        try:
            answer = await self.carrier.cancel_number(req.carrier, req.cancellation_id, msisdn)
        except PeerRejected as err:
            return CarrierOutcome(done=False, reason=err.reason)
        log.info("number cancellation at the carrier", cancellation_id=req.cancellation_id, to=masked,
                 done=answer.done, reference=answer.reference, reason=answer.reason)
        return CarrierOutcome(done=answer.done, reference=answer.reference, reason=answer.reason)

    @activity.defn(name=contract.SEND_REMINDER_SMS)
    async def send_reminder(self, req: ReminderSms) -> None:
        with Session(self.engine) as s:
            if (done := s.get(CancellationSms, req.message_id)) is not None and done.status == "sent":
                return
            row = _row(s, req.cancellation_id)
            msisdn, masked = row.msisdn, row.msisdn_masked
        hold_in_quiet_hours()
        try:
            status = await self.sms.send(req.message_id, msisdn, req.text)
        except PeerRejected as err:
            raise ApplicationError(f"SMS gateway refused {req.message_id}: {err.reason}", type="SmsRejected",
                                   non_retryable=True) from err
        with Session(self.engine) as s:
            s.merge(CancellationSms(message_id=req.message_id, cancellation_id=req.cancellation_id, to_masked=masked,
                                    text=req.text, status=status))
            s.commit()
        log.info("cancellation reminder SMS sent", cancellation_id=req.cancellation_id, to=masked)

    @activity.defn(name=contract.OPEN_FOLLOW_UP_TASK)
    def open_follow_up_task(self, req: FollowUpTask) -> None:
        with Session(self.engine) as s:
            _row(s, req.cancellation_id)
            if s.get(FollowUpCall, req.cancellation_id) is None:
                s.add(FollowUpCall(cancellation_id=req.cancellation_id, due_at=req.due_at))
                s.commit()
        log.info("follow-up call task opened", cancellation_id=req.cancellation_id)

    @activity.defn(name=contract.QUARANTINE_NUMBER)
    def quarantine_number(self, req: Quarantine) -> None:
        with Session(self.engine) as s:
            row = _row(s, req.cancellation_id)
            if s.get(NumberQuarantine, req.cancellation_id) is None:
                s.add(NumberQuarantine(cancellation_id=row.id, msisdn_fingerprint=row.msisdn_fingerprint,
                                       msisdn_masked=row.msisdn_masked, stock_order_id=row.stock_order_id,
                                       since=req.since, until=req.since + QUARANTINE))
                # the stock's own row of the number follows (settlement rules 1.11): sold again only after it
                stock.quarantine_number(s, row.stock_order_id, req.since, req.since + QUARANTINE)
                s.commit()
            masked = row.msisdn_masked
        log.info("number back in quarantine", cancellation_id=req.cancellation_id, to=masked)

"""One account cancellation, from the request to the follow-up call (workflow id `cancellation-<id>`).

The rules live in `domain.cancellations`; this workflow holds the `Case` and:

- asks the carrier for the pre-check (account cancellation 1.1): eligible, or a to-do list;
- takes the clearing of each to-do item as an update (through the carrier, or a clerk's evidence), and when
  the list is empty asks the carrier again; a re-check that finds something new puts the case back on the
  to-do list, recorded as "ineligible again";
- takes the document review, an appointment (SMS 3 days before with the documents to bring, never in the quiet
  hours) and the customer's confirmation as updates;
- keeps the number for 72 hours after the confirmation; a withdrawal inside them ends the case, the number
  stays active; after them the carrier is asked to cancel the number; a number of our stock goes to quarantine;
- 48 hours after the cancellation opens a follow-up call task; its outcome closes the case;
- a case nobody moves for 30 days before its confirmation fails as lapsed.

Every step is a progress entry (step, time, who), recorded through an activity and shown in the Web UI's
current details; a static summary names the case at start.
"""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.cancellations import (
        FOLLOW_UP_WAIT,
        Appointment,
        Case,
        ClearVia,
        FollowUpOutcome,
        ProgressEntry,
        Refusal,
        State,
        Step,
        apply_appointment,
        apply_cancelled,
        apply_clear,
        apply_confirm,
        apply_cooling_off_over,
        apply_documents,
        apply_failed,
        apply_follow_up,
        apply_precheck,
        apply_withdraw,
        appointment_sms,
        check_appointment,
        check_clear,
        check_confirm,
        check_documents,
        check_follow_up,
        check_withdraw,
        lapse_at,
        precheck,
    )
    from workflows.cancellations import contract
    from workflows.cancellations.contract import (
        AppointmentRequest,
        CancelAtCarrier,
        CancellationRecord,
        CancellationStart,
        CancellationView,
        CarrierOutcome,
        ClearAtCarrier,
        ClearRequest,
        DocumentsRequest,
        FollowUpRequest,
        FollowUpTask,
        PrecheckAnswer,
        PrecheckRequest,
        Quarantine,
        ReminderSms,
        WithdrawRequest,
    )
    from workflows.orders.contract import CARRIER

LOCAL = dict(start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
# The carrier and the SMS gateway are HTTP peers: retried with backoff (a refusal is an answer, not an error).
# The pre-check and the cancellation wait for the carrier as long as it takes; a clearing asked by a person
# gives up after 2 minutes and says so (the item stays open, the person asks again).
CARRIER_CALL = dict(start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)))
CARRIER_CLEAR = dict(start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=timedelta(minutes=2),
                     retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)))
SMS = dict(start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=timedelta(days=1),
           retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10), non_retryable_error_types=["SmsRejected"]))


def _refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise ApplicationError(refusal.reason, type=refusal.type, non_retryable=True)


@workflow.defn(name=contract.CANCELLATION_WORKFLOW)
class CancellationWorkflow:
    @workflow.init
    def __init__(self, start: CancellationStart) -> None:
        self._case: Case = start.case
        self._recorded = 0  # progress entries already written
        self._changes = 0
        self._follow_up_opened = False

    # ---- the run ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: CancellationStart) -> Case:
        case = self._case
        if not case.prechecks:  # a case carried over (continue-as-new, an import) starts where it was
            await self._precheck()
        published = None
        while True:
            await self._due_steps()
            if case.state == State.TODO and not case.todo:
                await self._precheck()
                continue
            key = (case.state, len(case.progress))
            if key != published:
                await self._publish()
                published = key
            if case.closed:
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._publish()
                return case
            seen = self._changes
            wake = self._next_wake()
            timeout = (wake - workflow.now()) if wake else None
            if timeout is not None and timeout <= timedelta(0):
                continue
            try:
                await workflow.wait_condition(lambda: self._changes != seen, timeout=timeout)  # noqa: B023
            except TimeoutError:
                pass

    def _next_wake(self) -> datetime | None:
        case, wakes = self._case, []
        a = case.appointment
        if a and a.reminder_at and not a.reminder_sent_at and case.state not in (State.WITHDRAWN, State.FAILED):
            wakes.append(a.reminder_at)
        if case.state == State.COOLING_OFF and case.cooling_off_until:
            wakes.append(case.cooling_off_until)
        if (lapse := lapse_at(case)) is not None:
            wakes.append(lapse)
        if case.state == State.CANCELLED and case.follow_up_due and not case.closed:
            wakes.append(case.follow_up_due if not self._follow_up_opened else case.follow_up_due + FOLLOW_UP_WAIT)
        return min(wakes) if wakes else None

    def _waiting_for(self) -> list[str]:
        case = self._case
        if case.closed:
            return []
        waits = {
            State.PRECHECKING: ["the carrier's pre-check"],
            State.TODO: [f"{o.item_id}: {o.how_to_clear}" for o in case.todo],
            State.READY: (["document review"] if case.documents_reviewed_at is None else []) + ["the customer's confirmation"],
            State.COOLING_OFF: ["the end of the cooling-off (or a withdrawal)"],
            State.CANCELLING: ["the carrier's cancellation"],
            State.CANCELLED: ["the follow-up call's outcome"],
        }
        return waits.get(case.state, [])

    async def _due_steps(self) -> None:
        case, now = self._case, workflow.now()
        a = case.appointment
        if a and a.reminder_at and not a.reminder_sent_at and now >= a.reminder_at and case.state not in (
                State.WITHDRAWN, State.FAILED):
            await self._remind(a)
        if (lapse := lapse_at(case)) is not None and now >= lapse:
            apply_failed(case, now, "lapsed: no step for 30 days before the confirmation")
        if case.state == State.COOLING_OFF and case.cooling_off_until and now >= case.cooling_off_until:
            apply_cooling_off_over(case, case.cooling_off_until)
            await self._publish()
            await self._cancel_at_carrier()
        if case.state == State.CANCELLED and not case.closed and case.follow_up_due:
            if not self._follow_up_opened and now >= case.follow_up_due:
                await workflow.execute_activity(contract.OPEN_FOLLOW_UP_TASK, FollowUpTask(
                    cancellation_id=case.cancellation_id, due_at=case.follow_up_due), **LOCAL)
                self._follow_up_opened = True
                case.record(Step.FOLLOW_UP, now, "system", "follow-up call task opened for a clerk")
            elif self._follow_up_opened and now >= case.follow_up_due + FOLLOW_UP_WAIT:
                apply_follow_up(case, now, "system", FollowUpOutcome.NOT_REACHED, "no outcome recorded in 7 days")

    async def _precheck(self) -> None:
        case = self._case
        answer: PrecheckAnswer = await workflow.execute_activity(
            contract.PRECHECK_AT_CARRIER,
            PrecheckRequest(cancellation_id=case.cancellation_id, carrier=case.carrier, round=case.prechecks + 1),
            result_type=PrecheckAnswer, **CARRIER_CALL)
        now = workflow.now()
        apply_precheck(case, precheck(answer.facts, now), now)
        self._changes += 1

    async def _remind(self, a: Appointment) -> None:
        case = self._case
        msg = ReminderSms(message_id=f"{case.cancellation_id}-appointment-{a.at.strftime('%Y%m%d%H%M')}",
                          cancellation_id=case.cancellation_id, text=appointment_sms(a))
        try:
            await workflow.execute_activity(contract.SEND_REMINDER_SMS, msg, **SMS)
            what = "appointment reminder SMS sent with the documents to bring"
        except ActivityError as err:
            what = f"appointment reminder SMS failed: {err.cause or err}"
        a.reminder_sent_at = workflow.now()
        case.record(Step.DOCUMENT_REVIEW, workflow.now(), "system", what)

    async def _cancel_at_carrier(self) -> None:
        case = self._case
        outcome: CarrierOutcome = await workflow.execute_activity(
            contract.CANCEL_AT_CARRIER, CancelAtCarrier(cancellation_id=case.cancellation_id, carrier=case.carrier),
            result_type=CarrierOutcome, **CARRIER_CALL)
        now = workflow.now()
        if not outcome.done:
            apply_failed(case, now, f"the carrier refused the cancellation: {outcome.reason}", by="carrier")
            return
        apply_cancelled(case, now, outcome.reference)
        if case.from_own_stock:
            await workflow.execute_activity(contract.QUARANTINE_NUMBER, Quarantine(
                cancellation_id=case.cancellation_id, since=now), **LOCAL)
            case.record(Step.CANCELLATION, now, "system", "number of our stock returned to quarantine")

    async def _publish(self) -> None:
        case = self._case
        fresh: list[ProgressEntry] = case.progress[self._recorded:]
        await workflow.execute_activity(contract.RECORD_CANCELLATION, CancellationRecord(case=case, progress=fresh),
                                        **LOCAL)
        self._recorded = len(case.progress)
        workflow.upsert_search_attributes([
            SearchAttributePair(contract.CANCELLATION_STATE, [case.state.value]),
            SearchAttributePair(CARRIER, case.carrier),
        ])
        workflow.upsert_memo({"summary": f"{case.msisdn_masked} {case.summary()}"})
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        """The parcel-like trail for the Web UI (markdown), newest last."""
        case = self._case
        lines = [f"**{case.summary()}**", ""]
        lines += [f"{e.seq}. {e.at.isoformat(timespec='minutes')} {e.step.value} ({e.by}): {e.what}"
                  for e in case.progress[-30:]]
        if case.todo:
            lines += ["", "To do:"] + [f"- {o.item_id}: {o.reason}; {o.how_to_clear}" for o in case.todo]
        return "\n".join(lines)

    # ---- handlers --------------------------------------------------------------------------

    @workflow.query(name=contract.VIEW)
    def view(self) -> CancellationView:
        return CancellationView(case=self._case, todo=self._case.todo, next_wake=self._next_wake(),
                                waiting_for=self._waiting_for())

    @workflow.update(name=contract.Update.CLEAR_ITEM)
    async def clear_item(self, req: ClearRequest) -> CancellationView:
        case = self._case
        reference = ""
        if req.via == ClearVia.CARRIER:
            item = next(o for o in case.obstacles if o.item_id == req.item_id)
            try:
                outcome: CarrierOutcome = await workflow.execute_activity(
                    contract.CLEAR_AT_CARRIER, ClearAtCarrier(cancellation_id=case.cancellation_id, carrier=case.carrier,
                                                              item_id=req.item_id.split("#")[0], action=item.action),
                    result_type=CarrierOutcome, **CARRIER_CLEAR)
            except ActivityError:
                outcome = CarrierOutcome(done=False, reason="the carrier did not answer within 2 minutes; ask again")
            if not outcome.done:
                case.record(Step.CONTRACT_HANDLING, workflow.now(), req.actor,
                            f"{item.action.value} {item.title} refused by the carrier: {outcome.reason}")
                self._changes += 1
                raise ApplicationError(f"the carrier refused: {outcome.reason}", type="CarrierRefused", non_retryable=True)
            reference = outcome.reference
            _refuse(check_clear(case, req.item_id, req.via, req.evidence))  # still open after the call
        apply_clear(case, req.item_id, workflow.now(), req.actor, req.via, req.evidence, reference)
        self._changes += 1
        return self.view()

    @clear_item.validator
    def _check_clear(self, req: ClearRequest) -> None:
        _refuse(check_clear(self._case, req.item_id, req.via, req.evidence))

    @workflow.update(name=contract.Update.REVIEW_DOCUMENTS)
    def review_documents(self, req: DocumentsRequest) -> CancellationView:
        apply_documents(self._case, workflow.now(), req.actor, req.note)
        self._changes += 1
        return self.view()

    @review_documents.validator
    def _check_documents(self, req: DocumentsRequest) -> None:
        _refuse(check_documents(self._case))

    @workflow.update(name=contract.Update.BOOK_APPOINTMENT)
    def book_appointment(self, req: AppointmentRequest) -> CancellationView:
        apply_appointment(self._case, Appointment(at=req.at, hall=req.hall), workflow.now(), req.actor)
        self._changes += 1
        return self.view()

    @book_appointment.validator
    def _check_appointment(self, req: AppointmentRequest) -> None:
        _refuse(check_appointment(self._case, req.at, workflow.now()))

    @workflow.update(name=contract.Update.CONFIRM)
    def confirm(self, req: DocumentsRequest) -> CancellationView:
        apply_confirm(self._case, workflow.now(), req.actor)
        self._changes += 1
        return self.view()

    @confirm.validator
    def _check_confirm(self, req: DocumentsRequest) -> None:
        _refuse(check_confirm(self._case))

    @workflow.update(name=contract.Update.WITHDRAW)
    def withdraw(self, req: WithdrawRequest) -> CancellationView:
        apply_withdraw(self._case, workflow.now(), req.actor, req.reason)
        self._changes += 1
        return self.view()

    @withdraw.validator
    def _check_withdraw(self, req: WithdrawRequest) -> None:
        _refuse(check_withdraw(self._case, workflow.now()))

    @workflow.update(name=contract.Update.RECORD_FOLLOW_UP)
    def record_follow_up(self, req: FollowUpRequest) -> CancellationView:
        apply_follow_up(self._case, workflow.now(), req.actor, req.outcome, req.note)
        self._changes += 1
        return self.view()

    @record_follow_up.validator
    def _check_follow_up(self, req: FollowUpRequest) -> None:
        _refuse(check_follow_up(self._case))


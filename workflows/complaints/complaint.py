"""One complaint, from registration to archive (workflow id `complaint-<id>`). It owns the ticket's deadline.

The rules live in `domain.complaints.complaint`; this workflow holds the `Case`, asks the domain what is due and
when, sleeps until then or until a department acts, and records every step through activities:

- 48 h without a reply: the customer is told by SMS that it is being handled (never 22:00-07:00);
- an hour before the due time the handling department is warned; at the due time the ticket turns
  overdue and the handling department gets a supervision notice every day, copied to the market
  department, until a qualified reply closes the handling;
- departments act through updates (accept, transfer, findings, reply), refused by validators with a
  typed ApplicationError when the domain says no; ops escalate (crisis report) and correct the level;
- after the reply the customer's acceptance is asked; on archive the survey SMS goes out; a
  "dissatisfied" answer inside the window reopens the ticket to the last handling department with a
  fresh deadline; silence archives it;
- a `recompute_due` signal (ops loaded or corrected a working-day schedule) recomputes the due time.

Due times come from an activity (the working-day schedules ops load live in the database), so a replay
never depends on today's calendar data. Months of daily notices continue as new before the history grows.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.clock import SHANGHAI, shanghai_text
    from domain.complaints.complaint import (
        SMS_HANDLED,
        SMS_SURVEY,
        SUPERVISION_COPY,
        Case,
        Department,
        DueDecision,
        Escalation,
        Finding,
        Outcome,
        Refusal,
        ReplyRecord,
        Stage,
        SurveyAnswer,
        Tick,
        apply_accept,
        apply_acceptance,
        apply_close,
        apply_notice_sent,
        apply_overdue,
        apply_reply,
        apply_survey_sent,
        apply_transfer,
        check_accept,
        check_acceptance,
        check_escalate,
        check_findings,
        check_reply,
        check_survey_answer,
        check_transfer,
        classify,
        due_ticks,
        next_wake,
        schedule,
        set_due,
        start_cycle,
    )
    from workflows.complaints import contract
    from workflows.complaints.contract import (
        AcceptanceRequest,
        CaseEvent,
        ComplaintRecord,
        ComplaintStart,
        ComplaintView,
        DepartmentAction,
        DueRequest,
        EscalateRequest,
        FindingsRequest,
        LevelCorrection,
        NoticeRequest,
        RecomputeDue,
        ReplyRequest,
        SmsRequest,
        SurveyReply,
        TransferRequest,
    )

LOCAL = dict(start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
# SMS and notices go through HTTP gateways: retried with backoff for as long as a day, then the step is
# recorded as failed instead of blocking the ticket's clock for good.
GATEWAY = dict(start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=timedelta(days=1),
               retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)))
HISTORY_LIMIT = 2_000  # continue as new well before the server's 4k suggestion and 10k warning


@workflow.defn(name=contract.COMPLAINT_WORKFLOW)
class ComplaintWorkflow:
    @workflow.init
    def __init__(self, start: ComplaintStart) -> None:
        self._case: Case = start.case
        self._pending: list[CaseEvent] = []
        self._changes = 0
        self._recompute: list[str] = []
        self._seq = start.case.event_seq

    @workflow.run
    async def run(self, start: ComplaintStart) -> Case:
        case = self._case
        if not start.continued:
            self._event("registered", department=case.facts.receiving_department,
                        detail=f"level {case.level.value}: {'; '.join(case.level_reasons)} | due {case.due.due_at.isoformat()}"
                               f" ({case.due.limit})")
        published: tuple | None = None
        while True:
            if self._recompute:
                reasons, self._recompute = self._recompute, []
                await self._recompute_due("; ".join(dict.fromkeys(reasons)))
            while ticks := due_ticks(case, workflow.now()):
                await self._tick(ticks[0])
            key = (case.public_state(), case.handling_department, case.level, case.due.due_at)
            if key != published or self._pending:
                await self._publish(key != published)
                published = key
            if case.stage == Stage.CLOSED:
                workflow.set_current_details(_details(case))
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._pending:
                    await self._publish(False)
                return case
            if self._history_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._pending and not self._recompute:
                    case.event_seq = self._seq
                    workflow.continue_as_new(ComplaintStart(case=case, continued=True))
                continue
            seen = self._changes
            workflow.set_current_details(_details(case))  # the Web UI's current details; no history event
            wake = next_wake(case)
            timeout = (wake - workflow.now()) if wake else None
            if timeout is not None and timeout <= timedelta(0):
                continue
            try:
                await workflow.wait_condition(lambda: self._changes != seen or bool(self._recompute), timeout=timeout,  # noqa: B023 - awaited in this iteration
                                              timeout_summary=_timer_summary(case))
            except TimeoutError:
                pass

    # ---- the clock ------------------------------------------------------------------------------

    async def _tick(self, tick: Tick) -> None:
        case, now = self._case, workflow.now()
        cid = case.facts.complaint_id
        if tick == Tick.HANDLED_SMS:
            case.handled_sms_sent = True
            sent = await self._sms(SmsRequest(message_id=f"{cid}-handled-{case.cycle}", complaint_id=cid,
                                              kind="handled", text=SMS_HANDLED.format(ref=cid)))
            self._event("sms_handled" if sent else "sms_failed", detail="48 h without a reply: told the customer it "
                        "is being handled" if sent else "the 'being handled' SMS could not be sent")
        elif tick == Tick.WARN_HANDLER:
            case.warned_for_due = case.due.due_at
            await self._notice("handler_warning", case.handling_department, None,
                               f"complaint {cid} is due at {case.due.due_at.isoformat()} (in 1 hour)", f"{case.due.due_at.isoformat()}")
        elif tick == Tick.OVERDUE:
            apply_overdue(case)
            self._event("overdue", department=case.handling_department,
                        detail=f"due {case.due.due_at.isoformat()} passed without a qualified reply")
        elif tick == Tick.SUPERVISION_NOTICE:
            n = case.supervision_notices + 1
            await self._notice("supervision", case.handling_department, SUPERVISION_COPY,
                               f"supervision notice {n}: complaint {cid} overdue since {case.due.due_at.isoformat()}",
                               f"{case.cycle}-{n}")
            apply_notice_sent(case, now)
        elif tick == Tick.ARCHIVE_UNANSWERED:
            apply_acceptance(case, None, now)
            self._event("archived", detail="no acceptance recorded within the wait: archived, survey planned")
        elif tick == Tick.SEND_SURVEY:
            sent = await self._sms(SmsRequest(message_id=f"{cid}-survey-{case.cycle}", complaint_id=cid,
                                              kind="survey", text=SMS_SURVEY.format(ref=cid)))
            apply_survey_sent(case, workflow.now())
            self._event("survey_sent" if sent else "sms_failed",
                        detail=f"survey open until {case.survey_closes_at.isoformat()}" if sent
                        else "the survey SMS could not be sent; the survey window runs anyway")
        elif tick == Tick.CLOSE_SILENT:
            apply_close(case, Outcome.SILENT, now)
            self._event("closed", detail="no answer to the survey: archived as not dissatisfied")
        self._changes += 1

    async def _recompute_due(self, reason: str) -> None:
        case = self._case
        if not case.handling_open:
            self._event("due_kept", detail=f"{reason}: handling already closed, due time kept")
            return
        due = await self._compute_due(case.cycle_started_at)
        self._set_due(due, reason)

    def _set_due(self, due: DueDecision, reason: str) -> None:
        change = set_due(self._case, due, workflow.now(), reason)
        if change is None:
            self._event("due_unchanged", detail=f"{reason}: due time unchanged ({due.due_at.isoformat()})")
        else:
            self._event("due_recomputed", detail=f"{reason}: {change.old_due_at.isoformat() if change.old_due_at else '-'}"
                                                 f" ({change.old_calendar_version or 'clock hours'}) -> "
                                                 f"{change.new_due_at.isoformat()} ({change.new_calendar_version or 'clock hours'})")
        self._changes += 1

    # ---- updates --------------------------------------------------------------------------------

    @workflow.update
    def accept(self, req: DepartmentAction) -> ComplaintView:
        _refuse(check_accept(self._case, req.department))
        apply_accept(self._case)
        return self._acted("accepted", req.department, req.actor, "")

    @accept.validator
    def _validate_accept(self, req: DepartmentAction) -> None:
        _refuse(check_accept(self._case, req.department))

    @workflow.update
    def transfer(self, req: TransferRequest) -> ComplaintView:
        _refuse(check_transfer(self._case, req.department, req.to))
        apply_transfer(self._case, req.to)
        return self._acted("transferred", req.department, req.actor, f"to {req.to.value}: {req.note}".strip())

    @transfer.validator
    def _validate_transfer(self, req: TransferRequest) -> None:
        _refuse(check_transfer(self._case, req.department, req.to))

    @workflow.update
    def add_findings(self, req: FindingsRequest) -> ComplaintView:
        _refuse(check_findings(self._case, req.department, req.text))
        self._case.findings.append(Finding(department=req.department, actor=req.actor, text=req.text, at=workflow.now()))
        return self._acted("findings", req.department, req.actor, req.text[:500])

    @add_findings.validator
    def _validate_findings(self, req: FindingsRequest) -> None:
        _refuse(check_findings(self._case, req.department, req.text))

    @workflow.update
    def reply(self, req: ReplyRequest) -> ComplaintView:
        case = self._case
        _refuse(check_reply(case, req.department, req.findings, req.handling, req.reply_to_customer))
        now = workflow.now()
        findings = req.findings.strip() or "\n".join(f.text for f in case.findings
                                                     if f.department == req.department and f.at >= case.cycle_started_at)
        on_time = now <= case.due.due_at
        apply_reply(case, ReplyRecord(department=req.department, actor=req.actor, findings=findings, handling=req.handling,
                                      reply_to_customer=req.reply_to_customer, at=now, on_time=on_time))
        return self._acted("replied", req.department, req.actor,
                           f"{'on time' if on_time else 'LATE'}; handling: {req.handling[:300]}")

    @reply.validator
    def _validate_reply(self, req: ReplyRequest) -> None:
        _refuse(check_reply(self._case, req.department, req.findings, req.handling, req.reply_to_customer))

    @workflow.update
    async def customer_acceptance(self, req: AcceptanceRequest) -> ComplaintView:
        case = self._case
        _refuse(check_acceptance(case))
        if req.accepted:
            apply_acceptance(case, True, workflow.now())
            return self._acted("archived", None, req.actor, f"customer accepted the reply. {req.note}".strip())
        # Not accepted: a crisis report (complaint procedure 4.4, crisis: risk of escalation) and back to the last handling
        # department with a fresh deadline.
        reason = f"customer does not accept the reply. {req.note}".strip()
        await self._escalate(req.actor, reason)
        await self._reopen(f"not accepted by the customer ({req.actor})")
        return self._view()

    @customer_acceptance.validator
    def _validate_acceptance(self, req: AcceptanceRequest) -> None:
        _refuse(check_acceptance(self._case))

    @workflow.update
    async def survey_answer(self, req: SurveyReply) -> ComplaintView:
        case = self._case
        _refuse(check_survey_answer(case, req.received_at))
        if req.answer == SurveyAnswer.SATISFIED:
            apply_close(case, Outcome.SATISFIED, workflow.now())
            return self._acted("closed", None, "customer", f"survey answer: satisfied (SMS {req.message_id})")
        self._event("dissatisfied", actor="customer", detail=f"survey answer: dissatisfied (SMS {req.message_id})")
        await self._reopen("the customer answered the survey: dissatisfied")
        return self._view()

    @survey_answer.validator
    def _validate_survey_answer(self, req: SurveyReply) -> None:
        _refuse(check_survey_answer(self._case, req.received_at))

    @workflow.update
    async def escalate(self, req: EscalateRequest) -> ComplaintView:
        _refuse(check_escalate(self._case, req.reason))
        await self._escalate(req.actor, req.reason)
        return self._view()

    @escalate.validator
    def _validate_escalate(self, req: EscalateRequest) -> None:
        _refuse(check_escalate(self._case, req.reason))

    @workflow.update
    async def correct_level(self, req: LevelCorrection) -> ComplaintView:
        case = self._case
        _refuse(_check_correction(case, req))
        facts = case.facts
        if req.customer is not None:
            facts.customer = req.customer
        if req.ctype is not None:
            facts.ctype = req.ctype
        if req.repeat_of is not None:
            facts.repeat_of = req.repeat_of
        decision = classify(facts.source, facts.customer, facts.ctype, facts.multi_department)
        old = case.level
        case.level, case.level_reasons, case.repeat = decision.level, decision.reasons, facts.repeat_of is not None
        self._event("level_corrected", actor=req.actor,
                    detail=f"{req.reason}: level {old.value} -> {case.level.value}"
                           f"{' (repeat of ' + facts.repeat_of + ')' if case.repeat else ''}; {'; '.join(decision.reasons)}")
        if case.handling_open:
            self._set_due(await self._compute_due(case.cycle_started_at), f"level corrected by {req.actor}")
        self._changes += 1
        return self._view()

    @correct_level.validator
    def _validate_correct_level(self, req: LevelCorrection) -> None:
        _refuse(_check_correction(self._case, req))

    @workflow.signal(name=contract.RECOMPUTE_DUE)
    def recompute_due(self, req: RecomputeDue) -> None:
        self._recompute.append(req.reason)

    @workflow.query(name=contract.VIEW)
    def view(self) -> ComplaintView:
        return self._view()

    # ---- helpers --------------------------------------------------------------------------------

    def _view(self) -> ComplaintView:
        plan = schedule(self._case)
        return ComplaintView(case=self._case, state=self._case.public_state(), next_wake=next_wake(self._case),
                             waiting_for=[f"{t.value} at {at.isoformat()}" for t, at in sorted(plan.items(), key=lambda p: p[1])])

    def _acted(self, kind: str, department: Department | None, actor: str, detail: str) -> ComplaintView:
        self._event(kind, department=department, actor=actor, detail=detail)
        self._changes += 1
        return self._view()

    def _event(self, kind: str, department: Department | None = None, actor: str = "", detail: str = "") -> None:
        self._seq += 1
        self._pending.append(CaseEvent(key=f"{self._case.facts.complaint_id}:{self._seq}", at=workflow.now(), kind=kind,
                                       department=department, actor=actor, detail=detail))

    async def _escalate(self, actor: str, reason: str) -> None:
        case = self._case
        case.escalations.append(Escalation(actor=actor, reason=reason, at=workflow.now()))
        n = len(case.escalations)
        await self._notice("crisis_report", SUPERVISION_COPY, case.handling_department,
                           f"crisis report on complaint {case.facts.complaint_id}: {reason}", str(n))
        self._event("escalated", actor=actor, detail=reason)
        self._changes += 1

    async def _reopen(self, reason: str) -> None:
        case = self._case
        due = await self._compute_due(workflow.now())
        start_cycle(case, due.started_at, due)  # the fresh deadline runs from the instant it was asked for
        self._event("reopened", department=case.handling_department,
                    detail=f"{reason}: back to {case.handling_department.value}, due {due.due_at.isoformat()} ({due.limit})")
        self._changes += 1

    async def _compute_due(self, start) -> DueDecision:
        case = self._case
        return await workflow.execute_local_activity(
            contract.COMPUTE_DUE, DueRequest(complaint_id=case.facts.complaint_id, level=case.level, repeat=case.repeat,
                                          start=start),
            result_type=DueDecision, **LOCAL)

    async def _sms(self, req: SmsRequest) -> bool:
        try:
            await workflow.execute_activity(contract.SEND_CUSTOMER_SMS, req, summary=f"SMS the customer: {req.kind}",
                                            **GATEWAY)
            return True
        except Exception as err:  # noqa: BLE001 - recorded on the ticket; the clock goes on
            workflow.logger.warning("customer SMS failed", extra={"complaint_id": req.complaint_id, "error": str(err)})
            return False

    async def _notice(self, kind: str, to: Department, cc: Department | None, text: str, suffix: str) -> None:
        cid = self._case.facts.complaint_id
        await workflow.execute_local_activity(
            contract.NOTIFY_DEPARTMENT,
            NoticeRequest(key=f"{cid}-{kind}-{suffix}", complaint_id=cid, kind=kind, to_department=to,
                          cc_department=cc, text=text),
            summary=f"{kind.replace('_', ' ')} to {to.value}" + (f", copy to {cc.value}" if cc else ""), **LOCAL)
        self._event(kind, department=to, detail=text + (f" (copy to {cc.value})" if cc else ""))

    async def _publish(self, attributes: bool) -> None:
        case = self._case
        if attributes:
            workflow.upsert_search_attributes([
                contract.COMPLAINT_LEVEL.value_set(case.level.value),
                contract.DEPARTMENT.value_set([case.handling_department.value]),
                contract.DUE_AT.value_set(case.due.due_at),
                contract.COMPLAINT_STATE.value_set(case.public_state()),
            ])
            workflow.upsert_memo({"summary": _summary(case)})
        events, self._pending = self._pending, []
        case.event_seq = self._seq
        await workflow.execute_local_activity(contract.RECORD_COMPLAINT, ComplaintRecord(case=case, events=events), **LOCAL)

    def _history_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT


def _refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise ApplicationError(refusal.reason, type=refusal.type, non_retryable=True)


def _check_correction(case: Case, req: LevelCorrection) -> Refusal | None:
    if case.stage == Stage.CLOSED:
        return Refusal(type="WrongStage", reason="the ticket is closed")
    if req.customer is None and req.repeat_of is None and req.ctype is None:
        return Refusal(type="NothingToCorrect", reason="give the customer class, the type or the complaint it repeats")
    if req.repeat_of == case.facts.complaint_id:
        return Refusal(type="NotARepeat", reason="a complaint cannot repeat itself")
    return None


_TICK_WORDS = {
    Tick.HANDLED_SMS: "the customer's 'handled' SMS", Tick.WARN_HANDLER: "warn the department (1 h before due)",
    Tick.OVERDUE: "overdue", Tick.SUPERVISION_NOTICE: "supervision notice", Tick.ARCHIVE_UNANSWERED: "archive unanswered",
    Tick.SEND_SURVEY: "the satisfaction survey", Tick.CLOSE_SILENT: "close without a survey answer",
}


def _next_tick(case: Case) -> tuple[Tick, object] | None:
    plan = schedule(case)
    return min(plan.items(), key=lambda kv: kv[1]) if plan else None


def _timer_summary(case: Case) -> str:
    nxt = _next_tick(case)
    return f"until {shanghai_text(nxt[1])}: {_TICK_WORDS.get(nxt[0], nxt[0].value)}" if nxt else "until the next event"


def _details(case: Case) -> str:
    """Where the ticket stands, for people: level, due time, department, the next clock event. Masked number only."""
    f = case.facts
    lines = [f"**{case.public_state().replace('_', ' ').upper()}**" + (" (OVERDUE)" if case.overdue else ""),
             "", f"level {case.level.value} ({'; '.join(case.level_reasons)})",
             f"due {shanghai_text(case.due.due_at)} ({case.due.limit})",
             f"with {case.handling_department.value} (chain: {' > '.join(d.value for d in case.chain)})",
             f"about {f.msisdn_masked}, cycle {case.cycle}"]
    if case.supervision_notices:
        lines.append(f"supervision notices sent: {case.supervision_notices}")
    nxt = _next_tick(case)
    if nxt:
        lines.append(f"next: {_TICK_WORDS.get(nxt[0], nxt[0].value)} at {shanghai_text(nxt[1])}")
    return "\n".join(lines)


def _summary(case: Case) -> str:
    f = case.facts
    return (f"level {case.level.value} {f.ctype.value} {f.msisdn_masked} with {case.handling_department.value}: "
            f"{case.public_state()}, due {case.due.due_at.isoformat()}")


@workflow.defn(name=contract.CALENDAR_CHECK_WORKFLOW)
class CalendarCheckWorkflow:
    """Started daily by a Temporal Schedule: warns ops (log + alert row) when next year's working-day
    schedule is still missing from 1 December, or when the current year runs on the estimate."""

    @workflow.run
    async def run(self) -> list[str]:
        today = workflow.now().astimezone(SHANGHAI).date()
        workflow.set_current_details(f"checking the working-day schedules for {today.isoformat()}")
        return await workflow.execute_activity(contract.CHECK_CALENDAR, today, result_type=list[str],
                                               summary=f"is the working-day schedule of {today.year + 1} loaded?",
                                               start_to_close_timeout=timedelta(minutes=1),
                                               retry_policy=RetryPolicy(maximum_attempts=5))

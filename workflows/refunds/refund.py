"""One refund, from audit to a final word (workflow id `refund-<id>`).

Audit first (automatic unless the channel or the refund says otherwise; a human auditor must not be
the requester), then the loop against an unreliable channel:

    send(serial) --success--> notify, then one confirming query-back later (a reversal is its own state)
        |--processing / UNKNOWN (timeout, 5xx, worker crash mid-send)--> query back BY OUR SERIAL
        |        not_found (never accepted) -> resend the SAME serial
        |        still processing after a few tries -> parked: the sweep (a Schedule) queries back
        |--declined with a code--> translate -> fail for good | NEW serial after a delay | manual
        |                                       | payout to the card / credit to the wallet
        `--answer about another serial or amount--> manual review

A new serial is minted only after a definitive decline: never after an unclear answer, which is
how other engines pay twice. Every serial and outcome is written to the database by activities.
Ops act through validated updates; long loops continue as new.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.clock import shanghai_text
    from domain.money import yuan
    from domain.refunds import (
        ChannelAnswer,
        ChannelState,
        Next,
        RefundRoute,
        RefundStatus,
        after_decline,
        initial_status,
        mismatch,
    )
    from workflows.refunds import contract
    from workflows.refunds.contract import (
        NotifyRequest,
        OpsAction,
        QueryRequest,
        RefundCarry,
        RefundInput,
        RefundProgress,
        RefundView,
        SendRequest,
        SerialRecord,
        SweepAnswer,
        Translation,
    )

AUDIT, NEW_SERIAL, SEND, QUERY, PARKED, MANUAL, WAIT, WATCH, DONE = (
    "audit", "new_serial", "send", "query", "parked", "manual", "wait", "watch", "done")
LOCAL = dict(start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)))
QUERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=4)
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                           maximum_interval=timedelta(minutes=30))
NOTIFY_WITHIN = timedelta(days=3)
PARKED_SAFETY_QUERY = timedelta(hours=12)  # longer than any sweep step: normally the sweep answers first
MANUAL_MESSAGE = "Our operations team is checking this refund with the channel; no action is needed from you."
# Since this patch an ops "retry with a new serial" first queries back the current serial (DOMAIN: never a new
# serial while the old one may still pay).
RETRY_QUERIES_BACK_FIRST = "ops-retry-queries-back-first"
# Since this patch a force fail applies only if the API's evidence check saw the serial as it still is: a send
# since the check (the loop was between serials) could still pay.
FORCE_FAIL_NEEDS_CURRENT_CHECK = "force-fail-needs-current-check"
RETRYABLE_STATES = frozenset({RefundStatus.PROCESSING, RefundStatus.MANUAL_REVIEW, RefundStatus.REVERSED})


@workflow.defn(name=contract.REFUND_WORKFLOW)
class RefundWorkflow:
    @workflow.init
    def __init__(self, inp: RefundInput) -> None:
        self._inp = inp
        c = inp.carry or RefundCarry(
            status=initial_status(inp.audit_reasons), phase=AUDIT)
        self._status = c.status
        self._phase = c.phase
        self._route = c.route
        self._serial = c.serial
        self._serials_used = c.serials_used
        self._same_resends = c.same_resends
        self._sends = c.sends_of_serial
        self._delay_s = c.delay_s
        self._manual_reason = c.manual_reason
        self._failure_code = c.failure_code
        self._failure_message = c.failure_message
        self._after_wait = c.after_wait
        self._retry_serials = c.retry_serials  # minted on "retry later" codes since the start or the last ops retry
        self._query_i = c.query_i
        self._waiting_for = c.waiting_for
        self._serial_outcomes = dict(c.serial_outcomes)
        self._commands: list[tuple[int, str, OpsAction]] = []
        self._results: dict[int, str | ApplicationError] = {}
        self._next_cmd = 0
        self._sweep: SweepAnswer | None = None
        self._events = 0
        self._rounds = 0
        self._notifications: list[asyncio.Task] = []
        # written with the next progress line, in one local activity and one transaction
        self._pending_serial: SerialRecord | None = None
        self._pending_notes: list[str] = []

    # ---- the run -----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: RefundInput) -> RefundStatus:
        workflow.upsert_search_attributes([contract.CHANNEL.value_set(inp.channel), contract.MERCHANT_ID.value_set(inp.merchant_id),
                                           contract.REFUND_STATUS.value_set(self._status.value)])
        steps = {AUDIT: self._audit, NEW_SERIAL: self._new_serial, SEND: self._send, QUERY: self._query,
                 PARKED: self._parked, MANUAL: self._manual, WAIT: self._wait_retry, WATCH: self._watch}
        while self._phase != DONE:
            if (self._rounds >= inp.rounds_per_run or workflow.info().is_continue_as_new_suggested()) \
                    and self._can_continue_as_new():
                self._continue_as_new()
            self._rounds += 1
            self._show()
            await steps[self._phase]()
        self._show()
        for cmd_id, _kind, _ in self._commands:  # came in while the refund was finishing
            self._results[cmd_id] = ApplicationError(f"refund is already {self._status.value}", type="InvalidState")
        self._commands.clear()
        if self._notifications:
            await asyncio.gather(*self._notifications)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    def _can_continue_as_new(self) -> bool:
        """Only at a quiet point: no ops action queued or running, no callback in flight, nothing unwritten.
        Nothing is awaited before continuing, so no update can slip in and wait for a run that is gone."""
        return (not self._commands and self._phase not in (AUDIT, WATCH) and self._pending_serial is None
                and not self._pending_notes and all(t.done() for t in self._notifications)
                and workflow.all_handlers_finished())

    def _continue_as_new(self) -> None:
        carry = RefundCarry(status=self._status, phase=self._phase, route=self._route, serial=self._serial,
                            serials_used=self._serials_used, same_resends=self._same_resends,
                            sends_of_serial=self._sends, delay_s=self._delay_s, manual_reason=self._manual_reason,
                            failure_code=self._failure_code, failure_message=self._failure_message,
                            after_wait=self._after_wait, retry_serials=self._retry_serials, query_i=self._query_i,
                            waiting_for=self._waiting_for, serial_outcomes=self._serial_outcomes)
        workflow.continue_as_new(self._inp.model_copy(update={"carry": carry}))

    # ---- steps -----------------------------------------------------------------------------------

    async def _audit(self) -> None:
        inp = self._inp
        if not inp.audit_reasons:
            self._pending_notes.append("auto_approved")  # recorded with the first send
            self._start_route()
            return
        if self._waiting_for == "":
            self._waiting_for = f"an auditor other than {inp.requested_by}: " + "; ".join(inp.audit_reasons)
            await self._record(RefundStatus.AWAITING_AUDIT, "awaiting_audit", detail="; ".join(inp.audit_reasons))
        await workflow.wait_condition(lambda: bool(self._commands))
        await self._apply_command()

    def _start_route(self) -> None:
        if not self._inp.has_refund_api:
            self._route = RefundRoute.WALLET if self._inp.consumer_wallet_id else RefundRoute.PAYOUT
        self._phase = NEW_SERIAL

    async def _new_serial(self) -> None:
        self._serial = str(workflow.uuid4()).replace("-", "")
        self._serials_used += 1
        self._same_resends = 0
        self._sends = 0
        self._phase = SEND

    async def _send(self) -> None:
        self._sends += 1
        self._waiting_for = f"the channel's answer to serial {self._serial}"
        await self._record_serial("sending", defer=True)
        await self._record(RefundStatus.PROCESSING, "sending", detail=f"{self._route.value} serial {self._serial}"
                           + (f", send #{self._sends}" if self._sends > 1 else ""))
        inp = self._inp
        req = SendRequest(route=self._route, channel=inp.channel, serial=self._serial or "", refund_id=inp.refund_id,
                          payment_id=inp.payment_id, amount_fen=inp.amount_fen, card=inp.consumer_card_masked,
                          wallet_id=inp.consumer_wallet_id)
        try:
            answer = await workflow.execute_activity(
                contract.SEND_REFUND, req, result_type=ChannelAnswer,
                start_to_close_timeout=timedelta(seconds=inp.send_timeout_s),
                # never retried by Temporal: a second request with the serial is decided by query-back only
                retry_policy=RetryPolicy(maximum_attempts=1),
                summary=f"send serial {self._serial} to {inp.channel} by {self._route.value}"
                        + (f" (send #{self._sends})" if self._sends > 1 else ""),
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "PeerRejected":
                await self._to_manual(f"the channel refused our request: {cause.message}", "channel_protocol_error")
                return
            answer = ChannelAnswer(state=ChannelState.UNKNOWN, serial=self._serial or "",
                                   detail=f"send did not complete: {type(cause).__name__}: {cause}")
        self._query_i = 0
        await self._on_answer(answer, came_from=SEND)

    async def _query(self) -> None:
        delays = self._inp.limits.query_backs
        if self._query_i >= len(delays):
            self._phase = PARKED
            self._waiting_for = "the channel is still processing; the sweep queries back on the channel's backoff"
            await self._record(RefundStatus.PROCESSING, "parked_for_sweep", parked=True)
            return
        delay = delays[self._query_i]
        self._query_i += 1
        self._waiting_for = f"query-back of serial {self._serial} in {delay}s"
        if await self._pause(delay):
            return
        await self._on_answer(await self._query_back(), came_from=QUERY)

    async def _parked(self) -> None:
        try:
            await workflow.wait_condition(
                lambda: bool(self._commands) or self._sweep is not None, timeout=PARKED_SAFETY_QUERY,
                timeout_summary=f"until {shanghai_text(workflow.now() + PARKED_SAFETY_QUERY)}: ask {self._inp.channel} "
                                "ourselves if the sweep stays silent")
        except TimeoutError:
            # the sweep has not spoken for hours (its Schedule missing or paused): ask the channel ourselves
            answer = await self._query_back()
            if answer.state not in (ChannelState.PROCESSING, ChannelState.UNKNOWN):
                await self._on_answer(answer, came_from=PARKED)
            return
        if self._commands:
            await self._apply_command()
            return
        word, self._sweep = self._sweep, None
        assert word is not None
        if word.exhausted:
            await self._to_manual("the channel never gave a final answer and the sweep's backoff ran out",
                                  "channel_no_final_answer")
        elif word.answer is not None:
            await self._on_answer(word.answer, came_from=PARKED)

    async def _manual(self) -> None:
        await workflow.wait_condition(lambda: bool(self._commands))
        await self._apply_command()

    async def _wait_retry(self) -> None:
        if await self._pause(self._delay_s):
            return
        self._phase = self._after_wait

    async def _watch(self) -> None:
        """After a channel success, one more query-back later: a reversal must not go unseen."""
        watch = timedelta(seconds=self._inp.reversal_watch_s)
        await workflow.sleep(watch, summary=f"until {shanghai_text(workflow.now() + watch)}: confirm serial "
                                            f"{self._serial} was not reversed")
        answer = await self._query_back()
        if answer.state == ChannelState.REVERSED and answer.serial == self._serial:
            await self._record_serial("reversed", answer, defer=True)
            self._manual_reason = "the channel reversed the refund after reporting success"
            self._failure_code, self._failure_message = "refund_reversed", (
                "The bank returned the refund after first confirming it; our operations team is handling it.")
            self._waiting_for = "ops: retry with a new serial, force success or force fail"
            await self._record(RefundStatus.REVERSED, "reversed", detail=answer.raw_message or "")
            self._notify()
            self._phase = MANUAL
        else:
            self._phase = DONE

    # ---- answers ---------------------------------------------------------------------------------

    async def _on_answer(self, answer: ChannelAnswer, came_from: str) -> None:
        serial = self._serial or ""
        why = mismatch(answer, serial, self._inp.amount_fen)
        if why:
            await self._record_serial("mismatch", answer, defer=True)
            await self._to_manual(f"answer does not match our request: {why}", "channel_answer_mismatch")
            return
        state = answer.state
        if state == ChannelState.SUCCESS:
            await self._record_serial("success", answer, defer=True)
            await self._finish(RefundStatus.SUCCEEDED, "succeeded", detail=f"channel serial {answer.channel_serial}",
                               watch=self._route == RefundRoute.CHANNEL)
        elif state in (ChannelState.PROCESSING, ChannelState.UNKNOWN):
            await self._record_serial(state.value, answer)
            if came_from == SEND:
                self._phase = QUERY
            elif came_from == PARKED:
                self._phase = PARKED
        elif state == ChannelState.NOT_FOUND:
            await self._record_serial("not_accepted", answer)
            if self._same_resends >= self._inp.limits.max_same_resends:
                await self._to_manual(f"the channel never accepted serial {serial} after {self._sends} sends",
                                      "channel_not_accepting")
                return
            self._same_resends += 1
            self._phase = SEND  # the same serial: the channel never took it, so this cannot pay twice
        else:  # FAILED, or REVERSED before we ever saw a success: a definitive decline
            await self._record_serial("failed" if state == ChannelState.FAILED else "reversed", answer, defer=True)
            code = answer.raw_code or ("REVERSED" if state == ChannelState.REVERSED else "")
            await self._after_decline(code, answer.raw_message or "")

    async def _after_decline(self, raw_code: str, raw_message: str) -> None:
        tr = await workflow.execute_local_activity(
            contract.TRANSLATE_CODE, args=[self._inp.channel, raw_code], result_type=Translation, **LOCAL)
        m = tr.mapping
        nxt, delay, why = after_decline(m, self._retry_serials, self._same_resends, self._inp.limits)
        self._failure_code, self._failure_message = m.internal_code, m.merchant_message
        detail = f"code {raw_code or '?'} ({raw_message}) -> {m.internal_code}, {m.action.value}" + (
            "" if tr.known else " (unknown code)")
        if nxt == Next.FINISH_FAILED:
            await self._finish(RefundStatus.FAILED, "failed", detail=detail)
        elif nxt == Next.FALLBACK:
            self._route = RefundRoute.WALLET if self._inp.consumer_wallet_id else RefundRoute.PAYOUT
            await self._record(RefundStatus.PROCESSING, "fallback", detail=f"{detail}; now by {self._route.value}")
            self._phase = NEW_SERIAL
        elif nxt == Next.NEW_SERIAL:
            self._retry_serials += 1
            self._delay_s, self._after_wait, self._phase = delay, NEW_SERIAL, WAIT
            self._waiting_for = f"a new serial in {delay}s ({m.internal_code})"
            await self._record(RefundStatus.PROCESSING, "declined_retry_later", detail=detail)
        elif nxt == Next.RESEND_SAME:
            self._same_resends += 1
            self._delay_s, self._after_wait, self._phase = delay, SEND, WAIT
            self._waiting_for = f"resending serial {self._serial} in {delay}s ({m.internal_code})"
            await self._record(RefundStatus.PROCESSING, "declined_resend_same", detail=detail)
        else:
            await self._to_manual(why if tr.known else f"unknown channel code {raw_code!r}: {raw_message}",
                                  m.internal_code, detail=detail, message=m.merchant_message)

    async def _query_back(self) -> ChannelAnswer:
        try:
            return await workflow.execute_activity(
                contract.QUERY_REFUND, QueryRequest(route=self._route, channel=self._inp.channel, serial=self._serial or ""),
                result_type=ChannelAnswer, start_to_close_timeout=timedelta(seconds=self._inp.send_timeout_s),
                retry_policy=QUERY_RETRY, summary=f"ask {self._inp.channel}: serial {self._serial} final?")
        except ActivityError as err:
            return ChannelAnswer(state=ChannelState.UNKNOWN, serial=self._serial or "", detail=f"query-back failed: {err.cause}")

    # ---- ops ---------------------------------------------------------------------------------------

    async def _pause(self, seconds: int) -> bool:
        """Wait, unless ops act first; True when an ops action changed the course."""
        try:
            await workflow.wait_condition(
                lambda: bool(self._commands), timeout=timedelta(seconds=seconds),
                timeout_summary=f"until {shanghai_text(workflow.now() + timedelta(seconds=seconds))}: {self._waiting_for}")
        except TimeoutError:
            return False
        await self._apply_command()
        return True

    async def _apply_command(self) -> None:
        cmd_id, kind, a = self._commands.pop(0)
        ops = dict(actor=a.actor, reason=a.reason, statement_ref=a.statement_ref)
        if kind == "approve":
            await self._record(RefundStatus.PROCESSING, "approved", **ops)
            self._start_route()
        elif kind == "reject":
            self._failure_code, self._failure_message = "rejected_at_audit", f"The refund was refused at audit: {a.reason}"
            await self._finish(RefundStatus.REJECTED, "rejected", **ops)
        elif kind == "mark_succeeded_offline":
            self._route = RefundRoute.OFFLINE
            await self._finish(RefundStatus.SUCCEEDED, "marked_succeeded_offline", **ops)
        elif kind == "force_success":
            await self._finish(RefundStatus.SUCCEEDED, "force_success", **ops)
        elif kind == "force_fail":
            if workflow.patched(FORCE_FAIL_NEEDS_CURRENT_CHECK) and (stale := self._stale_check(a)):
                self._results[cmd_id] = ApplicationError(stale, type="SerialStillLive")
                return
            self._failure_code, self._failure_message = "forced_fail", f"The refund failed: {a.reason}"
            await self._finish(RefundStatus.FAILED, "force_fail", **ops)
        elif kind == "retry_new_serial":
            settled_serial = self._status == RefundStatus.REVERSED or not self._serial
            if not settled_serial and workflow.patched(RETRY_QUERIES_BACK_FIRST):
                # Ops retry the same way the loop does: a new serial only once the old one is settled as declined.
                answer = await self._query_back()
                if answer.state in (ChannelState.SUCCESS, ChannelState.PROCESSING, ChannelState.UNKNOWN):
                    self._results[cmd_id] = ApplicationError(
                        f"serial {self._serial} is {answer.state.value} at the channel: a new serial could pay twice"
                        + ("; force success after reconciliation" if answer.state == ChannelState.SUCCESS
                           else "; wait for its final answer"), type="SerialStillLive")
                    return
                if answer.state == ChannelState.NOT_FOUND:  # never accepted: the same serial goes again
                    self._retry_serials = 0
                    self._manual_reason = ""
                    await self._record(RefundStatus.PROCESSING, "retry_same_serial", **ops)
                    self._phase = SEND
                    self._results[cmd_id] = self._status.value
                    return
            self._retry_serials = 0
            self._manual_reason = ""
            await self._record(RefundStatus.PROCESSING, "retry_new_serial", **ops)
            self._phase = NEW_SERIAL
        self._results[cmd_id] = self._status.value

    def _stale_check(self, a: OpsAction) -> str | None:
        if a.checked_sends is None:
            return "force fail needs the API's check of every serial against the channel and its statement"
        if self._serial and a.checked_sends.get(self._serial) != self._sends:
            return (f"serial {self._serial} was sent after the evidence was checked (send #{self._sends}): it may "
                    "still pay; check again")
        return None

    async def _submit(self, kind: str, a: OpsAction) -> str:
        cmd_id = self._next_cmd
        self._next_cmd += 1
        self._commands.append((cmd_id, kind, a))
        await workflow.wait_condition(lambda: cmd_id in self._results)
        result = self._results.pop(cmd_id)
        if isinstance(result, ApplicationError):
            raise result
        return result

    def _validate(self, kind: str, a: OpsAction) -> None:
        s, inp = self._status, self._inp
        if self._commands:
            raise ApplicationError("another ops action on this refund is being applied; try again", type="Busy")
        if kind in ("approve", "reject", "mark_succeeded_offline"):
            if self._phase != AUDIT or s != RefundStatus.AWAITING_AUDIT:
                raise ApplicationError(f"refund is {s.value}, not awaiting audit", type="InvalidState")
            if a.actor == inp.requested_by:
                raise ApplicationError("the auditor must not be the person who requested the refund", type="FourEyes")
            if kind == "approve" and inp.pre_debit:
                raise ApplicationError("this channel pre-debits risky orders: mark the refund succeeded without "
                                       "calling the channel, or reject it", type="PreDebitChannel")
            if kind == "mark_succeeded_offline" and not inp.pre_debit:
                raise ApplicationError("only refunds on channels that pre-debit can be marked succeeded without "
                                       "calling the channel", type="NotPreDebit")
            return
        if kind in ("force_success", "force_fail"):
            if s not in RETRYABLE_STATES or self._phase in (AUDIT, WATCH, DONE):
                raise ApplicationError(f"refund is {s.value}: nothing to force", type="InvalidState")
        elif kind == "retry_new_serial":
            if s not in (RefundStatus.MANUAL_REVIEW, RefundStatus.REVERSED):
                raise ApplicationError(f"refund is {s.value}: a new serial is only for the manual queue",
                                       type="InvalidState")
        if not (a.statement_ref or "").strip():
            raise ApplicationError("a statement reference (the reconciliation evidence) is required",
                                   type="StatementRequired")
        if kind == "force_fail" and (self._phase in (SEND, NEW_SERIAL) or self._stale_check(a)):
            raise ApplicationError(self._stale_check(a) or f"serial {self._serial} is being sent: it may still pay",
                                   type="SerialStillLive")

    @workflow.update
    async def approve(self, a: OpsAction) -> str:
        return await self._submit("approve", a)

    @approve.validator
    def _v_approve(self, a: OpsAction) -> None:
        self._validate("approve", a)

    @workflow.update
    async def reject(self, a: OpsAction) -> str:
        return await self._submit("reject", a)

    @reject.validator
    def _v_reject(self, a: OpsAction) -> None:
        self._validate("reject", a)

    @workflow.update
    async def mark_succeeded_offline(self, a: OpsAction) -> str:
        return await self._submit("mark_succeeded_offline", a)

    @mark_succeeded_offline.validator
    def _v_offline(self, a: OpsAction) -> None:
        self._validate("mark_succeeded_offline", a)

    @workflow.update
    async def force_success(self, a: OpsAction) -> str:
        return await self._submit("force_success", a)

    @force_success.validator
    def _v_force_success(self, a: OpsAction) -> None:
        self._validate("force_success", a)

    @workflow.update
    async def force_fail(self, a: OpsAction) -> str:
        return await self._submit("force_fail", a)

    @force_fail.validator
    def _v_force_fail(self, a: OpsAction) -> None:
        self._validate("force_fail", a)

    @workflow.update
    async def retry_new_serial(self, a: OpsAction) -> str:
        return await self._submit("retry_new_serial", a)

    @retry_new_serial.validator
    def _v_retry(self, a: OpsAction) -> None:
        self._validate("retry_new_serial", a)

    @workflow.signal(name=contract.SWEEP_ANSWER)
    def sweep_answer(self, word: SweepAnswer) -> None:
        if word.serial == self._serial and self._phase == PARKED:
            self._sweep = word  # a word about an older serial, or while not parked, is stale: dropped

    @workflow.query(name=contract.VIEW)
    def view(self) -> RefundView:
        return RefundView(refund_id=self._inp.refund_id, status=self._status, phase=self._phase, route=self._route,
                          serial=self._serial, serials_used=self._serials_used, waiting_for=self._waiting_for,
                          manual_reason=self._manual_reason)

    # ---- recording -------------------------------------------------------------------------------

    async def _to_manual(self, why: str, code: str, detail: str = "", message: str = "") -> None:
        self._manual_reason = why
        self._failure_code = code
        self._failure_message = message or MANUAL_MESSAGE
        self._waiting_for = f"ops: {why}"
        self._phase = MANUAL
        await self._record(RefundStatus.MANUAL_REVIEW, "manual_review", reason=why, detail=detail)

    async def _finish(self, status: RefundStatus, event: str, *, watch: bool = False, actor: str = "system",
                      reason: str = "", statement_ref: str | None = None, detail: str = "") -> None:
        if status == RefundStatus.SUCCEEDED:
            self._failure_code, self._failure_message = None, ""
        self._waiting_for = ""
        await self._record(status, event, actor=actor, reason=reason, statement_ref=statement_ref, detail=detail)
        self._notify()
        self._phase = WATCH if watch else DONE

    def _notify(self) -> None:
        if not self._inp.notify:
            return
        self._events += 1
        req = NotifyRequest(refund_id=self._inp.refund_id, status=self._status, event_key=self._key())
        self._notifications.append(asyncio.create_task(self._send_notification(req)))

    async def _send_notification(self, req: NotifyRequest) -> None:
        try:
            await workflow.execute_activity(contract.NOTIFY_MERCHANT, req, start_to_close_timeout=timedelta(seconds=30),
                                            schedule_to_close_timeout=NOTIFY_WITHIN, retry_policy=NOTIFY_RETRY,
                                            summary=f"tell merchant {self._inp.merchant_id}: {req.status.value}")
        except ActivityError as err:
            workflow.logger.warning("merchant never acknowledged %s: %s", req.status.value, err.cause)
            self._events += 1
            await self._record(self._status, "notification_abandoned",
                               detail=f"merchant did not acknowledge '{req.status.value}' within {NOTIFY_WITHIN}")

    def _key(self) -> str:
        info = workflow.info()
        return f"{info.run_id}/{self._events}"

    async def _record(self, status: RefundStatus, event: str, *, actor: str = "system", reason: str = "",
                      statement_ref: str | None = None, detail: str = "", parked: bool = False) -> None:
        changed = status != self._status
        self._status = status
        self._events += 1
        if changed:
            workflow.upsert_search_attributes([contract.REFUND_STATUS.value_set(status.value)])
        workflow.upsert_memo({"summary": self._summary()})
        await workflow.execute_local_activity(
            contract.RECORD_REFUND_PROGRESS,
            RefundProgress(refund_id=self._inp.refund_id, status=status, event=event, event_key=self._key(),
                           waiting_for=self._waiting_for, route=self._route, serial=self._serial,
                           serials_used=self._serials_used, failure_code=self._failure_code,
                           failure_message=self._failure_message, actor=actor, reason=reason,
                           statement_ref=statement_ref, detail=detail, parked=parked,
                           serial_record=self._pending_serial, notes=self._pending_notes),
            summary=f"record '{event}' ({status.value})", **LOCAL,
        )
        self._pending_serial, self._pending_notes = None, []

    async def _record_serial(self, outcome: str, answer: ChannelAnswer | None = None, defer: bool = False) -> None:
        """The serial's outcome; deferred ones ride with the next progress line (every deferring path records one)."""
        if self._serial is None:
            return
        record = SerialRecord(refund_id=self._inp.refund_id, serial=self._serial, seq=self._serials_used,
                              route=self._route, sends=self._sends, outcome=outcome, answer=answer)
        self._serial_outcomes[self._serial] = outcome
        if defer:
            self._pending_serial = record
            return
        await workflow.execute_local_activity(contract.RECORD_SERIAL, record, summary=f"record serial {self._serial}: {outcome}",
                                              **LOCAL)

    def _show(self) -> None:
        """The Web UI's current details (no history event): status, what it waits for, every serial and its outcome."""
        inp = self._inp
        lines = [f"**{self._status.value.replace('_', ' ').upper()}**"
                 + (f": waiting for {self._waiting_for}" if self._waiting_for else ""),
                 "", f"{yuan(inp.amount_fen)} yuan by {self._route.value} through {inp.channel}, phase {self._phase}"]
        if self._manual_reason:
            lines.append(f"manual review: {self._manual_reason}")
        if self._failure_code:
            lines.append(f"failure: {self._failure_code} ({self._failure_message})")
        if self._serial_outcomes:
            lines += ["", "serials:"] + [f"{i}. {s}: {o}" for i, (s, o) in enumerate(self._serial_outcomes.items(), 1)]
        elif self._serial:
            lines += ["", f"serial {self._serial}: not sent yet"]
        workflow.set_current_details("\n".join(lines))

    def _summary(self) -> str:
        inp = self._inp
        head = f"refund {inp.refund_id} of payment {inp.payment_id} ({inp.channel}, merchant {inp.merchant_id}) " \
               f"{inp.amount_fen} fen: {self._status.value}"
        return f"{head}, waiting for {self._waiting_for}" if self._waiting_for else head

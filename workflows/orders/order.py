"""One order's month-spanning wait, from shipment to commission (workflow id `order-<id>`).

The workflow folds carrier events into facts and lets `domain.orders.order.evaluate` say where the order
stands; it sleeps until the next deadline or the next event, asks the carrier at the check point,
and waits for the carrier's monthly audit, which the settlement batch delivers as a signal.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from workflows.orders.delivery import DeliveryFollowUp  # a workflow module: loaded in the sandbox, like this one

with workflow.unsafe.imports_passed_through():
    from domain.clock import shanghai_text
    from domain.orders.carriers import carrier_name
    from domain.orders.order import (
        TERMINAL,
        Action,
        AuditResult,
        InNetworkAnswer,
        OrderEvent,
        OrderFacts,
        OrderStatus,
        Submission,
        Verdict,
        describe,
        evaluate,
    )
    from domain.orders.payment import refund_due
    from workflows.agents.contract import (
        CaseNews,
        CaseOrderDecided,
        CaseRestored,
        CaseStart,
        suspension_case_workflow_id,
    )
    from workflows.orders import contract
    from workflows.orders.contract import (
        InNetworkRequest,
        OrderCarry,
        OrderEvents,
        OrderInput,
        OrderProgress,
        OrderRefundRequest,
        OrderView,
        RescueClosed,
        RescueRequest,
        SubmitRequest,
    )

RESCUE_REMINDER_EVERY = timedelta(hours=24)
# The API writes the "placed" row, search attributes and memo when it starts the workflow; since this
# patch the workflow does not publish that same state again (one activity and two events less per order).
PLACED_PUBLISHED_AT_START = "placed-published-at-start"
# Since this patch each suspension the carrier reports opens a case `suspension-<order>-<n>` (suspension rules
# 1.7), a restore closes the open ones, and the end of the order closes what is left. Deprecated (the old branch,
# a suspension without a case, is gone): no recorded history took it, and `python -m scripts.patches` decides it for
# a namespace (docs/performance.md, "Retiring a patch"). The call goes once no order started before this build runs.
SUSPENSION_CASES = "suspension-cases"
# Since this patch the order publishes only where it comes to rest (about to wait, or at its end), and only what
# changed: the search attributes ops filter on (OrderStatus, SettlementMonth, FailureReason) when one of them
# changes, its row for the API when its status or what it waits for changes, and no memo (the Web UI's current
# details and the search attributes say it). A step it passes through inside one task (checking in network on the
# way to awaiting audit) is not published. It implies the two patches above: an order with this marker was started
# after both, so it never asks for them (two history events less, four for a suspended order). Orders started
# before it keep their old publishing for the rest of their run. docs/performance.md has the figures.
PUBLISH_AT_REST = "publish-at-rest"
# Since this patch the delivery follow-up runs from the main loop (workflows/orders/delivery.py, docs/delivery.md):
# the tracking SMS, the day-before reminder, the rescue with its reminders, the agent's close and the give-up after
# N days (delivery_failed), the stale flag; and the order continues as new with everything it knows. Orders started
# before it keep the old rescue loop (a daily reminder, no give-up) for the rest of their run.
DELIVERY_FOLLOW_UP = "delivery-follow-up"
# Since this patch the order's first step is its submission to the carrier (docs/fulfilment.md): the number is
# confirmed from the stock and the carrier answers with its order number or a refusal, which fails the order with
# the carrier's reason. Orders started before it were never submitted (the carrier learned of them otherwise).
CARRIER_SUBMISSION = "carrier-submission"
# Since this patch an order that ends before the customer had the card (cancelled before shipment, a failed
# delivery, refused by the carrier) asks the refund engine for its payment back; the activity knows whether the
# order was paid at all.
ORDER_REFUND = "order-refund"
# Since this patch the submission runs on the acceptance window's clock: a carrier unreachable until the window
# ends makes the order stale (no carrier acceptance: the flag, ops and the agent told) while the submission goes on
# being retried. Before it, an order whose carrier never answered waited unseen. It costs no event when the
# carrier answers in time (the window is the activity's schedule-to-close).
STALE_WHILE_SUBMITTING = "stale-while-submitting"
LOCAL = dict(start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)))


@workflow.defn(name=contract.ORDER_WORKFLOW)
class OrderSettlementWorkflow:
    @workflow.init
    def __init__(self, order: OrderInput) -> None:
        self._input = order
        self._facts = OrderFacts()
        self._changes = 0
        self._verdict: Verdict | None = None
        self._rescue: asyncio.Task | None = None
        carried = order.carried  # a run that continued as new: what the previous run knew
        if carried is not None:
            self._facts = carried.facts
        self._cases: list[str] = list(carried.cases) if carried else []  # the n-th suspension's case at index n-1
        self._cases_closed: set[str] = set(carried.cases_closed) if carried else set()
        self._follow: DeliveryFollowUp | None = None  # since DELIVERY_FOLLOW_UP
        self._early_closes: list[RescueClosed] = []
        # since PUBLISH_AT_REST: what visibility and the order's row say now (the API set the first at start)
        self._visible: dict[str, str] = {}
        self._row: tuple | None = tuple(carried.published) if carried and carried.published else None

    @workflow.run
    async def run(self, order: OrderInput) -> Verdict:
        at_rest = workflow.patched(PUBLISH_AT_REST)
        if workflow.patched(DELIVERY_FOLLOW_UP):
            c = order.carried
            self._follow = DeliveryFollowUp(order, self._facts, c.follow_up if c else contract.FollowUpState(),
                                            c.rescue if c else None)
            for closed in self._early_closes:
                self._follow.rescue_closed(closed)
        if at_rest:
            self._visible = {k.name: v for k, v in ((k, workflow.info().typed_search_attributes.get(k))
                                                    for k in contract.FILTERED) if v is not None}
        if order.carried is None and workflow.patched(CARRIER_SUBMISSION):  # a continued run was submitted before
            if self._follow is not None and workflow.patched(STALE_WHILE_SUBMITTING):
                self._facts.submission = await self._submit_within_the_acceptance_window(order)
            else:
                self._facts.submission = await self._submit()
            self._changes += 1
        recorded: tuple | None = None
        while True:
            verdict = evaluate(order.terms, self._facts, workflow.now())
            self._verdict = verdict
            details = describe(verdict) + (self._follow.details() if self._follow else "")
            workflow.set_current_details(details)  # the Web UI's "current details"; no history event
            evaluated = self._changes  # a change from here on is evaluated again before the order rests
            if not at_rest:
                key = (verdict.status, verdict.waiting_for, verdict.failure_reason)
                if key != recorded:
                    if not (recorded is None and verdict.status == OrderStatus.PLACED
                            and workflow.patched(PLACED_PUBLISHED_AT_START)):
                        await self._publish(verdict)
                    recorded = key
            if self._facts.suspensions:
                if not at_rest:  # retired: no order that took the old branch (no cases) can still be replayed
                    workflow.deprecate_patch(SUSPENSION_CASES)
                await self._track_suspensions(verdict)
            if verdict.status in TERMINAL:
                if self._follow is not None:
                    await self._follow.finish(verdict)
                if at_rest:
                    await self._publish_changes(verdict)
                reason = verdict.failure_reason.value if verdict.failure_reason else None
                if refund_due(verdict.status.value, reason) and workflow.patched(ORDER_REFUND):
                    await self._refund(verdict.status.value, reason)
                await workflow.wait_condition(workflow.all_handlers_finished)
                return verdict
            if self._follow is not None:
                if await self._follow.step(verdict):
                    continue  # the rescue gave up: the verdict changes
                workflow.set_current_details(describe(verdict) + self._follow.details())  # what the step opened
            elif verdict.status == OrderStatus.DELIVERY_EXCEPTION:
                self._start_rescue()
            if verdict.action == Action.ASK_IN_NETWORK:
                self._facts.in_network = await self._ask_in_network()
                continue
            seen = evaluated if at_rest or self._follow is not None else self._changes
            wake_at = self._wake_at(verdict)
            timeout = (wake_at - workflow.now()) if wake_at else None
            if timeout is not None and timeout <= timedelta(0):
                continue
            if at_rest:
                await self._publish_changes(verdict)
                if wake_at:  # the row's write took a moment: wake at the deadline itself
                    timeout = wake_at - workflow.now()
                    if timeout <= timedelta(0):
                        continue
                if self._follow is not None and self._continue_as_new_now():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(self._carry())
            try:
                await workflow.wait_condition(lambda: self._changes != seen, timeout=timeout,  # noqa: B023 - awaited in this iteration
                                              timeout_summary=_timer_summary(verdict, wake_at))
            except TimeoutError:
                pass

    @workflow.signal(name=contract.CARRIER_EVENTS)
    def carrier_events(self, push: OrderEvents) -> None:
        """One push's events for this order, folded in the order the push carried them."""
        for event in push.events:
            self._fold(event)

    @workflow.signal(name=contract.CARRIER_EVENT)
    def carrier_event(self, event: OrderEvent) -> None:
        """One event a signal, as the API sent them before `carrier_events` (recorded histories, a resend)."""
        self._fold(event)

    def _fold(self, event: OrderEvent) -> None:
        if self._facts.record(event, workflow.now(), self._input.msisdn_fingerprint):
            self._changes += 1

    @workflow.signal(name=contract.AUDIT_RESULT)
    def audit_result(self, result: AuditResult) -> None:
        if self._facts.audit is None:  # a carrier's first audit word is final; repeats are ignored
            self._facts.audit = result
            self._changes += 1

    @workflow.signal(name=contract.RESCUE_CLOSED)
    def rescue_closed(self, closed: RescueClosed) -> None:
        """The agent closed a rescue task through the API (the row is written already)."""
        if self._follow is None:
            self._early_closes.append(closed)  # before the run set the follow-up up (or an order before it)
        elif self._follow.rescue_closed(closed):
            self._changes += 1

    def _links(self) -> dict:
        """What the order's row shows beside the checklist's times: the tracking number, the carrier's acceptance."""
        f = self._facts
        return {"tracking_no": f.tracking_no, "carrier_accepted_at": f.submission.at if f.submission and f.submission.accepted else None}

    def _wake_at(self, verdict: Verdict):
        """The verdict's own deadline, or the follow-up's next step when that comes first."""
        times = [t for t in (verdict.wake_at, self._follow.next_wake(verdict) if self._follow else None) if t]
        return min(times) if times else None

    def _continue_as_new_now(self) -> bool:
        """Temporal suggests it, the history passed its limit, or a rescue starts with half of it used."""
        info = workflow.info()
        length, limit = info.get_current_history_length(), self._input.history_limit
        rescue = self._follow.rescue if self._follow else None
        starting = rescue is not None and rescue.reminders == 0 and length >= limit // 2
        return info.is_continue_as_new_suggested() or length >= limit or starting

    def _carry(self) -> OrderInput:
        assert self._follow is not None
        runs = self._input.carried.runs + 1 if self._input.carried else 2
        carry = OrderCarry(facts=self._facts, rescue=self._follow.rescue, follow_up=self._follow.state,
                           published=tuple(str(x) if x is not None else None for x in self._row) if self._row else None,
                           cases=self._cases, cases_closed=sorted(self._cases_closed), runs=runs)
        return self._input.model_copy(update={"carried": carry})

    @workflow.query(name=contract.CHECKLIST)
    def checklist(self) -> OrderView:
        return OrderView(
            order_id=self._input.order_id,
            verdict=self._verdict or evaluate(self._input.terms, self._facts, workflow.now()),
            facts=self._facts,
            events_seen=len(self._facts.seen_event_ids),
            rescue=self._follow.rescue if self._follow else None,
            follow_up=self._follow.state if self._follow else None,
        )

    async def _submit(self, until: timedelta | None = None) -> Submission:
        """Tell the carrier of the order; retried while the carrier is unreachable (it dedupes by the order id),
        for at most `until` when given."""
        order = self._input
        workflow.set_current_details(f"submitting the order to {carrier_name(order.carrier)}")
        return await workflow.execute_activity(
            contract.SUBMIT_ORDER, SubmitRequest(order_id=order.order_id, carrier=order.carrier),
            result_type=Submission, start_to_close_timeout=timedelta(seconds=60), schedule_to_close_timeout=until,
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
            summary=f"submit the order to {carrier_name(order.carrier)}",
        )

    async def _submit_within_the_acceptance_window(self, order: OrderInput) -> Submission:
        """The submission, tried until the acceptance window ends; if the carrier was unreachable all along, the order
        is flagged stale and the submission goes on (STALE_WHILE_SUBMITTING)."""
        assert self._follow is not None
        window_ends = self._follow.stale_check_at(evaluate(order.terms, self._facts, workflow.now()))
        if window_ends is not None:  # None: started after its window (by the repair pass), stale already
            try:
                return await self._submit(until=window_ends - workflow.now())
            except ActivityError as err:
                if err.retry_state != RetryState.TIMEOUT:  # the window ended (the last try's failure is the cause)
                    raise
            # the server gives up on the retries as soon as the next one would start after the window (up to a retry
            # interval early): the window's own end, then the flag
            if window_ends > workflow.now():
                await workflow.sleep(window_ends - workflow.now(), summary="until the acceptance window ends")
        await self._follow.flag_if_stale(evaluate(order.terms, self._facts, workflow.now()))
        return await self._submit()

    async def _refund(self, status: str, reason: str | None) -> None:
        """A paid order's payment back through the refund engine (nothing when the order was not paid)."""
        order = self._input
        await workflow.execute_activity(
            contract.REFUND_ORDER, OrderRefundRequest(order_id=order.order_id, status=status, failure_reason=reason),
            result_type=str, start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
            summary=f"refund the customer's payment if any: {reason or status}",
        )

    async def _ask_in_network(self) -> InNetworkAnswer:
        order = self._input
        try:
            return await workflow.execute_local_activity(
                contract.ASK_IN_NETWORK,
                InNetworkRequest(carrier=order.carrier, order_id=order.order_id, at=workflow.now()),
                result_type=InNetworkAnswer,
                summary=f"ask {carrier_name(order.carrier)}: in network?",
                **LOCAL,
            )
        except ActivityError as err:  # only non-retryable refusals get here; unavailability is retried
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
            return InNetworkAnswer(in_network=False, asked_at=workflow.now(), carrier_error=f"carrier refused: {cause}")

    async def _publish(self, verdict: Verdict) -> None:
        """Search attributes and memo for ops, and the order row the API lists."""
        order = self._input
        updates = [contract.ORDER_STATUS.value_set(verdict.status.value)]
        if verdict.settlement_month:
            updates.append(contract.SETTLEMENT_MONTH.value_set(verdict.settlement_month))
        if verdict.failure_reason:
            updates.append(contract.FAILURE_REASON.value_set(verdict.failure_reason.value))
        workflow.upsert_search_attributes(updates)
        workflow.upsert_memo({"summary": _summary(order, verdict)})
        settled = verdict.status == OrderStatus.SETTLED
        await workflow.execute_local_activity(
            contract.RECORD_ORDER_PROGRESS,
            OrderProgress(
                order_id=order.order_id,
                verdict=verdict,
                agent_id=order.agent_id,
                carrier=order.carrier,
                commission_fen=order.terms.commission_fen if settled else None,
                parent_override_bp=order.terms.parent_override_bp, **self._links(),
            ),
            **LOCAL,
        )

    async def _publish_changes(self, verdict: Verdict) -> None:
        """Where the order rests (PUBLISH_AT_REST): the search attributes that changed, the row if it changed."""
        order = self._input
        values = {contract.ORDER_STATUS: verdict.status.value, contract.SETTLEMENT_MONTH: verdict.settlement_month,
                  contract.FAILURE_REASON: verdict.failure_reason.value if verdict.failure_reason else None}
        updates = [k.value_set(v) for k, v in values.items() if v is not None and self._visible.get(k.name) != v]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._visible.update({k.name: v for k, v in values.items() if v is not None})
        row = (verdict.status, verdict.waiting_for, verdict.failure_reason)
        if self._row is None and verdict.status == OrderStatus.PLACED:
            self._row = row  # the API wrote the placed row when it started the workflow
        if row == self._row:
            return
        self._row = row
        settled = verdict.status == OrderStatus.SETTLED
        await workflow.execute_local_activity(
            contract.RECORD_ORDER_PROGRESS,
            OrderProgress(order_id=order.order_id, verdict=verdict, agent_id=order.agent_id, carrier=order.carrier,
                          commission_fen=order.terms.commission_fen if settled else None,
                          parent_override_bp=order.terms.parent_override_bp, **self._links()),
            summary=f"record the order's row: {verdict.status.value}",
            **LOCAL,
        )

    async def _track_suspensions(self, verdict: Verdict) -> None:
        """Open a case per new suspension, pass restores to the open cases, close them when the order ends."""
        order = self._input
        for n in range(len(self._cases) + 1, len(self._facts.suspensions) + 1):
            s = self._facts.suspensions[n - 1]
            await workflow.execute_activity(
                contract.OPEN_SUSPENSION_CASE,
                CaseStart(order_id=order.order_id, n=n, agent_id=order.agent_id, carrier=order.carrier,
                          msisdn_masked=order.msisdn_masked, mode=s.mode, cause=s.cause, suspended_at=s.at),
                start_to_close_timeout=timedelta(seconds=30))
            self._cases.append(suspension_case_workflow_id(order.order_id, n))
        # a restore closes the cases of the suspensions before it (carriers' timestamps, whatever order they came in)
        for n, case_wf in enumerate(self._cases, start=1):
            if case_wf in self._cases_closed:
                continue
            suspended_at = self._facts.suspensions[n - 1].at
            after = [r for r in self._facts.restorations if r.at >= suspended_at]
            if after:
                r = min(after, key=lambda f: f.at)
                await self._tell_cases(CaseNews(workflow_ids=[case_wf],
                                                restored=CaseRestored(event_id=r.event_id, restored_at=r.at)))
        if verdict.status in TERMINAL:
            note = verdict.failure_reason.value if verdict.failure_reason else ""
            await self._tell_cases(CaseNews(workflow_ids=self._open_cases(),
                                            decided=CaseOrderDecided(order_status=verdict.status.value, note=note)))

    def _open_cases(self) -> list[str]:
        return [c for c in self._cases if c not in self._cases_closed]

    async def _tell_cases(self, news: CaseNews) -> None:
        if news.workflow_ids:
            await workflow.execute_activity(contract.TELL_SUSPENSION_CASES, news, start_to_close_timeout=timedelta(seconds=30))
            self._cases_closed.update(news.workflow_ids)

    def _start_rescue(self) -> None:
        if self._rescue is None or self._rescue.done():
            self._rescue = asyncio.create_task(self._delivery_rescue())

    async def _delivery_rescue(self) -> None:
        """Open a task for the agent per delivery exception; remind daily until signed or returned."""
        order = self._input
        opened: set[str] = set()
        while (exc := self._facts.open_delivery_exception()) is not None:
            if exc.event_id not in opened:
                kind = self._facts.delivery_exception_kinds[self._facts.delivery_exceptions.index(exc)]
                await workflow.execute_activity(
                    contract.OPEN_RESCUE_TASK,
                    RescueRequest(order_id=order.order_id, agent_id=order.agent_id, exception_event_id=exc.event_id, kind=kind),
                    start_to_close_timeout=timedelta(seconds=30),
                    summary=f"open a rescue task for agent {order.agent_id}: delivery {kind}",
                )
                opened.add(exc.event_id)
            try:
                await workflow.wait_condition(
                    lambda: self._facts.open_delivery_exception() is None, timeout=RESCUE_REMINDER_EVERY,
                    timeout_summary="remind the agent in 24 h unless the parcel is signed for or returned",
                )
            except TimeoutError:
                await workflow.execute_activity(
                    contract.REMIND_RESCUE, order.order_id, start_to_close_timeout=timedelta(seconds=30),
                    summary=f"remind agent {order.agent_id} of the open delivery exception",
                )
        resolution = "signed" if self._facts.signed else "returned" if self._facts.returned else "closed"
        await workflow.execute_activity(
            contract.RESOLVE_RESCUE, args=[order.order_id, resolution], start_to_close_timeout=timedelta(seconds=30),
            summary=f"close the rescue task: parcel {resolution}",
        )


def _timer_summary(v: Verdict, wake_at=None) -> str:
    """The timer's line in the Web UI: until when, in Shanghai time, and for what."""
    if wake_at is not None and wake_at != v.wake_at:
        return f"until {shanghai_text(wake_at)}: delivery follow-up (SMS, reminder, rescue or stale check)"
    if v.status == OrderStatus.AWAITING_CHECK_POINT and v.check_point:
        return f"until the check point {shanghai_text(v.check_point)}"
    until = v.wake_at or v.until
    return f"until {shanghai_text(until)}: {v.waiting_for}" if until else v.waiting_for


def _summary(order: OrderInput, v: Verdict) -> str:
    head = f"{order.carrier} {order.terms.product_id} agent {order.agent_id} {order.msisdn_masked}: {v.status.value}"
    if v.failure_reason:
        return f"{head} ({v.failure_reason.value})"
    if v.waiting_for:
        return f"{head}, waiting for {v.waiting_for}" + (f" until {v.until.isoformat()}" if v.until else "")
    return head

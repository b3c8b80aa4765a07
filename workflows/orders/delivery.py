"""The order workflow's delivery follow-up (settlement rules 1.8, 1.9), driven from its main loop since the patch
`delivery-follow-up`: the tracking number to the customer after shipment (never in the quiet hours), the day-before
reminder to the agent and the customer, the rescue of a delivery exception (a task, reminders every N hours, the
agent's close by signal, the give-up after N days that fails the delivery), and the stale flag.

No task of its own: the main loop asks `step` to do what is due and `next_wake` when to look again, so the whole
state is plain data (`FollowUpState`, `RescueState`) that continue-as-new hands on, and nothing is in flight when
the run continues as new.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain.clock import customer_sms_time, shanghai_text
    from domain.orders import delivery as rules
    from domain.orders.delivery import RescueResolution
    from domain.orders.order import TERMINAL, Fact, OrderFacts, Verdict
    from workflows.agents.contract import Notice
    from workflows.orders import contract
    from workflows.orders.contract import (
        DeliverySmsRequest,
        FollowUpState,
        OrderInput,
        RescueClosed,
        RescueReminder,
        RescueRequest,
        RescueState,
        StaleFlag,
    )

ACTIVITY = dict(start_to_close_timeout=timedelta(seconds=30))
# A customer SMS or an agent webhook is worth a day of retries (the gateway or the agent's system is down); after
# that the step is given up and logged rather than holding the order's other clocks.
PEER = dict(start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=timedelta(days=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)))


class DeliveryFollowUp:
    def __init__(self, order: OrderInput, facts: OrderFacts, state: FollowUpState, rescue: RescueState | None) -> None:
        self.order = order
        self.facts = facts
        self.state = state
        self.rescue = rescue
        self._closes: list[RescueClosed] = []

    # ---- signals ------------------------------------------------------------------------------------------

    def rescue_closed(self, closed: RescueClosed) -> bool:
        """The agent closed a task through the API. True when the order must look again."""
        r = self.rescue
        if r is None or r.closed or closed.exception_event_id not in (r.tasks or [r.exception_event_id]):
            return False  # a task of a rescue already over (or a repeat of the signal)
        r.closed = closed.resolution
        if closed.resolution == RescueResolution.GIVEN_UP.value and self.facts.delivery_given_up is None:
            now = workflow.now()
            self.facts.delivery_given_up = Fact(at=now, learned_at=now, event_id=f"rescue-given-up-by-{closed.by}")
        return True

    def details(self) -> str:
        """Lines for the Web UI's current details: the open rescue and the stale flag (masked data only)."""
        lines = []
        r = self.rescue
        if r is not None and not r.closed:
            lines.append(f"🚚 rescue open ({r.kind.replace('_', ' ')}): {r.reminders} reminder(s), next "
                         f"{shanghai_text(r.next_reminder_at)}, delivery fails {shanghai_text(r.give_up_at)}")
        if self.state.stale_reason is not None and self.state.stale_since is not None:
            lines.append(f"⚠️ stale since {shanghai_text(self.state.stale_since)}: "
                         f"{rules.STALE_WORDS[self.state.stale_reason]}")
        return "\n\n" + "\n".join(lines) if lines else ""

    # ---- the clock -----------------------------------------------------------------------------------------

    def _delivered(self, verdict: Verdict) -> bool:
        f = self.facts
        return bool(f.signed or f.returned or f.order_cancelled or f.delivery_given_up) or verdict.status in TERMINAL

    def next_wake(self, verdict: Verdict) -> datetime | None:
        now = workflow.now()
        times: list[datetime] = []
        f, st = self.facts, self.state
        if not self._delivered(verdict):
            if f.shipped and not st.tracking_sms_sent:
                times.append(customer_sms_time(now))
            if f.expected_arrival and f.expected_arrival.isoformat() not in st.arrival_reminded:
                at = rules.arrival_reminder_at(f.expected_arrival)
                if at > now:
                    times.append(at)
            check = self._staleness(verdict).check_at
            if check is not None:
                times.append(check)
        r = self.rescue
        if r is not None and not r.closed:
            times += [r.next_reminder_at, r.give_up_at]
        return min(times) if times else None

    def _staleness(self, verdict: Verdict) -> rules.Staleness:
        f = self.facts
        return rules.staleness(placed_at=self.order.placed_at, accepted_at=f.accepted_at(),
                               shipped_learned_at=f.shipped.learned_at if f.shipped else None,
                               last_logistics_learned_at=f.logistics_news_learned_at,
                               delivered=self._delivered(verdict), terms=self.order.delivery, now=workflow.now())

    def stale_check_at(self, verdict: Verdict) -> datetime | None:
        """When the window that runs now ends (None: the order is stale already, or no window runs)."""
        return self._staleness(verdict).check_at

    # ---- what is due ---------------------------------------------------------------------------------------

    async def step(self, verdict: Verdict) -> bool:
        """Do what is due now; True when a fact changed (the rescue gave up) and the verdict must be asked again."""
        changed = await self._rescue_step(verdict)
        if not self._delivered(verdict):
            await self._tracking_sms()
            await self._arrival_reminder()
        await self._stale_step(verdict)
        return changed

    async def flag_if_stale(self, verdict: Verdict) -> None:
        """The stale flag alone, before anything else is due (the order is still being submitted)."""
        await self._stale_step(verdict)

    async def finish(self, verdict: Verdict) -> None:
        """The order ended: an open rescue closes with it, a stale flag comes off."""
        await self._rescue_step(verdict)
        await self._stale_step(verdict)

    async def _tracking_sms(self) -> None:
        f, st, order = self.facts, self.state, self.order
        if not f.shipped or st.tracking_sms_sent or workflow.now() < customer_sms_time(workflow.now()):
            return
        st.tracking_sms_sent = True  # once, whatever the gateway says: a second text of the same number helps nobody
        if f.tracking_no:
            await self._sms(f"{order.order_id}-tracking", "tracking", rules.tracking_sms(order.order_id, f.tracking_no))

    async def _arrival_reminder(self) -> None:
        f, st, order = self.facts, self.state, self.order
        arrival = f.expected_arrival
        if arrival is None or arrival.isoformat() in st.arrival_reminded:
            return
        now = workflow.now()
        if now < rules.arrival_reminder_at(arrival):
            return
        st.arrival_reminded.append(arrival.isoformat())
        if not rules.arrival_reminder_due(arrival, now):
            return  # learned on the day itself: too late to prepare anyone
        await self._notify(f"order-{order.order_id}-arrival-{arrival.isoformat()}", "delivery_arrival",
                           rules.arrival_notice(order.order_id, order.msisdn_masked, arrival))
        if customer_sms_time(now) == now:  # in the quiet hours the customer gets no "tomorrow" text (see docs)
            await self._sms(f"{order.order_id}-arrival-{arrival.isoformat()}", "arrival",
                            rules.arrival_sms(order.order_id, arrival))

    async def _rescue_step(self, verdict: Verdict) -> bool:
        f, order, terms = self.facts, self.order, self.order.delivery
        now = workflow.now()
        exc = f.open_delivery_exception() if verdict.status not in TERMINAL else None
        r = self.rescue
        if r is not None and (r.closed or exc is None):
            # the rescue is over: the agent closed it, the parcel was signed for or returned, or the order ended;
            # its other tasks (earlier exceptions of the same rescue) close with it
            resolution = r.closed or ("signed" if f.signed else "returned" if f.returned else
                                      "delivery_failed" if f.delivery_given_up else "closed")
            await workflow.execute_activity(contract.RESOLVE_RESCUE, args=[order.order_id, resolution], **ACTIVITY,
                                            summary=f"close the rescue task: {resolution}")
            self.state.rescues_done += [t for t in r.tasks if t not in self.state.rescues_done]
            self.rescue = r = None
        if exc is None or exc.event_id in self.state.rescues_done:
            return False
        kind = f.delivery_exception_kinds[f.delivery_exceptions.index(exc)]
        if r is None:
            give_up = now + timedelta(days=terms.rescue_give_up_days)
            r = self.rescue = RescueState(exception_event_id=exc.event_id, kind=kind, opened_at=now, give_up_at=give_up,
                                          next_reminder_at=now + timedelta(hours=terms.rescue_reminder_h), tasks=[])
        if exc.event_id not in r.tasks:  # a new exception during the rescue: its own task, the same clock
            await workflow.execute_activity(
                contract.OPEN_RESCUE_TASK,
                RescueRequest(order_id=order.order_id, agent_id=order.agent_id, exception_event_id=exc.event_id,
                              kind=kind, msisdn_masked=order.msisdn_masked, give_up_at=r.give_up_at),
                **PEER, summary=f"open a rescue task for agent {order.agent_id}: delivery {kind}")
            r.tasks.append(exc.event_id)
            r.exception_event_id, r.kind = exc.event_id, kind
        if now >= r.give_up_at:
            f.delivery_given_up = Fact(at=r.give_up_at, learned_at=now, event_id="rescue-give-up")
            await self._notify(f"order-{order.order_id}-delivery-failed", "delivery_failed",
                               rules.delivery_failed_notice(order.order_id, order.msisdn_masked,
                                                            terms.rescue_give_up_days))
            return True
        if now >= r.next_reminder_at:
            r.reminders += 1
            r.next_reminder_at = now + timedelta(hours=terms.rescue_reminder_h)
            text = rules.rescue_reminder_notice(order.order_id, order.msisdn_masked, r.kind, r.reminders, r.give_up_at)
            await self._call(contract.REMIND_RESCUE_TASK,
                             RescueReminder(order_id=order.order_id, agent_id=order.agent_id,
                                            exception_event_id=r.exception_event_id, n=r.reminders, text=text),
                             f"remind agent {order.agent_id} of the open delivery exception ({r.reminders})")
        return False

    async def _stale_step(self, verdict: Verdict) -> None:
        st, order = self.state, self.order
        now_stale = self._staleness(verdict)
        if now_stale.reason == st.stale_reason:
            return
        st.stale_reason, st.stale_since = now_stale.reason, now_stale.since
        workflow.upsert_search_attributes([contract.ORDER_STALE.value_set(now_stale.reason is not None)])
        await self._call(contract.RECORD_STALENESS,
                         StaleFlag(order_id=order.order_id, agent_id=order.agent_id, msisdn_masked=order.msisdn_masked,
                                   reason=now_stale.reason, since=now_stale.since),
                         f"order stale: {now_stale.reason.value}" if now_stale.reason else "order has news again")

    # ---- the calls -----------------------------------------------------------------------------------------

    async def _sms(self, message_id: str, kind: str, text: str) -> None:
        await self._call(contract.SEND_DELIVERY_SMS, DeliverySmsRequest(message_id=message_id, order_id=self.order.order_id,
                                                                         kind=kind, text=text),
                         f"text the customer: {kind}")

    async def _notify(self, key: str, kind: str, text: str) -> None:
        await self._call(contract.NOTIFY_AGENT_OF_ORDER, Notice(key=key, agent_id=self.order.agent_id, kind=kind,
                                                                text=text), f"tell agent {self.order.agent_id}: {kind}")

    async def _call(self, name: str, arg: object, summary: str) -> None:
        try:
            await workflow.execute_activity(name, arg, **PEER, summary=summary)
        except ActivityError as err:  # a day of retries: the order goes on, the miss is in the log and history
            workflow.logger.warning("delivery follow-up step failed", extra={"order_id": self.order.order_id,
                                                                             "step": name, "error": str(err.cause)})

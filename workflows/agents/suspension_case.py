"""One number suspension, tracked until the number is back (workflow id `suspension-<order>-<n>`).

Opened by the order workflow when a carrier reports a suspension (suspension rules 1.7): the case knows its kind,
its recovery window (suspension rules 1.6) and the steps the agent walks the customer through (suspension
rules 1.5). The agent is reminded while it is open; when the window passes it is flagged overdue (the agent is
told, ops list it); it closes when the carrier reports the number restored, or when the order ends first (its
check point decided). The id names the order and the count, never the number.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.agents.suspension_case import REMIND_EVERY, CaseFacts, CaseState, open_case
    from workflows.agents import contract
    from workflows.agents.contract import (
        CaseOrderDecided,
        CaseRecord,
        CaseRestored,
        CaseStart,
        CaseTrigger,
        Notice,
        suspension_case_id,
    )

ACTIVITY = dict(start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)))


@workflow.defn(name=contract.SUSPENSION_CASE_WORKFLOW)
class SuspensionCaseWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        cid = suspension_case_id(start.order_id, start.n)
        self._case = open_case(cid, start.order_id, start.n, start.agent_id, start.carrier, start.msisdn_masked,
                               start.mode, start.cause, start.suspended_at)
        self._restored: CaseRestored | None = None
        self._decided: CaseOrderDecided | None = None
        self._triggers: list[CaseTrigger] = []

    @workflow.run
    async def run(self, start: CaseStart) -> CaseFacts:
        case = self._case
        await self._record("opened")
        await self._notify("opened", f"Order {case.order_id}: the number {case.msisdn_masked} is suspended "
                                     f"({case.kind.value}). Walk the customer through the recovery steps; the carrier "
                                     f"restores it by {case.window_ends_at.isoformat()} as a rule.")
        next_reminder = workflow.now() + REMIND_EVERY
        while True:
            while self._triggers:
                t = self._triggers.pop(0)
                case.trigger = t.trigger
                await self._record("trigger")
            if self._restored is not None:
                case.restored_at = self._restored.restored_at
                case.state, case.closed_at = CaseState.RESTORED, workflow.now()
                in_time = case.restored_in_window
                case.close_note = "restored within the recovery window" if in_time else "restored after the recovery window"
                await self._record("restored")
                await self._notify("restored", f"Order {case.order_id}: the number {case.msisdn_masked} is restored "
                                               f"({case.close_note}).")
                return case
            if self._decided is not None:
                case.state, case.closed_at = CaseState.CLOSED_BY_ORDER, workflow.now()
                case.close_note = f"the order ended ({self._decided.order_status}) before a restore was reported"
                await self._record("closed")
                return case
            now = workflow.now()
            if case.state == CaseState.OPEN and now >= case.window_ends_at:
                case.state = CaseState.OVERDUE
                await self._record("overdue")
                await self._notify("overdue", f"Order {case.order_id}: the number {case.msisdn_masked} is still "
                                              f"suspended past its recovery window ({case.window_ends_at.isoformat()}); "
                                              "help the customer reach the carrier's human service now.")
                continue
            if now >= next_reminder:
                case.reminders += 1
                next_reminder = now + REMIND_EVERY
                await self._record("reminded")
                await self._notify(f"reminder-{case.reminders}", f"Order {case.order_id}: the number "
                                   f"{case.msisdn_masked} is still suspended; has the customer passed the second "
                                   "real-name check with the carrier?")
                continue
            wake = min(next_reminder, case.window_ends_at) if case.state == CaseState.OPEN else next_reminder
            try:
                await workflow.wait_condition(
                    lambda: self._restored is not None or self._decided is not None or bool(self._triggers),
                    timeout=wake - now)
            except TimeoutError:
                pass

    @workflow.signal(name=contract.CASE_RESTORED)
    def restored(self, event: CaseRestored) -> None:
        if self._restored is None:
            self._restored = event

    @workflow.signal(name=contract.CASE_ORDER_DECIDED)
    def order_decided(self, decided: CaseOrderDecided) -> None:
        if self._decided is None:
            self._decided = decided

    @workflow.signal(name=contract.CASE_TRIGGER)
    def trigger(self, trigger: CaseTrigger) -> None:
        self._triggers.append(trigger)

    @workflow.query(name=contract.CASE_VIEW)
    def view(self) -> CaseFacts:
        return self._case

    async def _record(self, event: str) -> None:
        await workflow.execute_activity(contract.RECORD_SUSPENSION_CASE, CaseRecord(case=self._case, event=event),
                                        **ACTIVITY)

    async def _notify(self, step: str, text: str) -> None:
        case = self._case
        await workflow.execute_activity(
            contract.NOTIFY_AGENT, Notice(key=f"suspension-{case.case_id}-{step}", agent_id=case.agent_id,
                                          kind=f"suspension_{step.split('-')[0]}", text=text), **ACTIVITY)

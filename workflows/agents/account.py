"""One agent's account, for as long as the account exists (workflow id `agent-<id>`).

The database holds the account's record (status, the timeline, the held commission lines) and the services
change it in one transaction each; this workflow hears of every recorded step (the `account_event` signal,
sent with start) and owns what happens later: the open appeal's reminder and its escalation when the admin's
answer is late (agent accounts 4.1), the end of a maintenance suspension (agent accounts 2.4), and telling
the agent of every change in the inbox (agent accounts 4.6).
"""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.agents import contract
    from workflows.agents.contract import AccountEvent, AccountStart, AccountStep, AccountView, Notice

ACTIVITY = dict(start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)))
HISTORY_LIMIT = 2_000


@workflow.defn(name=contract.ACCOUNT_WORKFLOW)
class AgentAccountWorkflow:
    @workflow.init
    def __init__(self, start: AccountStart) -> None:
        self._s = start.model_copy(deep=True)
        self._inbox: list[AccountEvent] = []

    @workflow.run
    async def run(self, start: AccountStart) -> None:
        s = self._s
        while True:
            while self._inbox:
                await self._apply(self._inbox.pop(0))
            now = workflow.now()
            if s.appeal_id is not None and not s.appeal_reminded and s.appeal_remind_at and s.appeal_remind_at <= now:
                await self._remind()
                continue
            if s.appeal_id is not None and not s.appeal_escalated and s.appeal_due_at and s.appeal_due_at <= now:
                await self._escalate()
                continue
            if s.status == "suspended" and s.suspended_until and s.suspended_until <= now:
                await self._maintenance_over()
                continue
            if workflow.info().get_current_history_length() > HISTORY_LIMIT and not self._inbox:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._inbox:
                    workflow.continue_as_new(s.model_copy(update={"continued": True}))
            wake = self._next_wake()
            timeout = (wake - now) if wake else None
            try:
                await workflow.wait_condition(lambda: bool(self._inbox), timeout=timeout)
            except TimeoutError:
                pass

    @workflow.signal(name=contract.ACCOUNT_EVENT)
    def account_event(self, event: AccountEvent) -> None:
        if event.change_id not in self._s.seen_change_ids and all(e.change_id != event.change_id for e in self._inbox):
            self._inbox.append(event)

    @workflow.query(name=contract.ACCOUNT_VIEW)
    def view(self) -> AccountView:
        s = self._s
        return AccountView(agent_id=s.agent_id, status=s.status, appeal_id=s.appeal_id, appeal_due_at=s.appeal_due_at,
                           appeal_reminded=s.appeal_reminded, appeal_escalated=s.appeal_escalated,
                           suspended_until=s.suspended_until, events_seen=len(s.seen_change_ids))

    def _next_wake(self) -> datetime | None:
        s = self._s
        times = []
        if s.appeal_id is not None and not s.appeal_reminded and s.appeal_remind_at:
            times.append(s.appeal_remind_at)
        if s.appeal_id is not None and not s.appeal_escalated and s.appeal_due_at:
            times.append(s.appeal_due_at)
        if s.status == "suspended" and s.suspended_until:
            times.append(s.suspended_until)
        return min(times) if times else None

    async def _apply(self, ev: AccountEvent) -> None:
        s = self._s
        s.seen_change_ids = [*s.seen_change_ids, ev.change_id][-500:]  # a resend is recognised within the last 500
        if ev.action == "suspend":
            s.status, s.suspended_until, s.suspension_change_id = "suspended", ev.suspended_until, ev.change_id
            self._close_appeal()
        elif ev.action == "appeal":
            s.appeal_id, s.appeal_remind_at, s.appeal_due_at = ev.appeal_id, ev.appeal_remind_at, ev.appeal_due_at
            s.appeal_reminded = s.appeal_escalated = False
        elif ev.action == "appeal_answered":
            self._close_appeal()
            if ev.outcome == "reinstated":
                self._active()
        elif ev.action == "reinstate":
            self._active()
        workflow.logger.info("account step", extra={"agent_id": s.agent_id, "action": ev.action, "change_id": ev.change_id})
        if ev.text:
            await self._notify(f"change-{ev.change_id}", ev.action, ev.text)

    def _active(self) -> None:
        s = self._s
        s.status, s.suspended_until, s.suspension_change_id = "active", None, None
        self._close_appeal()

    def _close_appeal(self) -> None:
        s = self._s
        s.appeal_id = s.appeal_remind_at = s.appeal_due_at = None
        s.appeal_reminded = s.appeal_escalated = False

    async def _remind(self) -> None:
        s = self._s
        s.appeal_reminded = True
        await self._step("appeal_reminder", f"appeal {s.appeal_id}: the admin's answer is due at "
                                            f"{s.appeal_due_at.isoformat() if s.appeal_due_at else '-'}; admins reminded")

    async def _escalate(self) -> None:
        s = self._s
        s.appeal_escalated = True
        due = s.appeal_due_at.isoformat() if s.appeal_due_at else "-"
        await self._step("appeal_escalated", f"appeal {s.appeal_id}: no answer by {due}; escalated to the platform's "
                                             "supervisors")
        await self._notify(f"appeal-{s.appeal_id}-escalated", "appeal_escalated",
                           f"Your appeal {s.appeal_id} was not answered in time ({due}); it has been escalated and "
                           "will be answered with priority.")

    async def _maintenance_over(self) -> None:
        s = self._s
        change_id, s.suspended_until = s.suspension_change_id, None
        lifted = await workflow.execute_activity(
            contract.LIFT_MAINTENANCE_SUSPENSION,
            AccountStep(key=f"maintenance-over-{change_id}", agent_id=s.agent_id, action="reinstate",
                        suspension_change_id=change_id, reason="maintenance over: rights return by themselves"),
            result_type=AccountEvent, **ACTIVITY)
        if lifted.action == "reinstate":
            self._inbox.insert(0, lifted)

    async def _step(self, action: str, reason: str) -> None:
        s = self._s
        await workflow.execute_activity(
            contract.RECORD_ACCOUNT_STEP,
            AccountStep(key=f"appeal-{s.appeal_id}-{action}", agent_id=s.agent_id, action=action,
                        appeal_id=s.appeal_id, reason=reason),
            **ACTIVITY)

    async def _notify(self, key: str, kind: str, text: str) -> None:
        await workflow.execute_activity(contract.NOTIFY_AGENT, Notice(key=key, agent_id=self._s.agent_id, kind=kind,
                                                                       text=text), **ACTIVITY)

"""One announced platform maintenance window (workflow id `maintenance-<id>`; agent accounts 1.3, 2.4).

Announced ahead: every agent is told in the inbox at once. Ordering is refused between the start and the end by
the order placement itself (it reads the window's times, so a late worker never lets an order through); this
workflow records the window's progress (in progress, ended) and tells every agent when ordering resumes. An
admin may move the window or cancel it before it ends.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.agents import contract
    from workflows.agents.contract import MaintenanceChange, MaintenanceStart, MaintenanceState, Notice

ACTIVITY = dict(start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)))


@workflow.defn(name=contract.MAINTENANCE_WORKFLOW)
class MaintenanceWindowWorkflow:
    @workflow.init
    def __init__(self, start: MaintenanceStart) -> None:
        self._start = start.model_copy()
        self._changes: list[MaintenanceChange] = []
        self._state = "announced"

    @workflow.run
    async def run(self, start: MaintenanceStart) -> str:
        w = self._start
        await self._notify("announced", f"Platform maintenance from {w.starts_at.isoformat()} to {w.ends_at.isoformat()}: "
                                        f"ordering is paused during it. {w.message}")
        while True:
            if await self._take_changes():
                return self._state
            now = workflow.now()
            if self._state == "announced" and now >= w.starts_at:
                await self._set("in_progress")
                continue
            if self._state == "in_progress" and now >= w.ends_at:
                await self._set("ended")
                await self._notify("ended", f"Platform maintenance is over: ordering has resumed. {w.message}")
                return self._state
            wake = w.starts_at if self._state == "announced" else w.ends_at
            try:
                await workflow.wait_condition(lambda: bool(self._changes), timeout=max(wake - now, timedelta(0)))
            except TimeoutError:
                pass

    @workflow.signal(name=contract.MAINTENANCE_CHANGE)
    def change(self, change: MaintenanceChange) -> None:
        self._changes.append(change)

    @workflow.query(name="view")
    def view(self) -> MaintenanceState:
        return MaintenanceState(window_id=self._start.window_id, state=self._state)

    async def _take_changes(self) -> bool:
        """Apply an admin's changes; True when the window was cancelled."""
        w = self._start
        while self._changes:
            c = self._changes.pop(0)
            if c.cancelled:
                await self._set("cancelled")
                await self._notify("cancelled", "The announced platform maintenance is cancelled; ordering goes on.")
                return True
            w.starts_at, w.ends_at = c.starts_at or w.starts_at, c.ends_at or w.ends_at
            await self._notify(f"moved-{w.starts_at.isoformat()}-{w.ends_at.isoformat()}",
                               f"Platform maintenance moved: from {w.starts_at.isoformat()} to {w.ends_at.isoformat()}.")
        return False

    async def _set(self, state: str) -> None:
        self._state = state
        await workflow.execute_activity(contract.RECORD_MAINTENANCE_STATE,
                                        MaintenanceState(window_id=self._start.window_id, state=state), **ACTIVITY)

    async def _notify(self, step: str, text: str) -> None:
        await workflow.execute_activity(
            contract.NOTIFY_AGENT, Notice(key=f"maintenance-{self._start.window_id}-{step}", agent_id="",
                                          kind=f"maintenance_{step.split('-')[0]}", text=text), **ACTIVITY)

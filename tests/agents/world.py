"""Test doubles for the agents business's activities (account steps, the inbox, maintenance, suspension cases)."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from workflows.agents import contract
from workflows.agents.account import AgentAccountWorkflow
from workflows.agents.contract import AccountEvent, AccountStep, CaseRecord, MaintenanceState, Notice
from workflows.agents.maintenance import MaintenanceWindowWorkflow
from workflows.agents.suspension_case import SuspensionCaseWorkflow


@dataclass
class AgentsWorld:
    steps: dict[str, AccountStep] = field(default_factory=dict)
    step_times: dict[str, datetime] = field(default_factory=dict)
    notices: dict[str, Notice] = field(default_factory=dict)
    lifts: list[AccountStep] = field(default_factory=list)
    maintenance: list[MaintenanceState] = field(default_factory=list)
    cases: list[CaseRecord] = field(default_factory=list)
    case_times: list[datetime] = field(default_factory=list)
    lift_answer: str = "reinstate"  # or "none": the suspension was lifted otherwise first
    tq: str = field(default_factory=lambda: f"agents-{uuid.uuid4().hex[:8]}")
    handles: list = field(default_factory=list)

    def activities(self):
        @activity.defn(name=contract.RECORD_ACCOUNT_STEP)
        async def record_step(step: AccountStep) -> None:
            self.steps.setdefault(step.key, step)
            self.step_times.setdefault(step.key, activity.info().current_attempt_scheduled_time)

        @activity.defn(name=contract.LIFT_MAINTENANCE_SUSPENSION)
        async def lift(step: AccountStep) -> AccountEvent:
            self.lifts.append(step)
            return AccountEvent(change_id=9000 + len(self.lifts), agent_id=step.agent_id, action=self.lift_answer,
                                at=activity.info().current_attempt_scheduled_time, actor="platform",
                                text="Your account is active again (maintenance over)." if self.lift_answer != "none" else "")

        @activity.defn(name=contract.NOTIFY_AGENT)
        async def notify(notice: Notice) -> None:
            self.notices.setdefault(notice.key, notice)

        @activity.defn(name=contract.RECORD_MAINTENANCE_STATE)
        async def maintenance(state: MaintenanceState) -> None:
            self.maintenance.append(state)

        @activity.defn(name=contract.RECORD_SUSPENSION_CASE)
        async def case(rec: CaseRecord) -> None:
            self.cases.append(rec)
            self.case_times.append(activity.info().current_attempt_scheduled_time)

        return [record_step, lift, notify, maintenance, case]

    def worker(self, client: Client) -> Worker:
        return Worker(client, task_queue=self.tq,
                      workflows=[AgentAccountWorkflow, MaintenanceWindowWorkflow, SuspensionCaseWorkflow],
                      activities=self.activities(), activity_executor=ThreadPoolExecutor(4))

    async def terminate_open(self) -> None:
        for h in self.handles:
            try:
                await h.terminate(reason="test over")
            except Exception:  # noqa: BLE001 - already closed
                pass

    def case_events(self) -> list[str]:
        return [r.event for r in self.cases]

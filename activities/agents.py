"""Agent-account side effects: the timeline steps the account's clock takes, the end of a maintenance
suspension, the agents' inbox, a maintenance window's progress and the suspension cases' projection. Each is
idempotent by its key or its row id, so a retried activity writes once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.http import PeerRejected, PeerUnavailable
from db.agents import SuspensionCase
from gateways.agents import AgentWebhookGateway
from services import agents as svc
from workflows.agents import contract
from workflows.agents.contract import AccountEvent, AccountStep, CaseRecord, MaintenanceState, Notice

log = structlog.get_logger()


class AgentActivities:
    def __init__(self, engine: Engine, webhooks: AgentWebhookGateway | None = None) -> None:
        self.engine = engine
        self.webhooks = webhooks

    @activity.defn(name=contract.RECORD_ACCOUNT_STEP)
    def record_account_step(self, step: AccountStep) -> None:
        with Session(self.engine) as s:
            svc.record_step(s, step.agent_id, step.action, step.reason, step.key, step.appeal_id)
        log.info("account step recorded", agent_id=step.agent_id, action=step.action, appeal_id=step.appeal_id)

    @activity.defn(name=contract.LIFT_MAINTENANCE_SUSPENSION)
    def lift_maintenance_suspension(self, step: AccountStep) -> AccountEvent:
        with Session(self.engine) as s:
            change = svc.lift_maintenance(s, step.agent_id, step.suspension_change_id, step.key)
            if change is None:
                return AccountEvent(change_id=0, agent_id=step.agent_id, action="none", at=datetime.now(UTC),
                                    actor=svc.PLATFORM)
            event = svc.pending_events_of(s, step.agent_id, [int(change.id)])[0]  # type: ignore[arg-type]
        log.info("maintenance suspension lifted", agent_id=step.agent_id, change_id=event.change_id)
        return event

    @activity.defn(name=contract.NOTIFY_AGENT)
    async def notify_agent(self, notice: Notice) -> None:
        await deliver_notice(self.engine, self.webhooks, notice)

    @activity.defn(name=contract.RECORD_MAINTENANCE_STATE)
    def record_maintenance_state(self, state: MaintenanceState) -> None:
        with Session(self.engine) as s:
            svc.set_maintenance_state(s, state.window_id, state.state)
        log.info("maintenance window", window_id=state.window_id, state=state.state)

    @activity.defn(name=contract.RECORD_SUSPENSION_CASE)
    def record_suspension_case(self, rec: CaseRecord) -> None:
        c = rec.case
        with Session(self.engine) as s:
            row = s.get(SuspensionCase, c.case_id) or SuspensionCase(
                id=c.case_id, order_id=c.order_id, n=c.n, agent_id=c.agent_id, carrier=c.carrier,
                msisdn_masked=c.msisdn_masked, kind=c.kind.value, suspended_at=c.suspended_at,
                window_ends_at=c.window_ends_at, state=c.state.value)
            row.trigger = c.trigger.value if c.trigger else ""
            row.state = c.state.value
            row.overdue = row.overdue or rec.event == "overdue" or c.state.value == "overdue"
            row.restored_at, row.closed_at = c.restored_at, c.closed_at
            row.reminders, row.close_note = c.reminders, c.close_note
            row.updated_at = datetime.now(UTC)
            s.add(row)
            s.commit()
        log.info("suspension case", case_id=c.case_id, order_id=c.order_id, agent_id=c.agent_id, step=rec.event,
                 state=c.state.value)


async def deliver_notice(engine: Engine, webhooks: AgentWebhookGateway | None, notice: Notice) -> None:
    """Into the agent's inbox (once, by the notice's key), then to the agent's own system by its signed webhook
    where it has one. An unreachable webhook fails the activity, retried with the same key; a webhook that refuses
    the notice is logged and left to the inbox. The one way an agent is told anything (the order's delivery
    reminders come through here too)."""
    def inbox() -> None:
        with Session(engine) as s:
            svc.notify(s, notice.key, notice.agent_id, notice.kind, notice.text)

    await asyncio.to_thread(inbox)
    if webhooks is None:
        return
    unreachable = []
    for agent_id, url in webhooks.recipients(notice.agent_id).items():
        body = {"key": notice.key, "agent_id": agent_id, "kind": notice.kind, "text": notice.text}
        try:
            await webhooks.deliver(url, body)
            log.info("agent notice delivered by webhook", agent_id=agent_id, key=notice.key, kind=notice.kind)
        except PeerRejected as err:
            log.error("agent webhook refused the notice", agent_id=agent_id, key=notice.key, error=str(err))
        except PeerUnavailable as err:
            unreachable.append(f"{agent_id}: {err}")
    if unreachable:  # the delivered ones get it again with the same key: their receivers recognise it
        raise ApplicationError("agent webhook unreachable: " + "; ".join(unreachable), type="WebhookUnavailable")

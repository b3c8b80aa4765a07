"""The agents business's workflows on the time-skipping server: an appeal's two-day deadline, a maintenance
window and the recovery windows of number suspensions take milliseconds."""

import asyncio
import uuid
from datetime import timedelta

import pytest

from domain.agents.suspension_case import REMIND_EVERY, CaseState
from domain.orders.order import StatusCause, SuspensionMode
from tests.agents.world import AgentsWorld
from workflows.agents.account import AgentAccountWorkflow
from workflows.agents.contract import (
    AccountEvent,
    AccountStart,
    CaseOrderDecided,
    CaseRestored,
    CaseStart,
    MaintenanceChange,
    MaintenanceStart,
    account_workflow_id,
    maintenance_workflow_id,
    suspension_case_workflow_id,
)
from workflows.agents.maintenance import MaintenanceWindowWorkflow
from workflows.agents.suspension_case import SuspensionCaseWorkflow


@pytest.fixture
async def world():
    w = AgentsWorld()
    yield w
    await w.terminate_open()


async def until(predicate, what: str, attempts: int = 200):
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached: {what}")


async def account(env, world, agent_id: str):
    h = await env.client.start_workflow(AgentAccountWorkflow.run, AccountStart(agent_id=agent_id),
                                        id=account_workflow_id(agent_id), task_queue=world.tq)
    world.handles.append(h)
    return h


def event(change_id: int, agent_id: str, action: str, at, **kw) -> AccountEvent:
    return AccountEvent(change_id=change_id, agent_id=agent_id, action=action, at=at, actor=kw.pop("actor", "admin:wang"),
                        text=kw.pop("text", f"{action} {change_id}"), **kw)


async def test_appeal_answered_in_time_is_neither_reminded_nor_escalated(own_time_env, world):
    env = own_time_env
    agent = f"A-{uuid.uuid4().hex[:6]}"
    async with world.worker(env.client):
        now = await env.get_current_time()
        h = await account(env, world, agent)
        await h.signal(AgentAccountWorkflow.account_event, event(1, agent, "suspend", now, category="violation",
                                                                 violation_kind="fake_orders"))
        await h.signal(AgentAccountWorkflow.account_event, event(2, agent, "appeal", now, appeal_id=7,
                                                                 appeal_remind_at=now + timedelta(hours=24),
                                                                 appeal_due_at=now + timedelta(hours=48)))
        await until(lambda: "change-2" in world.notices, "the appeal notice")
        view = await h.query(AgentAccountWorkflow.view)
        assert (view.status, view.appeal_id) == ("suspended", 7)
        await env.sleep(timedelta(hours=10))
        await h.signal(AgentAccountWorkflow.account_event, event(3, agent, "appeal_answered", now, appeal_id=7,
                                                                 outcome="upheld", text="upheld: the orders were fake"))
        await h.signal(AgentAccountWorkflow.account_event, event(3, agent, "appeal_answered", now, appeal_id=7,
                                                                 outcome="upheld"))  # a resend: recognised
        await until(lambda: "change-3" in world.notices, "the answer notice")
        await env.sleep(timedelta(days=3))
        view = await h.query(AgentAccountWorkflow.view)
        assert (view.status, view.appeal_id, view.events_seen) == ("suspended", None, 3)
        assert world.steps == {}  # no reminder, no escalation
        assert list(world.notices) == ["change-1", "change-2", "change-3"]
        assert world.notices["change-3"].text == "upheld: the orders were fake"


async def test_late_appeal_is_reminded_then_escalated_and_the_agent_told(own_time_env, world):
    env = own_time_env
    agent = f"A-{uuid.uuid4().hex[:6]}"
    async with world.worker(env.client):
        now = await env.get_current_time()
        h = await account(env, world, agent)
        await h.signal(AgentAccountWorkflow.account_event, event(1, agent, "suspend", now, category="other"))
        remind, due = now + timedelta(hours=24), now + timedelta(hours=48)
        await h.signal(AgentAccountWorkflow.account_event, event(2, agent, "appeal", now, appeal_id=7,
                                                                 appeal_remind_at=remind, appeal_due_at=due))
        await until(lambda: "change-2" in world.notices, "the appeal notice")
        await env.sleep(timedelta(hours=30))
        await until(lambda: "appeal-7-appeal_reminder" in world.steps, "the reminder")
        assert "appeal-7-appeal_escalated" not in world.steps
        assert world.step_times["appeal-7-appeal_reminder"] >= remind
        await env.sleep(timedelta(hours=20))
        await until(lambda: "appeal-7-appeal_escalated" in world.steps, "the escalation")
        assert world.step_times["appeal-7-appeal_escalated"] >= due
        assert "appeal-7-escalated" in world.notices and "escalated" in world.notices["appeal-7-escalated"].text
        view = await h.query(AgentAccountWorkflow.view)
        assert view.appeal_reminded and view.appeal_escalated
        # answered late, then reinstated: the clocks stop
        await h.signal(AgentAccountWorkflow.account_event, event(3, agent, "appeal_answered", now, appeal_id=7,
                                                                 outcome="reinstated"))
        await until(lambda: "change-3" in world.notices, "the answer")
        assert (await h.query(AgentAccountWorkflow.view)).status == "active"


async def test_maintenance_suspension_lifts_itself_at_its_end(own_time_env, world):
    env = own_time_env
    agent = f"A-{uuid.uuid4().hex[:6]}"
    async with world.worker(env.client):
        now = await env.get_current_time()
        h = await account(env, world, agent)
        await h.signal(AgentAccountWorkflow.account_event, event(1, agent, "suspend", now, category="maintenance",
                                                                 suspended_until=now + timedelta(hours=6)))
        await until(lambda: "change-1" in world.notices, "the suspension notice")
        assert world.lifts == []
        await env.sleep(timedelta(hours=7))
        await until(lambda: len(world.lifts) == 1, "the lift")
        assert world.lifts[0].suspension_change_id == 1 and world.lifts[0].key == "maintenance-over-1"
        await until(lambda: "change-9001" in world.notices, "the reinstatement notice")
        view = await h.query(AgentAccountWorkflow.view)
        assert (view.status, view.suspended_until) == ("active", None)


async def test_arrears_paid_reinstatement_closes_the_open_appeal(own_time_env, world):
    """Finance's payment reinstates in the database; the account hears of it and drops the appeal's clocks."""
    env = own_time_env
    agent = f"A-{uuid.uuid4().hex[:6]}"
    async with world.worker(env.client):
        now = await env.get_current_time()
        h = await account(env, world, agent)
        await h.signal(AgentAccountWorkflow.account_event, event(1, agent, "suspend", now, category="arrears"))
        await h.signal(AgentAccountWorkflow.account_event, event(2, agent, "appeal", now, appeal_id=3,
                                                                 appeal_remind_at=now + timedelta(hours=24),
                                                                 appeal_due_at=now + timedelta(hours=48)))
        await h.signal(AgentAccountWorkflow.account_event, event(3, agent, "arrears_paid", now, actor="finance:zhou"))
        await h.signal(AgentAccountWorkflow.account_event, event(4, agent, "reinstate", now))
        await until(lambda: "change-4" in world.notices, "the reinstatement")
        await env.sleep(timedelta(days=3))
        view = await h.query(AgentAccountWorkflow.view)
        assert (view.status, view.appeal_id) == ("active", None)
        assert world.steps == {}


async def test_maintenance_window_announced_runs_and_ends_by_itself(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client):
        now = await env.get_current_time()
        start = MaintenanceStart(window_id=11, starts_at=now + timedelta(hours=2), ends_at=now + timedelta(hours=4),
                                 message="database upgrade")
        h = await env.client.start_workflow(MaintenanceWindowWorkflow.run, start, id=maintenance_workflow_id(11),
                                            task_queue=world.tq)
        world.handles.append(h)
        await until(lambda: "maintenance-11-announced" in world.notices, "the announcement")
        assert world.notices["maintenance-11-announced"].agent_id == ""  # every agent
        assert world.maintenance == []
        await env.sleep(timedelta(hours=3))
        await until(lambda: [m.state for m in world.maintenance] == ["in_progress"], "in progress")
        assert await h.result() == "ended"
        assert [m.state for m in world.maintenance] == ["in_progress", "ended"]
        assert "ordering has resumed" in world.notices["maintenance-11-ended"].text


async def test_maintenance_window_cancelled_before_it_starts(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client):
        now = await env.get_current_time()
        start = MaintenanceStart(window_id=12, starts_at=now + timedelta(hours=5), ends_at=now + timedelta(hours=6),
                                 message="network change")
        h = await env.client.start_workflow(MaintenanceWindowWorkflow.run, start, id=maintenance_workflow_id(12),
                                            task_queue=world.tq)
        await h.signal(MaintenanceWindowWorkflow.change, MaintenanceChange(ends_at=now + timedelta(hours=8), actor="a"))
        await h.signal(MaintenanceWindowWorkflow.change, MaintenanceChange(cancelled=True, actor="a"))
        assert await h.result() == "cancelled"
        assert [m.state for m in world.maintenance] == ["cancelled"]
        assert {"maintenance-12-announced", "maintenance-12-cancelled"} <= set(world.notices)


async def case(env, world, mode, suspended_at, cause=None):
    order = f"O{uuid.uuid4().hex[:6]}"
    start = CaseStart(order_id=order, n=1, agent_id="A1", carrier="china_mobile", msisdn_masked="138****8000",
                      mode=mode, cause=cause, suspended_at=suspended_at)
    h = await env.client.start_workflow(SuspensionCaseWorkflow.run, start,
                                        id=suspension_case_workflow_id(order, 1), task_queue=world.tq)
    world.handles.append(h)
    return h


WINDOWS = [(SuspensionMode.ONE_WAY, 24), (SuspensionMode.TWO_WAY, 24), (SuspensionMode.CARRIER, 24),
           (SuspensionMode.RISK_CONTROL, 48)]


@pytest.mark.parametrize(("mode", "hours"), WINDOWS, ids=[m.value for m, _ in WINDOWS])
async def test_each_kind_restored_within_its_window(own_time_env, world, mode, hours):
    env = own_time_env
    async with world.worker(env.client):
        now = await env.get_current_time()
        h = await case(env, world, mode, now)
        await until(lambda: world.case_events() == ["opened"], "opened")
        opened = world.cases[0].case
        assert opened.window_ends_at == now + timedelta(hours=hours) and opened.kind == mode
        await env.sleep(timedelta(hours=hours - 1))
        await h.signal(SuspensionCaseWorkflow.restored, CaseRestored(event_id="e9", restored_at=now + timedelta(hours=hours - 1)))
        result = await h.result()
        assert result.state == CaseState.RESTORED and result.restored_in_window is True
        assert "overdue" not in world.case_events()
        assert world.case_events()[-1] == "restored"
        reminders = world.case_events().count("reminded")
        assert reminders == (hours - 1) // int(REMIND_EVERY.total_seconds() // 3600)


@pytest.mark.parametrize(("mode", "hours"), WINDOWS, ids=[m.value for m, _ in WINDOWS])
async def test_each_kind_flagged_overdue_when_its_window_passes(own_time_env, world, mode, hours):
    env = own_time_env
    async with world.worker(env.client):
        now = await env.get_current_time()
        h = await case(env, world, mode, now)
        await until(lambda: world.case_events() == ["opened"], "opened")
        await env.sleep(timedelta(hours=hours - 2))
        assert "overdue" not in world.case_events()
        await env.sleep(timedelta(hours=3))
        await until(lambda: "overdue" in world.case_events(), "overdue")
        at = world.case_times[world.case_events().index("overdue")]
        assert at >= now + timedelta(hours=hours)
        key = next(k for k in world.notices if k.endswith("-overdue"))
        assert "past its recovery window" in world.notices[key].text and world.notices[key].agent_id == "A1"
        await h.signal(SuspensionCaseWorkflow.restored, CaseRestored(event_id="e9", restored_at=now + timedelta(hours=hours + 1)))
        result = await h.result()
        assert result.state == CaseState.RESTORED and result.restored_in_window is False


async def test_case_closed_by_the_order_and_identity_trigger(own_time_env, world):
    env = own_time_env
    async with world.worker(env.client):
        now = await env.get_current_time()
        h = await case(env, world, SuspensionMode.RISK_CONTROL, now, cause=StatusCause.IDENTITY)
        await until(lambda: world.case_events() == ["opened"], "opened")
        assert world.cases[0].case.trigger == "identity"
        await h.signal(SuspensionCaseWorkflow.order_decided, CaseOrderDecided(order_status="failed", note="suspended_risk_control"))
        result = await h.result()
        assert result.state == CaseState.CLOSED_BY_ORDER and "failed" in result.close_note

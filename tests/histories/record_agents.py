"""Record the agents business's histories for the replay tests: `python -m tests.histories.record_agents`.

Keep old files when a workflow version ships: every recorded history must replay against the current code (a
behaviour change goes behind `workflow.patched`). Also records an order that opened suspension cases (the
"suspension-cases" patch of the order workflow).
"""

import asyncio
import uuid
from datetime import timedelta

from domain.orders.order import InNetworkAnswer, SuspensionMode
from tests.agents.world import AgentsWorld
from tests.histories.record import write_histories
from tests.orders.world import FakeWorld, Script, new_order
from tests.temporal_env import start_time_skipping
from workflows.agents.account import AgentAccountWorkflow
from workflows.agents.contract import (
    AccountEvent,
    AccountStart,
    CaseOrderDecided,
    CaseRestored,
    CaseStart,
    MaintenanceStart,
)
from workflows.agents.maintenance import MaintenanceWindowWorkflow
from workflows.agents.suspension_case import SuspensionCaseWorkflow
from workflows.orders.contract import order_workflow_id
from workflows.orders.order import OrderSettlementWorkflow


def _ev(change_id, action, at, **kw) -> AccountEvent:
    return AccountEvent(change_id=change_id, agent_id="A-REC", action=action, at=at, actor="admin:wang",
                        text=f"{action} {change_id}", **kw)


async def histories(env) -> dict[str, object]:
    """Each scenario's history as the server keeps it (payloads as stored: encrypted)."""
    world = AgentsWorld()
    out: dict[str, object] = {}
    uid = uuid.uuid4().hex[:6]
    async with world.worker(env.client):
        now = await env.get_current_time()
        # suspended for a violation, appeal reminded then escalated, answered late: reinstated
        h = await env.client.start_workflow(AgentAccountWorkflow.run, AccountStart(agent_id="A-REC"),
                                            id=f"agent-A-REC-{uid}", task_queue=world.tq)
        await h.signal(AgentAccountWorkflow.account_event, _ev(1, "suspend", now, category="violation",
                                                               violation_kind="fake_orders"))
        await h.signal(AgentAccountWorkflow.account_event, _ev(2, "appeal", now, appeal_id=1,
                                                               appeal_remind_at=now + timedelta(hours=24),
                                                               appeal_due_at=now + timedelta(hours=48)))
        await env.sleep(timedelta(hours=50))
        await h.signal(AgentAccountWorkflow.account_event, _ev(3, "appeal_answered", now, appeal_id=1, outcome="reinstated"))
        await h.signal(AgentAccountWorkflow.account_event, _ev(4, "reinstate", now))
        await env.sleep(timedelta(hours=1))
        await h.terminate("recorded")
        out["agent_account_appeal_escalated"] = (await h.fetch_history()).to_json_dict()

        # a maintenance suspension that lifts itself
        now = await env.get_current_time()
        h = await env.client.start_workflow(AgentAccountWorkflow.run, AccountStart(agent_id="A-REC2"),
                                            id=f"agent-A-REC2-{uid}", task_queue=world.tq)
        await h.signal(AgentAccountWorkflow.account_event, _ev(1, "suspend", now, category="maintenance",
                                                               suspended_until=now + timedelta(hours=3)))
        await env.sleep(timedelta(hours=4))
        await h.terminate("recorded")
        out["agent_account_maintenance_lifted"] = (await h.fetch_history()).to_json_dict()

        # a maintenance window announced, in progress, ended
        now = await env.get_current_time()
        h = await env.client.start_workflow(
            MaintenanceWindowWorkflow.run, MaintenanceStart(window_id=1, starts_at=now + timedelta(hours=1),
                                                            ends_at=now + timedelta(hours=3), message="upgrade"),
            id=f"maintenance-1-{uid}", task_queue=world.tq)
        await h.result()
        out["maintenance_window_ended"] = (await h.fetch_history()).to_json_dict()

        # a one-way suspension restored in time; a risk-control hold overdue, then closed by its order
        now = await env.get_current_time()
        h = await env.client.start_workflow(SuspensionCaseWorkflow.run, CaseStart(
            order_id="OREC1", n=1, agent_id="A-REC", carrier="china_mobile", msisdn_masked="138****8000",
            mode=SuspensionMode.ONE_WAY, suspended_at=now), id=f"suspension-OREC1-1-{uid}", task_queue=world.tq)
        await env.sleep(timedelta(hours=10))
        await h.signal(SuspensionCaseWorkflow.restored, CaseRestored(event_id="e1", restored_at=now + timedelta(hours=10)))
        await h.result()
        out["suspension_case_restored"] = (await h.fetch_history()).to_json_dict()

        h = await env.client.start_workflow(SuspensionCaseWorkflow.run, CaseStart(
            order_id="OREC2", n=1, agent_id="A-REC", carrier="china_unicom", msisdn_masked="186****0000",
            mode=SuspensionMode.RISK_CONTROL, suspended_at=now), id=f"suspension-OREC2-1-{uid}", task_queue=world.tq)
        await env.sleep(timedelta(hours=60))
        await h.signal(SuspensionCaseWorkflow.order_decided, CaseOrderDecided(order_status="failed"))
        await h.result()
        out["suspension_case_overdue_closed_by_order"] = (await h.fetch_history()).to_json_dict()

    orders = FakeWorld()
    orders.tq = f"orders-{uid}"
    async with orders.worker(env.client, orders.tq):
        now = await env.get_current_time()
        order = new_order(now)
        h = await env.client.start_workflow(OrderSettlementWorkflow.run, order, id=order_workflow_id(order.order_id),
                                            task_queue=orders.tq)
        script = Script(order.order_id, now)
        for ev in [*script.happy(), script.ev("suspended", timedelta(days=10), mode="one_way"),
                   script.ev("restored", timedelta(days=10, hours=3)),
                   script.ev("suspended", timedelta(days=20), mode="risk_control")]:
            await h.signal(OrderSettlementWorkflow.carrier_event, ev)
        orders.answers[order.order_id] = InNetworkAnswer(in_network=False, asked_at=now, mode="risk_control")
        await h.result()
        out["order_suspension_cases"] = (await h.fetch_history()).to_json_dict()
    return out


async def record() -> None:
    env = await start_time_skipping()
    try:
        write_histories(await histories(env), "v2")  # v2: every payload encrypted (core.crypto); v1 recorded in clear, kept
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

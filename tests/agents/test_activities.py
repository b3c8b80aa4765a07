"""The agents business's activities against the database: each writes once however often it is retried."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError

from activities.agents import AgentActivities
from core.signing import verify
from db.agents import Agent, AgentNotice, AgentStatus, AgentStatusChange, Appeal, MaintenanceWindow, SuspensionCase
from domain.agents.account import SuspensionCategory, ViolationKind
from domain.agents.suspension_case import CaseState, open_case
from domain.orders.order import SuspensionMode
from gateways.agents import AgentWebhookGateway
from services import agents as svc
from tests.fixtures_db import AGENT
from workflows.agents.contract import AccountStep, CaseRecord, MaintenanceState, Notice


def test_a_maintenance_suspension_lifts_once_and_only_its_own(seeded):
    acts = AgentActivities(seeded)
    with Session(seeded) as s:
        r = svc.suspend(s, AGENT, "network move", "ops:li", category=SuspensionCategory.MAINTENANCE,
                        until=datetime.now(UTC) + timedelta(hours=1))
        change_id = r.change.id
    step = AccountStep(key=f"maintenance-over-{change_id}", agent_id=AGENT, action="reinstate",
                       suspension_change_id=change_id, reason="over")
    first = acts.lift_maintenance_suspension(step)
    again = acts.lift_maintenance_suspension(step)
    assert first.action == "reinstate" and again.change_id == first.change_id
    with Session(seeded) as s:
        assert s.get(Agent, AGENT).status == AgentStatus.ACTIVE
        assert [c.action for c in s.exec(select(AgentStatusChange)).all()] == ["suspend", "reinstate"]
        # suspended again for something else: the old maintenance end lifts nothing
        svc.suspend(s, AGENT, "fake orders", "ops:li", category=SuspensionCategory.VIOLATION, violation_kind=ViolationKind.FAKE_ORDERS)
    stale = acts.lift_maintenance_suspension(step.model_copy(update={"key": "other-key"}))
    assert stale.action == "none"
    with Session(seeded) as s:
        assert s.get(Agent, AGENT).status == AgentStatus.SUSPENDED


async def test_reminder_escalation_and_notices_are_written_once(seeded):
    acts = AgentActivities(seeded)
    with Session(seeded) as s:
        svc.suspend(s, AGENT, "r", "ops:li")
        appeal_id = svc.appeal(s, AGENT, "statement", "agent:A001").appeal.id
    for _ in range(2):
        acts.record_account_step(AccountStep(key=f"appeal-{appeal_id}-appeal_escalated", agent_id=AGENT,
                                             action="appeal_escalated", appeal_id=appeal_id, reason="late"))
        await acts.notify_agent(Notice(key="n1", agent_id=AGENT, kind="appeal_escalated", text="late"))
    with Session(seeded) as s:
        assert [c.action for c in s.exec(select(AgentStatusChange)).all()].count("appeal_escalated") == 1
        assert s.get(Appeal, appeal_id).escalated_at is not None
        assert len(s.exec(select(AgentNotice)).all()) == 1


def test_case_projection_and_maintenance_state(seeded):
    acts = AgentActivities(seeded)
    now = datetime.now(UTC)
    case = open_case("O1-1", "O1", 1, AGENT, "china_mobile", "138****5678", SuspensionMode.TWO_WAY, None, now)
    acts.record_suspension_case(CaseRecord(case=case, event="opened"))
    case.state = CaseState.OVERDUE
    acts.record_suspension_case(CaseRecord(case=case, event="overdue"))
    case.state, case.restored_at = CaseState.RESTORED, now + timedelta(hours=30)
    acts.record_suspension_case(CaseRecord(case=case, event="restored"))
    with Session(seeded) as s:
        row = s.get(SuspensionCase, "O1-1")
        assert (row.state, row.overdue, row.window_ends_at) == ("restored", True, now + timedelta(hours=24))
        w = MaintenanceWindow(starts_at=now, ends_at=now + timedelta(hours=1), message="m", announced_by="a")
        s.add(w)
        s.commit()
        wid = w.id
    acts.record_maintenance_state(MaintenanceState(window_id=wid, state="in_progress"))
    with Session(seeded) as s:
        assert s.get(MaintenanceWindow, wid).state == "in_progress"


def _agent_system(answer: int = 200):
    """An agent's own system: every signed POST it receives, checked against the agent webhook key."""
    received: list[dict] = []

    def handle(request: httpx.Request) -> httpx.Response:
        signed = verify("agent-key", request.headers, request.content, request.method, request.url.raw_path.decode())
        received.append({"source": signed.source, **json.loads(request.content)})
        return httpx.Response(answer, json={"status": "received"})

    return received, httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_a_notice_reaches_the_agents_own_system_signed_and_a_broadcast_every_agent_with_a_webhook(seeded):
    received, client = _agent_system()
    hooks = AgentWebhookGateway({AGENT: "http://agent.example/notices", "A009": "http://other.example/n"}, "agent-key",
                                client=client)
    acts = AgentActivities(seeded, hooks)
    await acts.notify_agent(Notice(key="n1", agent_id=AGENT, kind="appeal_answered", text="reinstated"))
    await acts.notify_agent(Notice(key="n2", agent_id="A004", kind="suspended", text="no webhook: inbox only"))
    await acts.notify_agent(Notice(key="m1", agent_id="", kind="maintenance", text="tonight 01:00-03:00"))
    assert [(r["key"], r["agent_id"], r["source"]) for r in received] == [
        ("n1", AGENT, "simbo"), ("m1", AGENT, "simbo"), ("m1", "A009", "simbo")]
    with Session(seeded) as s:
        assert {n.key for n in s.exec(select(AgentNotice)).all()} == {"n1", "n2", "m1"}  # the inbox has them all


async def test_an_unreachable_agent_system_retries_the_activity_and_a_refusal_leaves_the_inbox(seeded):
    _, down = _agent_system(answer=503)
    with pytest.raises(ApplicationError, match="unreachable"):
        await AgentActivities(seeded, AgentWebhookGateway({AGENT: "http://agent.example/n"}, "agent-key",
                                                          client=down)).notify_agent(
            Notice(key="n1", agent_id=AGENT, kind="suspended", text="x"))
    _, refusing = _agent_system(answer=422)
    await AgentActivities(seeded, AgentWebhookGateway({AGENT: "http://agent.example/n"}, "agent-key",
                                                      client=refusing)).notify_agent(
        Notice(key="n1", agent_id=AGENT, kind="suspended", text="x"))
    with Session(seeded) as s:
        assert [n.key for n in s.exec(select(AgentNotice)).all()] == ["n1"]  # once, whatever the webhook did

"""The agents business's activities against the database: each writes once however often it is retried."""

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from activities.agents import AgentActivities
from db.agents import Agent, AgentNotice, AgentStatus, AgentStatusChange, Appeal, MaintenanceWindow, SuspensionCase
from domain.agents.account import SuspensionCategory, ViolationKind
from domain.agents.suspension_case import CaseState, open_case
from domain.orders.order import SuspensionMode
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


def test_reminder_escalation_and_notices_are_written_once(seeded):
    acts = AgentActivities(seeded)
    with Session(seeded) as s:
        svc.suspend(s, AGENT, "r", "ops:li")
        appeal_id = svc.appeal(s, AGENT, "statement", "agent:A001").appeal.id
    for _ in range(2):
        acts.record_account_step(AccountStep(key=f"appeal-{appeal_id}-appeal_escalated", agent_id=AGENT,
                                             action="appeal_escalated", appeal_id=appeal_id, reason="late"))
        acts.notify_agent(Notice(key="n1", agent_id=AGENT, kind="appeal_escalated", text="late"))
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

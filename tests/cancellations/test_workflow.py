"""The cancellation workflow on the time-skipping server: 72 hours of cooling-off take milliseconds."""

import asyncio
from datetime import date, datetime, time, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.cancellations import (
    AccountFacts,
    ClearVia,
    ContractFact,
    DeviceFact,
    FamilyPlanFact,
    FollowUpOutcome,
    ObstacleKind,
    State,
    Step,
    ValueAddedFact,
)
from domain.clock import SHANGHAI
from tests.cancellations.world import CancellationWorld, new_case, start
from workflows.cancellations.cancellation import CancellationWorkflow
from workflows.cancellations.contract import (
    AppointmentRequest,
    ClearRequest,
    DocumentsRequest,
    FollowUpRequest,
    WithdrawRequest,
)

CLERK = DocumentsRequest(actor="clerk-wang")


@pytest.fixture
async def world():
    w = CancellationWorld()
    yield w
    await w.terminate_open()


async def _view(handle, predicate=lambda v: True, attempts=400):
    for _ in range(attempts):  # the workflow's own word, asked until it holds (its activities run meanwhile)
        v = await handle.query(CancellationWorkflow.view)
        if predicate(v):
            return v
        await asyncio.sleep(0.05)
    raise AssertionError(f"state never reached; last {v.case.state} waiting for {v.waiting_for}")


async def _refused(coro, kind: str) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await coro
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == kind, cause
    return cause.message


def _contract(ends_on: date) -> ContractFact:
    return ContractFact(contract_id="K1", name="128 plan with phone", subsidy_fen=120_000, term_months=24,
                        ends_on=ends_on)


OBSTACLES = {
    ObstacleKind.CONTRACT: lambda now: AccountFacts(contracts=[_contract(now.astimezone(SHANGHAI).date() + timedelta(days=100))]),
    ObstacleKind.BALANCE: lambda now: AccountFacts(balance_fen=4_650),
    ObstacleKind.DEVICE: lambda now: AccountFacts(devices=[DeviceFact(device_id="IMEI-1", name="contract phone")]),
    ObstacleKind.FAMILY_PLAN: lambda now: AccountFacts(family_plans=[FamilyPlanFact(plan_id="F1", name="family 3",
                                                                                    owner=False)]),
    ObstacleKind.VALUE_ADDED: lambda now: AccountFacts(value_added=[ValueAddedFact(service_id="V1", name="video member",
                                                                                   monthly_fee_fen=99)]),
}


async def test_eligible_at_once_cooling_off_then_cancelled_at_hour_72_and_follow_up(own_time_env, world):
    async with world.worker(own_time_env.client):
        now = await own_time_env.get_current_time()
        case = new_case(now)
        handle = await start(own_time_env.client, world, case)
        v = await _view(handle, lambda v: v.case.state == State.READY)
        assert v.todo == [] and v.waiting_for == ["the customer's confirmation"]
        v = await handle.execute_update(CancellationWorkflow.confirm, CLERK)
        assert v.case.state == State.COOLING_OFF
        confirmed = v.case.confirmed_at
        assert v.case.cooling_off_until == confirmed + timedelta(hours=72)
        await own_time_env.sleep(timedelta(hours=71, minutes=59))
        v = await _view(handle)
        assert v.case.state == State.COOLING_OFF and world.cancelled == []  # the number is still kept
        await own_time_env.sleep(timedelta(minutes=2))
        v = await _view(handle, lambda v: v.case.state == State.CANCELLED)
        assert world.cancelled_at[0] - confirmed >= timedelta(hours=72)
        assert v.case.follow_up_due == v.case.cancelled_at + timedelta(hours=48)
        await _refused(handle.execute_update(CancellationWorkflow.withdraw, WithdrawRequest(actor="clerk-wang")),
                       "WrongState")
        await own_time_env.sleep(timedelta(hours=47))
        await _view(handle)
        assert world.follow_ups == []
        await own_time_env.sleep(timedelta(hours=2))
        await _view(handle, lambda v: world.follow_ups != [])
        v = await handle.execute_update(CancellationWorkflow.record_follow_up, FollowUpRequest(
            actor="clerk-li", outcome=FollowUpOutcome.REACHED_PROBLEM, note="last bill unclear"))
        result = await handle.result()
        assert result.closed and result.follow_up_outcome == FollowUpOutcome.REACHED_PROBLEM
        steps = [e.step for e in world.progress_of(case.cancellation_id)]
        for step in (Step.APPLICATION, Step.DOCUMENT_REVIEW, Step.EARLY_TERMINATION, Step.CONFIRMATION,
                     Step.COOLING_OFF, Step.CANCELLATION, Step.FOLLOW_UP):
            assert step in steps
        assert all(e.by for e in world.progress_of(case.cancellation_id))
        assert "calls back first" in world.progress_of(case.cancellation_id)[-1].what


async def test_withdrawn_at_hour_71_keeps_the_number(own_time_env, world):
    async with world.worker(own_time_env.client):
        now = await own_time_env.get_current_time()
        case = new_case(now)
        handle = await start(own_time_env.client, world, case)
        await _view(handle, lambda v: v.case.state == State.READY)
        await handle.execute_update(CancellationWorkflow.confirm, CLERK)
        await own_time_env.sleep(timedelta(hours=71))
        v = await handle.execute_update(CancellationWorkflow.withdraw,
                                        WithdrawRequest(actor="self_service:app", reason="changed my mind"))
        assert v.case.state == State.WITHDRAWN
        result = await handle.result()
        assert result.state == State.WITHDRAWN and result.closed
        await own_time_env.sleep(timedelta(hours=2))
        assert world.cancelled == []


@pytest.mark.parametrize("kind", list(ObstacleKind))
async def test_each_obstacle_becomes_one_to_do_item_cleared_then_rechecked(own_time_env, world, kind):
    async with world.worker(own_time_env.client):
        now = await own_time_env.get_current_time()
        case = new_case(now)
        handle = await start(own_time_env.client, world, case, answers=[OBSTACLES[kind](now), AccountFacts()])
        v = await _view(handle, lambda v: v.case.state == State.TODO)
        [item] = v.todo
        assert item.kind == kind and item.reason and item.how_to_clear
        if kind in (ObstacleKind.CONTRACT, ObstacleKind.BALANCE):
            assert item.amount_fen and item.amount_fen > 0
        if kind == ObstacleKind.CONTRACT:
            assert "rounded half up" in item.explanation
        await _refused(handle.execute_update(CancellationWorkflow.confirm, CLERK), "NotEligible")
        if kind == ObstacleKind.DEVICE:  # returned at the counter: a clerk's evidence
            await _refused(handle.execute_update(CancellationWorkflow.clear_item, ClearRequest(
                actor="clerk-wang", item_id=item.item_id, via=ClearVia.EVIDENCE)), "EvidenceMissing")
            req = ClearRequest(actor="clerk-wang", item_id=item.item_id, via=ClearVia.EVIDENCE, evidence="IMEI-1 received")
        else:
            req = ClearRequest(actor="clerk-wang", item_id=item.item_id, via=ClearVia.CARRIER)
        await handle.execute_update(CancellationWorkflow.clear_item, req)
        v = await _view(handle, lambda v: v.case.state == State.READY)
        assert v.case.prechecks == 2 and not v.case.ineligible_again
        assert [c.item_id for c in world.cleared] == ([] if kind == ObstacleKind.DEVICE else [item.item_id])
        await _refused(handle.execute_update(CancellationWorkflow.clear_item, req), "WrongState")


async def test_recheck_finds_a_new_obstacle_and_says_so(own_time_env, world):
    async with world.worker(own_time_env.client):
        now = await own_time_env.get_current_time()
        case = new_case(now)
        first = OBSTACLES[ObstacleKind.VALUE_ADDED](now)
        handle = await start(own_time_env.client, world, case, answers=[first, AccountFacts(balance_fen=99), AccountFacts()])
        v = await _view(handle, lambda v: v.case.state == State.TODO)
        await handle.execute_update(CancellationWorkflow.clear_item, ClearRequest(
            actor="clerk-wang", item_id=v.todo[0].item_id, via=ClearVia.CARRIER))
        v = await _view(handle, lambda v: v.case.prechecks == 2)
        assert v.case.state == State.TODO and v.case.ineligible_again
        assert [o.kind for o in v.todo] == [ObstacleKind.BALANCE]
        assert any("ineligible again" in e.what for e in v.case.progress)
        await handle.execute_update(CancellationWorkflow.clear_item, ClearRequest(
            actor="clerk-wang", item_id=v.todo[0].item_id, via=ClearVia.EVIDENCE, evidence="receipt R-77"))
        v = await _view(handle, lambda v: v.case.state == State.READY)
        assert v.case.prechecks == 3 and len(v.case.obstacles) == 2


async def test_carrier_refusing_to_clear_is_recorded_and_the_item_stays(own_time_env, world):
    async with world.worker(own_time_env.client):
        now = await own_time_env.get_current_time()
        case = new_case(now)
        world.clear_refused["family_plan:F1"] = "members still on the plan"
        handle = await start(own_time_env.client, world, case, answers=[OBSTACLES[ObstacleKind.FAMILY_PLAN](now)])
        v = await _view(handle, lambda v: v.case.state == State.TODO)
        reason = await _refused(handle.execute_update(CancellationWorkflow.clear_item, ClearRequest(
            actor="clerk-wang", item_id=v.todo[0].item_id, via=ClearVia.CARRIER)), "CarrierRefused")
        assert "members" in reason
        v = await _view(handle)
        assert len(v.todo) == 1 and any("refused by the carrier" in e.what for e in v.case.progress)


def _next_local(now: datetime, at: time) -> datetime:
    local = now.astimezone(SHANGHAI)
    return datetime.combine(local.date(), at, tzinfo=SHANGHAI) + timedelta(days=1)


async def test_appointment_reminder_3_days_before_waits_for_7_am(own_time_env, world):
    async with world.worker(own_time_env.client):
        now = await own_time_env.get_current_time()
        appointment_at = _next_local(now, time(6, 30)) + timedelta(days=5)  # 3 days before is 06:30: quiet hours
        case = new_case(now, documents_checked=False)
        handle = await start(own_time_env.client, world, case)
        await _view(handle, lambda v: v.case.state == State.READY)
        await _refused(handle.execute_update(CancellationWorkflow.confirm, CLERK), "DocumentsNotReviewed")
        v = await handle.execute_update(CancellationWorkflow.book_appointment, AppointmentRequest(
            actor="self_service:app", at=appointment_at, hall="Xuhui service hall"))
        seven = datetime.combine((appointment_at - timedelta(days=3)).astimezone(SHANGHAI).date(), time(7), tzinfo=SHANGHAI)
        assert v.case.appointment.reminder_at == seven
        await own_time_env.sleep(seven - now - timedelta(minutes=5))
        await _view(handle)
        assert world.sms == []
        await own_time_env.sleep(timedelta(minutes=10))
        await _view(handle, lambda v: v.case.appointment.reminder_sent_at is not None)
        [sms] = world.sms
        assert "身份证" in sms.text and "Xuhui" in sms.text
        assert timedelta(0) <= world.sms_at[0] - seven < timedelta(seconds=5)
        v = await handle.execute_update(CancellationWorkflow.review_documents, DocumentsRequest(
            actor="clerk-zhao", note="ID card original seen"))
        assert v.case.documents_reviewed_by == "clerk-zhao"


async def test_refused_cancellation_fails_and_own_stock_goes_to_quarantine(own_time_env, world):
    async with world.worker(own_time_env.client):
        now = await own_time_env.get_current_time()
        ours = new_case(now, from_own_stock=True)
        handle = await start(own_time_env.client, world, ours)
        await _view(handle, lambda v: v.case.state == State.READY)
        await handle.execute_update(CancellationWorkflow.confirm, CLERK)
        await own_time_env.sleep(timedelta(hours=73))
        await _view(handle, lambda v: v.case.state == State.CANCELLED)
        assert [q.cancellation_id for q in world.quarantined] == [ours.cancellation_id]

        world.cancel_refused = "number under a police hold"
        other = new_case(await own_time_env.get_current_time())
        handle = await start(own_time_env.client, world, other)
        await _view(handle, lambda v: v.case.state == State.READY)
        await handle.execute_update(CancellationWorkflow.confirm, CLERK)
        await own_time_env.sleep(timedelta(hours=73))
        result = await handle.result()
        assert result.state == State.FAILED and "police" in result.failure_reason


async def test_a_case_nobody_moves_lapses_after_30_days(own_time_env, world):
    async with world.worker(own_time_env.client):
        now = await own_time_env.get_current_time()
        handle = await start(own_time_env.client, world, new_case(now), answers=[AccountFacts(balance_fen=100)])
        await _view(handle, lambda v: v.case.state == State.TODO)
        await own_time_env.sleep(timedelta(days=30, minutes=1))
        result = await handle.result()
        assert result.state == State.FAILED and "lapsed" in result.failure_reason

"""The order workflow on the time-skipping server: a two-month wait takes milliseconds."""

import asyncio
import random
import uuid
from datetime import timedelta

import pytest

from core.crypto import fingerprint as msisdn_fingerprint
from domain.clock import settlement_check_point
from domain.orders.order import AuditResult, FailureReason, InNetworkAnswer, OrderStatus, Submission
from tests.orders.world import FakeWorld, Script, new_order
from workflows.orders.contract import order_workflow_id
from workflows.orders.order import OrderSettlementWorkflow


async def _start(env, world, order):
    return await env.client.start_workflow(
        OrderSettlementWorkflow.run, order, id=order_workflow_id(order.order_id), task_queue=world.tq
    )


async def _query_until(handle, predicate, attempts=300):
    """Poll the query until the workflow has caught up (a loaded machine may need a few seconds)."""
    for _ in range(attempts):
        view = await handle.query(OrderSettlementWorkflow.checklist)
        if predicate(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"state never reached; last: {view.verdict.status} waiting for {view.verdict.waiting_for}")


@pytest.fixture
def time_env(own_time_env):
    """Every order test on a server of its own: an order's wait skips months, and on the shared server a timer
    another test left behind (its task queue no longer polled) stops the clock, and `result()` waits forever."""
    return own_time_env


@pytest.fixture
def world():
    w = FakeWorld()
    w.tq = f"orders-{uuid.uuid4().hex[:8]}"
    return w


async def test_happy_path_across_the_two_month_wait(own_time_env, world):
    time_env = own_time_env
    async with world.worker(time_env.client, world.tq):
        now = await time_env.get_current_time()
        order = new_order(now)
        handle = await _start(time_env, world, order)
        script = Script(order.order_id, now)
        events = script.happy(recharge_fen=6000)
        for ev in events:
            await handle.signal(OrderSettlementWorkflow.carrier_event, ev)

        view = await _query_until(handle, lambda v: v.verdict.status == OrderStatus.AWAITING_CHECK_POINT)
        activated_at = events[2].occurred_at
        assert view.verdict.until == settlement_check_point(activated_at)
        assert [i.state for i in view.verdict.checklist] == ["met", "met", "met", "met", "pending"]
        assert view.verdict.checklist[3].at == events[3].occurred_at
        assert world.asked == []  # nobody asks the carrier before the check point

        await time_env.sleep(timedelta(days=70))
        view = await _query_until(handle, lambda v: v.verdict.status == OrderStatus.AWAITING_AUDIT)
        assert world.asked == [order.order_id]
        assert view.verdict.checklist[4].state == "met"

        await handle.signal(OrderSettlementWorkflow.audit_result,
                            AuditResult(approved=True, month=view.verdict.settlement_month, commission_fen=12000))
        verdict = await handle.result()
    assert verdict.status == OrderStatus.SETTLED
    statuses = [p.verdict.status for p in world.progress]
    # "placed" is written by the API when it starts the workflow; the workflow does not publish it again
    assert OrderStatus.PLACED not in statuses and statuses[-1] == OrderStatus.SETTLED
    assert OrderStatus.AWAITING_AUDIT in statuses
    assert world.progress[-1].commission_fen == 12000


def _d(days=0, hours=0):
    return timedelta(days=days, hours=hours)


# Each case: how the order's life goes, the carrier's answer at the check point, the audit, the one reason.
def _case_events(s: Script, case: str):
    fp = msisdn_fingerprint("13800138000")
    shipped = s.ev("shipped", _d(hours=1), tracking_no="SF1")
    signed = s.ev("delivery", _d(2), delivery_status="signed")
    act = s.ev("activated", _d(3))
    rech = s.ev("recharged", _d(4), amount_fen=5000, to_msisdn_fingerprint=fp)
    base = [shipped, signed, act, rech]
    return {
        "order_cancelled": [s.ev("order_cancelled", _d(hours=2))],
        "delivery_failed": [shipped, s.ev("delivery", _d(3), delivery_status="returned")],
        "activation_timeout": [shipped, signed],
        "activation_late": [shipped, signed, s.ev("activated", _d(2 + 16))],
        "activation_remote_rejected": [shipped, signed, s.ev("activation_failed", _d(3), reason="remote_rejected")],
        "identity_verification_failed": [shipped, signed, s.ev("activation_failed", _d(3), reason="identity_failed")],
        "activation_technical_failure": [shipped, signed, s.ev("activation_failed", _d(3), reason="technical_failure")],
        "recharge_missing": [shipped, signed, act],
        "recharge_late": [shipped, signed, act, s.ev("recharged", _d(3 + 31), amount_fen=5000, to_msisdn_fingerprint=fp)],
        "recharge_insufficient": [shipped, signed, act, s.ev("recharged", _d(4), amount_fen=4999, to_msisdn_fingerprint=fp)],
        "recharge_wrong_number": [shipped, signed, act,
                                  s.ev("recharged", _d(4), amount_fen=5000, to_msisdn_fingerprint=msisdn_fingerprint("13900000000"))],
        "suspended_after_recharge": [*base, s.ev("suspended", _d(5), mode="two_way", reason="other")],
        "cancelled_long_non_use": [*base, s.ev("cancelled", _d(40), reason="long_non_use")],
    }.get(case, base)


AT_CHECK_POINT = {
    "suspended_risk_control": InNetworkAnswer(in_network=False, asked_at="2030-01-01T00:00:00Z", mode="risk_control"),
    "suspended_arrears": InNetworkAnswer(in_network=False, asked_at="2030-01-01T00:00:00Z", mode="two_way", cause="arrears"),
    "restricted_violation": InNetworkAnswer(in_network=False, asked_at="2030-01-01T00:00:00Z", mode="one_way", cause="violation"),
    "suspended_by_carrier": InNetworkAnswer(in_network=False, asked_at="2030-01-01T00:00:00Z", mode="carrier", cause="identity"),
}
AUDIT_REJECTS = {
    "incomplete_order_data": FailureReason.INCOMPLETE_ORDER_DATA,
    "carrier_system_error": FailureReason.CARRIER_SYSTEM_ERROR,
    "policy_change": FailureReason.POLICY_CHANGE,
    "agent_violation": FailureReason.AGENT_VIOLATION,
}
# the carrier refuses the order at its submission (docs/fulfilment.md)
AT_SUBMISSION = {r: FailureReason(r) for r in ("real_name_check_failed", "outside_coverage", "number_unavailable",
                                               "carrier_refused")}
EXPECTED = {
    "activation_late": FailureReason.ACTIVATION_TIMEOUT,
}
CASES = [
    "order_cancelled", "delivery_failed", "activation_timeout", "activation_late", "activation_remote_rejected",
    "identity_verification_failed", "activation_technical_failure", "recharge_missing", "recharge_late",
    "recharge_insufficient", "recharge_wrong_number", "suspended_after_recharge", "cancelled_long_non_use",
    *AT_CHECK_POINT, *AUDIT_REJECTS, *AT_SUBMISSION,
]


def test_every_failure_reason_has_a_case():
    covered = {EXPECTED.get(c, c) for c in CASES}
    assert covered == {r.value for r in FailureReason} | set(EXPECTED.values())


@pytest.mark.parametrize("case", CASES)
async def test_each_failure_reason(time_env, world, case):
    async with world.worker(time_env.client, world.tq):
        now = await time_env.get_current_time()
        order = new_order(now)
        if case in AT_CHECK_POINT:
            world.answers[order.order_id] = AT_CHECK_POINT[case]
        if case in AT_SUBMISSION:
            world.submissions[order.order_id] = Submission(accepted=False, at=now, reason=AT_SUBMISSION[case])
        handle = await _start(time_env, world, order)
        for ev in ([] if case in AT_SUBMISSION else _case_events(Script(order.order_id, now), case)):
            await handle.signal(OrderSettlementWorkflow.carrier_event, ev)
        if case in AUDIT_REJECTS:
            await handle.signal(OrderSettlementWorkflow.audit_result,
                                AuditResult(approved=False, month="203001", reason=AUDIT_REJECTS[case]))
        verdict = await handle.result()
    assert verdict.status == OrderStatus.FAILED
    assert verdict.failure_reason == (EXPECTED[case] if case in EXPECTED else FailureReason(case))
    assert world.progress[-1].verdict.failure_reason == verdict.failure_reason


async def test_duplicates_and_out_of_order_events_end_in_the_same_state(time_env, world):
    async with world.worker(time_env.client, world.tq):
        now = await time_env.get_current_time()
        results = []
        for seed in (1, 2):
            order = new_order(now)
            events = Script(order.order_id, now).happy()
            shuffled = events + events[:2]  # duplicates of shipped and signed
            random.Random(seed).shuffle(shuffled)
            if seed == 1:
                shuffled = list(reversed(events)) + events  # the worst order, then every event again
            handle = await _start(time_env, world, order)
            for ev in shuffled:
                await handle.signal(OrderSettlementWorkflow.carrier_event, ev)
            view = await _query_until(handle, lambda v: v.verdict.status == OrderStatus.AWAITING_CHECK_POINT)
            assert view.events_seen == 4
            results.append([(i.state, i.at) for i in view.verdict.checklist])
            await handle.terminate("test done")
    assert results[0] == results[1]


async def test_delivery_exception_opens_a_rescue_task_reminded_daily_until_signed(own_time_env, world):
    time_env = own_time_env
    async with world.worker(time_env.client, world.tq):
        now = await time_env.get_current_time()
        order = new_order(now)
        handle = await _start(time_env, world, order)
        s = Script(order.order_id, now)
        await handle.signal(OrderSettlementWorkflow.carrier_event, s.ev("shipped", _d(hours=1), tracking_no="SF9"))
        await handle.signal(OrderSettlementWorkflow.carrier_event,
                            s.ev("delivery", _d(1), delivery_status="unreachable"))
        view = await _query_until(handle, lambda v: v.verdict.status == OrderStatus.DELIVERY_EXCEPTION)
        assert "unreachable" in view.verdict.checklist[1].note
        await time_env.sleep(timedelta(days=2, hours=1))
        await handle.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", _d(3), delivery_status="signed"))
        await _query_until(handle, lambda v: v.verdict.status == OrderStatus.SIGNED)
        await time_env.sleep(timedelta(hours=1))
        await handle.terminate("test done")
    assert [r.kind for r in world.rescue_opened] == ["unreachable"]
    assert [r.n for _, r in world.rescue_reminders] == [1, 2]  # since the delivery follow-up: by task, numbered
    assert world.reminders == []
    assert world.resolved == [(order.order_id, "signed")]


async def test_each_suspension_opens_a_case_a_restore_and_the_order_end_close_them(time_env, world):
    async with world.worker(time_env.client, world.tq):
        now = await time_env.get_current_time()
        order = new_order(now)
        handle = await _start(time_env, world, order)
        script = Script(order.order_id, now)
        for ev in script.happy():
            await handle.signal(OrderSettlementWorkflow.carrier_event, ev)
        first = script.ev("suspended", timedelta(days=10), mode="one_way")
        restored = script.ev("restored", timedelta(days=10, hours=5))
        second = script.ev("suspended", timedelta(days=20), mode="risk_control", reason="identity")
        for ev in (first, first, restored):  # a repeated suspension opens one case
            await handle.signal(OrderSettlementWorkflow.carrier_event, ev)
        await _query_until(handle, lambda v: v.events_seen == 6)
        await handle.signal(OrderSettlementWorkflow.carrier_event, second)
        world.answers[order.order_id] = InNetworkAnswer(in_network=False, asked_at=now, mode="risk_control",
                                                        cause="risk_control")
        verdict = await handle.result()
    assert verdict.status == OrderStatus.FAILED
    assert [(c.n, c.mode, c.suspended_at, c.msisdn_masked) for c in world.cases_opened] == [
        (1, "one_way", first.occurred_at, order.msisdn_masked), (2, "risk_control", second.occurred_at, order.msisdn_masked)]
    first_id, second_id = f"suspension-{order.order_id}-1", f"suspension-{order.order_id}-2"
    restores = [n for n in world.case_news if n.restored]
    assert [(n.workflow_ids, n.restored.restored_at) for n in restores] == [([first_id], restored.occurred_at)]
    decided = [n for n in world.case_news if n.decided]
    assert [(n.workflow_ids, n.decided.order_status) for n in decided] == [([second_id], "failed")]


# ---- one signal per push; publishing where the order rests (patch "publish-at-rest") ---------------------------


async def test_one_push_folds_its_events_in_order_each_with_its_identity(own_time_env, world):
    time_env = own_time_env
    async with world.worker(time_env.client, world.tq):
        now = await time_env.get_current_time()
        order = new_order(now)
        handle = await _start(time_env, world, order)
        s = Script(order.order_id, now)
        shipped, signed, activated, recharged = (e.model_copy(update={"source": "china_mobile"}) for e in s.happy())
        logistics = signed.model_copy(update={"source": "logistics"})  # the same id from another source: another event
        await handle.signal(OrderSettlementWorkflow.carrier_events, s.push(shipped, signed, shipped, logistics))
        await handle.signal(OrderSettlementWorkflow.carrier_event, activated)  # one event a signal still counts
        await handle.signal(OrderSettlementWorkflow.carrier_events, s.push(recharged, activated))
        view = await _query_until(handle, lambda v: v.verdict.status == OrderStatus.AWAITING_CHECK_POINT)
        await handle.terminate("test done")
    assert view.facts.seen_event_ids == [f"{e.source}/{e.event_id}" for e in (shipped, signed, logistics, activated, recharged)]
    assert view.verdict.checklist[3].at == recharged.occurred_at


def _events(history, kind):
    return [e for e in history.events if e.event_type == kind]


async def test_the_order_publishes_where_it_rests_and_only_what_changed(own_time_env, world):
    from temporalio.api.enums.v1 import EventType
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    from workflows.orders import contract

    time_env = own_time_env
    async with world.worker(time_env.client, world.tq):
        now = await time_env.get_current_time()
        order = new_order(now)
        handle = await time_env.client.start_workflow(  # as the API starts it: the placed order's attributes
            OrderSettlementWorkflow.run, order, id=order_workflow_id(order.order_id), task_queue=world.tq,
            search_attributes=TypedSearchAttributes([SearchAttributePair(contract.ORDER_STATUS, "placed")]))
        s = Script(order.order_id, now)
        await handle.signal(OrderSettlementWorkflow.carrier_events, s.push(*s.happy()))
        await _query_until(handle, lambda v: v.verdict.status == OrderStatus.AWAITING_CHECK_POINT)
        await time_env.sleep(timedelta(days=70))  # the check point passes: asked, then awaiting the audit
        view = await _query_until(handle, lambda v: v.verdict.status == OrderStatus.AWAITING_AUDIT)
        await handle.signal(OrderSettlementWorkflow.audit_result,
                            AuditResult(approved=True, month=view.verdict.settlement_month, commission_fen=12000))
        await handle.result()
        history = await handle.fetch_history()
        described = await handle.describe()
    # the row: each state the order rested in, once; "checking in network" was passed inside one task
    assert [p.verdict.status for p in world.progress] == [OrderStatus.AWAITING_CHECK_POINT, OrderStatus.AWAITING_AUDIT,
                                                          OrderStatus.SETTLED]
    assert _events(history, EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED) == []  # no memo: current details say it
    assert len(_events(history, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)) == 2  # one push, one audit
    # the patch markers' own upserts (publish-at-rest, delivery-follow-up, carrier-submission, stale-while-submitting),
    # then one per state ops can filter on
    assert len(_events(history, EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)) == 4 + 3
    sa = described.typed_search_attributes
    assert sa.get(contract.ORDER_STATUS) == "settled" and sa.get(contract.SETTLEMENT_MONTH) == view.verdict.settlement_month
    assert sa.get(contract.FAILURE_REASON) is None


async def test_an_order_started_before_the_patch_keeps_its_publishing_and_takes_pushes(time_env, world):
    from temporalio.api.enums.v1 import EventType

    from tests.orders.world import started_before
    from workflows.orders.order import PUBLISH_AT_REST

    async with world.worker(time_env.client, world.tq, **started_before(PUBLISH_AT_REST)):
        now = await time_env.get_current_time()
        order = new_order(now)
        handle = await _start(time_env, world, order)
        s = Script(order.order_id, now)
        await handle.signal(OrderSettlementWorkflow.carrier_events, s.push(*s.happy()[:3]))
        verdict = await handle.result()
        history = await handle.fetch_history()
    assert verdict.failure_reason == FailureReason.RECHARGE_MISSING
    assert _events(history, EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED) != []  # the memo, as before the patch
    assert [p.verdict.status for p in world.progress] == [OrderStatus.ACTIVATED, OrderStatus.FAILED]

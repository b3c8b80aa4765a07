"""The refund workflow on the time-skipping server: every branch of the loop and every ops action."""

import asyncio
import uuid
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.refunds import ErrorAction, ErrorMapping, LoopLimits, RefundRoute, RefundStatus
from tests.refunds.world import (
    RefundWorld,
    crash,
    failed,
    new_refund,
    not_found,
    ok,
    processing,
    rejected,
    reversed_,
    unknown,
)
from tests.temporal_env import start_time_skipping
from workflows.refunds.contract import OpsAction, SweepAnswer, refund_workflow_id
from workflows.refunds.refund import RefundWorkflow

OPS = OpsAction(actor="ops:lee", reason="checked the channel statement", statement_ref="STMT-20261125-0042")


def checked(world) -> OpsAction:
    """A force fail as the API sends it: with every serial and its sends as the evidence check saw them."""
    return OPS.model_copy(update={"checked_sends": {r.serial: r.sends for r in world.serials}})


@pytest_asyncio.fixture(scope="module")
async def time_env():
    """A time-skipping server of this module's own: workflows other modules leave behind cannot hold its clock."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


async def _result(handle, seconds: float = 120):
    """The workflow's result, or a failure instead of a stalled suite."""
    return await asyncio.wait_for(handle.result(), seconds)


@pytest.fixture
def world():
    w = RefundWorld()
    w.tq = f"refunds-{uuid.uuid4().hex[:8]}"
    return w


async def _run(env, world, inp, *, watch_passes: bool = True):
    async with world.worker(env.client, world.tq):
        h = await env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        return await _result(h)


async def _until(handle, predicate, env, attempts=60):
    for _ in range(attempts):
        view = await handle.query(RefundWorkflow.view)
        if predicate(view):
            return view
        await env.sleep(timedelta(seconds=20))
    raise AssertionError(f"never reached; last: {view}")


def _update_error(err: WorkflowUpdateFailedError) -> ApplicationError:
    assert isinstance(err.cause, ApplicationError), err.cause
    return err.cause


# ---- the loop ----------------------------------------------------------------------------------------


async def test_auto_audit_and_immediate_success_then_the_reversal_watch_passes(time_env, world):
    inp = new_refund()
    assert await _run(time_env, world, inp) == RefundStatus.SUCCEEDED
    assert len(world.sends) == 1 and world.sends[0].route == RefundRoute.CHANNEL
    assert world.events[0] == "auto_approved" and "succeeded" in world.events
    assert world.statuses == ["processing", "succeeded"]
    assert [s.outcome for s in world.serials] == ["sending", "success"]
    assert [n.status for n in world.notified] == [RefundStatus.SUCCEEDED]
    assert len(world.queries) == 1  # the confirming query-back a day later


async def test_timeout_is_unknown_and_settled_by_query_back_with_the_same_serial(time_env, world):
    world.send_script = [unknown]
    world.query_script = [processing, ok]
    assert await _run(time_env, world, new_refund()) == RefundStatus.SUCCEEDED
    assert len(world.sends) == 1  # never a second request, never a new serial after an unclear answer
    assert {q.serial for q in world.queries} == {world.sends[0].serial}


async def test_a_worker_crash_mid_send_is_unknown_too_not_a_failure(time_env, world):
    world.send_script = [crash]
    world.query_script = [ok]
    assert await _run(time_env, world, new_refund()) == RefundStatus.SUCCEEDED
    assert len(world.sends) == 1 and world.queries[0].serial == world.sends[0].serial


async def test_never_received_is_resent_with_the_same_serial(time_env, world):
    world.send_script = [unknown, ok]
    world.query_script = [not_found]
    assert await _run(time_env, world, new_refund()) == RefundStatus.SUCCEEDED
    assert len(world.sends) == 2 and world.sends[0].serial == world.sends[1].serial
    assert "not_accepted" in [s.outcome for s in world.serials]


async def test_too_frequent_gets_a_new_serial_after_the_delay(time_env, world):
    world.send_script = [failed("TOO_FREQUENT"), ok]
    assert await _run(time_env, world, new_refund()) == RefundStatus.SUCCEEDED
    assert len({s.serial for s in world.sends}) == 2
    assert "declined_retry_later" in world.events


async def test_accepted_then_failed_is_found_by_query_back_and_retried_under_a_new_serial(time_env, world):
    world.send_script = [processing, ok]
    world.query_script = [failed("DAILY_VOLUME_LOW")]
    assert await _run(time_env, world, new_refund()) == RefundStatus.SUCCEEDED
    assert len({s.serial for s in world.sends}) == 2


async def test_void_card_fails_for_good_with_a_plain_reason(time_env, world):
    world.send_script = [failed("CARD_VOID")]
    assert await _run(time_env, world, new_refund()) == RefundStatus.FAILED
    last = world.progress[-1]
    assert last.failure_code == "card_void" and "void" in last.failure_message
    assert [n.status for n in world.notified] == [RefundStatus.FAILED]
    assert len(world.sends) == 1


async def test_system_busy_resends_the_same_serial(time_env, world):
    world.send_script = [failed("SYSTEM_BUSY"), ok]
    assert await _run(time_env, world, new_refund()) == RefundStatus.SUCCEEDED
    assert world.sends[0].serial == world.sends[1].serial


async def test_retry_later_is_bounded_then_manual(time_env, world):
    world.send_script = [failed("TOO_FREQUENT")] * 3
    inp = new_refund(limits=LoopLimits(max_serials=2, query_backs=[5]))
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        view = await _until(h, lambda v: v.status == RefundStatus.MANUAL_REVIEW, time_env)
        assert "serials declined" in view.manual_reason and len(world.sends) == 3
        await h.execute_update(RefundWorkflow.force_fail, checked(world))
        assert await _result(h) == RefundStatus.FAILED


async def test_unknown_code_goes_to_manual_and_force_fail_needs_a_statement(time_env, world):
    world.send_script = [failed("E9999")]
    inp = new_refund()
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        view = await _until(h, lambda v: v.status == RefundStatus.MANUAL_REVIEW, time_env)
        assert "unknown channel code 'E9999'" in view.manual_reason
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(RefundWorkflow.force_fail, OPS.model_copy(update={"statement_ref": None}))
        assert _update_error(err.value).type == "StatementRequired"
        with pytest.raises(WorkflowUpdateFailedError) as err:  # not through the API's evidence check
            await h.execute_update(RefundWorkflow.force_fail, OPS)
        assert _update_error(err.value).type == "SerialStillLive"
        stale = {s: n - 1 for s, n in checked(world).checked_sends.items()}  # a check from before the last send
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(RefundWorkflow.force_fail, OPS.model_copy(update={"checked_sends": stale}))
        assert _update_error(err.value).type == "SerialStillLive" and "sent after" in _update_error(err.value).message
        assert await h.execute_update(RefundWorkflow.force_fail, checked(world)) == "failed"
        assert await _result(h) == RefundStatus.FAILED
    forced = world.progress[-1]
    assert (forced.event, forced.actor, forced.statement_ref) == ("force_fail", "ops:lee", "STMT-20261125-0042")
    assert world.notified[-1].status == RefundStatus.FAILED


async def test_an_ops_mapping_changes_what_a_code_does(time_env, world):
    world.mappings = [ErrorMapping(channel="unionpay", raw_code="E9999", internal_code="upstream_quota",
                                   merchant_message="retrying", action=ErrorAction.NEW_SERIAL_RETRY_LATER, retry_after_s=5)]
    world.send_script = [failed("E9999"), ok]
    assert await _run(time_env, world, new_refund()) == RefundStatus.SUCCEEDED
    assert len({s.serial for s in world.sends}) == 2


async def test_amount_mismatch_goes_to_manual_review_then_force_success(time_env, world):
    world.send_script = [lambda req: ok(req, amount=9_999)]
    inp = new_refund()
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        view = await _until(h, lambda v: v.status == RefundStatus.MANUAL_REVIEW, time_env)
        assert "amount" in view.manual_reason
        await h.execute_update(RefundWorkflow.force_success, OPS)
        assert await _result(h) == RefundStatus.SUCCEEDED
    assert world.progress[-1].event == "force_success" and world.notified[-1].status == RefundStatus.SUCCEEDED
    assert world.serials[-1].outcome == "mismatch"


async def test_channel_protocol_refusal_goes_to_manual(time_env, world):
    world.send_script = [rejected]
    inp = new_refund()
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        view = await _until(h, lambda v: v.status == RefundStatus.MANUAL_REVIEW, time_env)
        assert "refused our request" in view.manual_reason
        await h.execute_update(RefundWorkflow.force_fail, checked(world))
        await _result(h)


async def test_still_processing_is_parked_for_the_sweep_which_answers(time_env, world):
    world.send_script = [processing]
    world.query_script = [processing, processing]
    inp = new_refund()
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        view = await _until(h, lambda v: v.phase == "parked", time_env)
        assert world.progress[-1].parked is True
        serial = view.serial
        await h.signal(RefundWorkflow.sweep_answer, SweepAnswer(serial="someone-else", answer=None, exhausted=True))
        await h.signal(RefundWorkflow.sweep_answer, SweepAnswer(serial=serial, answer=ok(world.sends[0])))
        assert await _result(h) == RefundStatus.SUCCEEDED
    assert len(world.sends) == 1


async def test_sweep_exhausted_lands_in_the_manual_queue_and_ops_retry_with_a_new_serial(time_env, world):
    world.send_script = [processing, ok]
    # two query-backs while processing; at the first ops retry still processing (refused), then declined
    world.query_script = [processing, processing, processing, failed("CARD_VOID")]
    inp = new_refund()
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        view = await _until(h, lambda v: v.phase == "parked", time_env)
        with pytest.raises(WorkflowUpdateFailedError) as err:  # not in the manual queue yet
            await h.execute_update(RefundWorkflow.retry_new_serial, OPS)
        assert _update_error(err.value).type == "InvalidState"
        await h.signal(RefundWorkflow.sweep_answer, SweepAnswer(serial=view.serial, exhausted=True))
        view = await _until(h, lambda v: v.status == RefundStatus.MANUAL_REVIEW, time_env)
        assert "never gave a final answer" in view.manual_reason
        with pytest.raises(WorkflowUpdateFailedError) as err:  # the old serial may still pay: no new one yet
            await h.execute_update(RefundWorkflow.retry_new_serial, OPS)
        assert _update_error(err.value).type == "SerialStillLive"
        assert len(world.sends) == 1
        assert await h.execute_update(RefundWorkflow.retry_new_serial, OPS) == "processing"
        assert await _result(h) == RefundStatus.SUCCEEDED
    assert len({s.serial for s in world.sends}) == 2


async def test_ops_retry_of_a_serial_the_channel_never_accepted_resends_the_same_serial(time_env, world):
    world.send_script = [processing, ok]
    world.query_script = [processing, processing, not_found]
    inp = new_refund()
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        view = await _until(h, lambda v: v.phase == "parked", time_env)
        await h.signal(RefundWorkflow.sweep_answer, SweepAnswer(serial=view.serial, exhausted=True))
        await _until(h, lambda v: v.status == RefundStatus.MANUAL_REVIEW, time_env)
        assert await h.execute_update(RefundWorkflow.retry_new_serial, OPS) == "processing"
        assert await _result(h) == RefundStatus.SUCCEEDED
    assert len(world.sends) == 2 and len({s.serial for s in world.sends}) == 1


async def test_no_refund_api_pays_out_to_the_card_or_credits_the_wallet(time_env, world):
    assert await _run(time_env, world, new_refund(has_refund_api=False)) == RefundStatus.SUCCEEDED
    assert [s.route for s in world.sends] == [RefundRoute.PAYOUT] and world.queries == []  # no watch off-channel
    world2 = RefundWorld()
    world2.tq = world.tq + "w"
    assert await _run(time_env, world2, new_refund(has_refund_api=False, consumer_wallet_id="W1")) == RefundStatus.SUCCEEDED
    assert [s.route for s in world2.sends] == [RefundRoute.WALLET] and world2.sends[0].wallet_id == "W1"


async def test_a_payout_fallback_code_switches_route_with_a_new_serial(time_env, world):
    world.send_script = [failed("NO_REFUND_API"), unknown]
    world.query_script = [ok]
    assert await _run(time_env, world, new_refund()) == RefundStatus.SUCCEEDED
    assert [s.route for s in world.sends] == [RefundRoute.CHANNEL, RefundRoute.PAYOUT]
    assert world.sends[0].serial != world.sends[1].serial
    assert world.queries[0].route == RefundRoute.PAYOUT and "fallback" in world.events


async def test_reversal_after_success_is_its_own_state_and_the_merchant_hears_of_it(time_env, world):
    world.query_script = [reversed_]
    inp = new_refund()
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        await _until(h, lambda v: v.status == RefundStatus.SUCCEEDED, time_env)
        await time_env.sleep(timedelta(days=1, hours=1))
        await _until(h, lambda v: v.status == RefundStatus.REVERSED, time_env)
        assert [n.status for n in world.notified] == [RefundStatus.SUCCEEDED, RefundStatus.REVERSED]
        await h.execute_update(RefundWorkflow.retry_new_serial, OPS)
        assert await _result(h) == RefundStatus.SUCCEEDED
    assert world.statuses == ["processing", "succeeded", "reversed", "processing", "succeeded"]
    assert len({s.serial for s in world.sends}) == 2


async def test_long_loops_continue_as_new(time_env, world):
    world.send_script = [failed("TOO_FREQUENT")] * 5 + [ok]
    inp = new_refund(rounds_per_run=4, limits=LoopLimits(max_serials=10, query_backs=[5]))
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        first_run = h.result_run_id
        assert await _result(h) == RefundStatus.SUCCEEDED
        latest = await time_env.client.get_workflow_handle(h.id).describe()
    assert latest.run_id != first_run
    assert len({s.serial for s in world.sends}) == 6


# ---- audit and ops ------------------------------------------------------------------------------------


async def test_manual_audit_refuses_the_requester_and_accepts_another_auditor(time_env, world):
    inp = new_refund(audit_reasons=["automatic audit is switched off for this channel"], requested_by="merchant:M1")
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        await _until(h, lambda v: v.status == RefundStatus.AWAITING_AUDIT, time_env)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(RefundWorkflow.approve, OpsAction(actor="merchant:M1", reason="looks fine"))
        assert _update_error(err.value).type == "FourEyes"
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(RefundWorkflow.force_success, OPS)
        assert _update_error(err.value).type == "InvalidState"
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(RefundWorkflow.mark_succeeded_offline, OPS)
        assert _update_error(err.value).type == "NotPreDebit"
        assert world.sends == []
        await h.execute_update(RefundWorkflow.approve, OpsAction(actor="auditor:wang", reason="customer returned goods"))
        assert await _result(h) == RefundStatus.SUCCEEDED
    approved = next(p for p in world.progress if p.event == "approved")
    assert approved.actor == "auditor:wang" and approved.reason == "customer returned goods"


async def test_reject_at_audit(time_env, world):
    inp = new_refund(audit_reasons=["amount above the limit"])
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        await _until(h, lambda v: v.status == RefundStatus.AWAITING_AUDIT, time_env)
        await h.execute_update(RefundWorkflow.reject, OpsAction(actor="auditor:wang", reason="goods never returned"))
        assert await _result(h) == RefundStatus.REJECTED
    assert world.sends == [] and world.progress[-1].failure_code == "rejected_at_audit"
    assert world.notified[-1].status == RefundStatus.REJECTED


async def test_pre_debit_channel_is_marked_succeeded_without_calling_it(time_env, world):
    inp = new_refund(pre_debit=True, audit_reasons=["the channel pre-debits risky orders"])
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        await _until(h, lambda v: v.status == RefundStatus.AWAITING_AUDIT, time_env)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(RefundWorkflow.approve, OpsAction(actor="auditor:wang", reason="ok to refund"))
        assert _update_error(err.value).type == "PreDebitChannel"
        await h.execute_update(RefundWorkflow.mark_succeeded_offline,
                               OpsAction(actor="auditor:wang", reason="channel already debited the consumer"))
        assert await _result(h) == RefundStatus.SUCCEEDED
    assert world.sends == [] and world.queries == []
    assert world.progress[-1].route == RefundRoute.OFFLINE and world.progress[-1].event == "marked_succeeded_offline"


async def test_parked_refund_asks_the_channel_itself_when_the_sweep_stays_silent(time_env, world):
    world.send_script = [processing]
    world.query_script = [processing, processing, processing, ok]
    assert await _run(time_env, world, new_refund()) == RefundStatus.SUCCEEDED
    assert len(world.sends) == 1 and len(world.queries) == 5  # 2 query-backs, 2 safety queries, the watch


async def test_continue_as_new_waits_for_a_quiet_point_and_ops_actions_still_land(time_env, world):
    world.send_script = [failed("E9999")]
    inp = new_refund(rounds_per_run=1)
    async with world.worker(time_env.client, world.tq):
        h = await time_env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=world.tq)
        await _until(h, lambda v: v.status == RefundStatus.MANUAL_REVIEW, time_env)
        assert await h.execute_update(RefundWorkflow.force_success, OPS) == "succeeded"
        assert await _result(h) == RefundStatus.SUCCEEDED

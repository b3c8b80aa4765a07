"""Record refund workflow histories for the replay tests: `python -m tests.histories.record_refunds`.

Run it when the refund workflow ships a new version; keep the old files (a behaviour change goes behind
`workflow.patched`, and every recorded history must keep replaying against the current code).
"""

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.worker import Worker

from domain.refunds import LoopLimits
from tests.histories.record import write_histories
from tests.refunds.world import RefundWorld, failed, new_refund, not_found, ok, processing, reversed_, unknown
from tests.temporal_env import start_time_skipping
from workflows.refunds import contract
from workflows.refunds.contract import OpsAction, SweepAnswer, SweepOutcome, refund_workflow_id
from workflows.refunds.refund import RefundWorkflow
from workflows.refunds.sweep import RefundSweepWorkflow

OPS = OpsAction(actor="ops:rec", reason="reconciled with the statement", statement_ref="STMT-REC-1")


async def _view(h, env, predicate):
    for _ in range(200):
        v = await h.query(RefundWorkflow.view)
        if predicate(v):
            return v
        await env.sleep(timedelta(minutes=10))
    raise AssertionError("state never reached")


async def histories(env) -> dict[str, object]:
    """Each scenario's history as the server keeps it (payloads as stored: encrypted)."""
    world = RefundWorld()
    tq = f"rec-refunds-{uuid.uuid4().hex[:6]}"
    out: dict[str, object] = {}
    async with world.worker(env.client, tq):
        async def start(inp):
            return await env.client.start_workflow(RefundWorkflow.run, inp, id=refund_workflow_id(inp.refund_id), task_queue=tq)

        # unclear answer, query-back, never accepted -> same serial again, success, the reversal watch passes
        world.send_script[:] = [unknown, processing]
        world.query_script[:] = [not_found, processing, ok]
        h = await start(new_refund())
        await h.result()
        out["refund_unknown_then_same_serial"] = (await h.fetch_history()).to_json_dict()

        # too frequent -> new serial; unknown code -> manual; ops force fail with a statement reference
        world.send_script[:] = [failed("TOO_FREQUENT"), failed("E9999")]
        world.query_script[:] = []
        h = await start(new_refund())
        await _view(h, env, lambda v: v.status == "manual_review")
        # as the API sends it since force fails are checked: every serial and its sends as the check saw them
        checked = {r.serial: r.sends for r in world.serials}
        await h.execute_update(RefundWorkflow.force_fail, OPS.model_copy(update={"checked_sends": checked}))
        await h.result()
        out["refund_new_serial_manual_force_fail"] = (await h.fetch_history()).to_json_dict()

        # manual audit approved, parked for the sweep, sweep answers success, reversed, ops retry
        world.send_script[:] = [processing]
        world.query_script[:] = [processing, processing, reversed_]
        inp = new_refund(audit_reasons=["automatic audit is switched off for this channel"],
                         limits=LoopLimits(query_backs=[5, 30]))
        h = await start(inp)
        await _view(h, env, lambda v: v.status == "awaiting_audit")
        await h.execute_update(RefundWorkflow.approve, OpsAction(actor="auditor:rec", reason="receipt checked"))
        v = await _view(h, env, lambda v: v.phase == "parked")
        await h.signal(RefundWorkflow.sweep_answer, SweepAnswer(serial=v.serial, answer=ok(world.sends[-1])))
        await _view(h, env, lambda v: v.status == "reversed")
        await h.execute_update(RefundWorkflow.retry_new_serial, OPS)
        await h.result()
        out["refund_audit_sweep_reversed_retry"] = (await h.fetch_history()).to_json_dict()

        # no refund API: payout fallback; and a pre-debit channel marked succeeded offline
        h = await start(new_refund(has_refund_api=False))
        await h.result()
        out["refund_payout_route"] = (await h.fetch_history()).to_json_dict()
        h = await start(new_refund(pre_debit=True, audit_reasons=["the channel pre-debits risky orders"]))
        await _view(h, env, lambda v: v.status == "awaiting_audit")
        await h.execute_update(RefundWorkflow.mark_succeeded_offline, OpsAction(actor="auditor:rec", reason="pre-debited"))
        await h.result()
        out["refund_pre_debit_offline"] = (await h.fetch_history()).to_json_dict()

    pages = iter([SweepOutcome(checked=200, signalled=12, exhausted=1), SweepOutcome(checked=37, signalled=3)])

    @activity.defn(name=contract.SWEEP_PROCESSING)
    async def sweep(limit: int) -> SweepOutcome:
        return next(pages)

    async with Worker(env.client, task_queue=tq + "-sweep", workflows=[RefundSweepWorkflow], activities=[sweep]):
        h = await env.client.start_workflow(RefundSweepWorkflow.run, 200, id=f"refund-sweep-{uuid.uuid4().hex[:4]}",
                                            task_queue=tq + "-sweep")
        await h.result()
        out["refund_sweep_two_pages"] = (await h.fetch_history()).to_json_dict()
    return out


async def record() -> None:
    env = await start_time_skipping()
    try:
        write_histories(await histories(env), "v2")  # v2: every payload encrypted (core.crypto); v1 recorded in clear, kept
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

"""Record the order workflow's submission on the acceptance window's clock (patch `stale-while-submitting`) for
the replay tests: `python -m tests.histories.record_stale_submission`. A carrier unreachable past the window (the
order flagged stale, the submission retried until the carrier is back, the flag lifted), and an order whose
carrier answers in time and that settles.

Keep old files when a workflow version ships: every recorded history must replay against the current code.
"""

import asyncio
import uuid
from datetime import timedelta

from domain.orders.order import AuditResult, OrderStatus
from tests.histories.record import settlement_fakes
from tests.histories.recording import record_main
from tests.orders.world import FakeWorld, Script, new_order
from workflows.orders.contract import order_workflow_id
from workflows.orders.order import OrderSettlementWorkflow

VERSION = "v1"
H = timedelta(hours=1)


async def histories(env) -> dict[str, object]:
    world = FakeWorld()
    tq = f"rec-stale-submission-{uuid.uuid4().hex[:6]}"
    out: dict[str, object] = {}

    async def start(order):
        return await env.client.start_workflow(OrderSettlementWorkflow.run, order,
                                               id=order_workflow_id(order.order_id), task_queue=tq)

    async with world.worker(env.client, tq, extra_activities=settlement_fakes()):
        now = await env.get_current_time()

        order = new_order(now - 23 * H)
        world.unreachable.add(order.order_id)
        h = await start(order)
        await env.sleep(2 * H)
        while not world.stale:
            await asyncio.sleep(0.05)
        world.unreachable.clear()
        await env.sleep(timedelta(minutes=6))
        while len(world.stale) < 2:
            await asyncio.sleep(0.05)
        await h.terminate("recorded")
        out["order_stale_while_submitting"] = (await h.fetch_history()).to_json_dict()

        order = new_order(now)
        h = await start(order)
        s = Script(order.order_id, now)
        await h.signal(OrderSettlementWorkflow.carrier_events, s.push(*s.happy()))
        await env.sleep(timedelta(days=70))  # the check point passes: asked, then awaiting the audit
        view = await h.query(OrderSettlementWorkflow.checklist)
        while view.verdict.status != OrderStatus.AWAITING_AUDIT:
            await asyncio.sleep(0.05)
            view = await h.query(OrderSettlementWorkflow.checklist)
        await h.signal(OrderSettlementWorkflow.audit_result,
                       AuditResult(approved=True, month=view.verdict.settlement_month, commission_fen=12000))
        await h.result()
        out["order_accepted_within_the_window"] = (await h.fetch_history()).to_json_dict()
    return out


if __name__ == "__main__":
    record_main(histories, VERSION)

"""Record the order workflow's histories since "publish-at-rest": `python -m tests.histories.record_orders_at_rest`.

Carrier pushes arrive as one signal per order and push (`carrier_events`), and the order publishes only where it
comes to rest (workflows/orders/order.py, PUBLISH_AT_REST). Also records an order started before that patch
(its old publishing) that receives pushes the new way after the deploy. Keep old files: every recorded history
must replay against the current code.
"""

import asyncio
import uuid
from datetime import timedelta

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from domain.orders.order import AuditResult, InNetworkAnswer
from tests.histories.record import write_histories
from tests.orders.world import FakeWorld, Script, new_order, started_before
from tests.temporal_env import start_time_skipping
from workflows.orders import contract
from workflows.orders.contract import order_workflow_id
from workflows.orders.order import PUBLISH_AT_REST, OrderSettlementWorkflow


async def _start(env, order, tq: str):
    """As the API starts an order: the search attributes of a placed order (services/orders/order.py)."""
    return await env.client.start_workflow(
        OrderSettlementWorkflow.run, order, id=order_workflow_id(order.order_id), task_queue=tq,
        search_attributes=TypedSearchAttributes([SearchAttributePair(contract.CARRIER, order.carrier),
                                                 SearchAttributePair(contract.AGENT_ID, order.agent_id),
                                                 SearchAttributePair(contract.ORDER_STATUS, "placed")]))


async def _settled(env, tq: str, name: str, out: dict) -> None:
    """Settles after the two-month wait, a delivery exception on the way; pushes of two and three events."""
    now = await env.get_current_time()
    order = new_order(now)
    h = await _start(env, order, tq)
    s = Script(order.order_id, now)
    happy = s.happy()
    await h.signal(OrderSettlementWorkflow.carrier_events,
                   s.push(happy[0], s.ev("delivery", timedelta(days=1), delivery_status="refused")))
    await env.sleep(timedelta(days=1, hours=2))
    await h.signal(OrderSettlementWorkflow.carrier_events, s.push(*happy[1:], happy[1]))  # a repeat inside the push
    await env.sleep(timedelta(days=70))
    await h.signal(OrderSettlementWorkflow.audit_result, AuditResult(approved=True, month="000000", commission_fen=12000))
    await h.result()
    out[name] = (await h.fetch_history()).to_json_dict()


async def histories(env) -> dict[str, object]:
    out: dict[str, object] = {}
    uid = uuid.uuid4().hex[:6]
    world = FakeWorld()
    async with world.worker(env.client, f"rec-{uid}"):
        await _settled(env, f"rec-{uid}", "order_settled", out)

        # fails for lack of a recharge: one push of three events
        now = await env.get_current_time()
        order = new_order(now)
        h = await _start(env, order, f"rec-{uid}")
        s = Script(order.order_id, now)
        await h.signal(OrderSettlementWorkflow.carrier_events, s.push(*s.happy()[:3]))
        await h.result()
        out["order_recharge_missing"] = (await h.fetch_history()).to_json_dict()

        # suspended, restored, suspended again: cases opened and closed; not in network at the check point
        now = await env.get_current_time()
        order = new_order(now)
        h = await _start(env, order, f"rec-{uid}")
        s = Script(order.order_id, now)
        await h.signal(OrderSettlementWorkflow.carrier_events, s.push(
            *s.happy(), s.ev("suspended", timedelta(days=10), mode="one_way"),
            s.ev("restored", timedelta(days=10, hours=3)), s.ev("suspended", timedelta(days=20), mode="risk_control")))
        world.answers[order.order_id] = InNetworkAnswer(in_network=False, asked_at=now, mode="risk_control")
        await h.result()
        out["order_suspension_cases"] = (await h.fetch_history()).to_json_dict()

    # an order started before the patch (old publishing) that gets its pushes as one signal each after the deploy
    old = FakeWorld()
    async with old.worker(env.client, f"old-{uid}", **started_before(PUBLISH_AT_REST)):
        await _settled(env, f"old-{uid}", "order_started_before_publish_at_rest", out)
    return out


# each history's next version beside the ones recorded before
VERSIONS = {"order_settled": "v4", "order_recharge_missing": "v4", "order_suspension_cases": "v3",
            "order_started_before_publish_at_rest": "v1"}


async def record() -> None:
    env = await start_time_skipping()
    try:
        for name, history in (await histories(env)).items():
            write_histories({name: history}, VERSIONS[name])
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

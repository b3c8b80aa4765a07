"""Record workflow histories for the replay tests: `python -m tests.histories.record`.

Run it when a workflow version ships; keep the old files: every recorded history must keep replaying
against the current code (a behaviour change goes behind `workflow.patched`).
"""

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity

from domain.orders.order import AuditResult
from tests.orders.world import FakeWorld, Script, new_order
from tests.temporal_env import start_time_skipping
from workflows.orders import contract
from workflows.orders.contract import AuditPageOutcome, AuditPageRequest, BatchRef, SettlementInput, order_workflow_id
from workflows.orders.order import OrderSettlementWorkflow
from workflows.orders.settlement import CarrierSettlementWorkflow, SettlementKickoffWorkflow

HERE = Path(__file__).parent
# Bump when a workflow's behaviour changes (v2: "placed-published-at-start" patch of the order workflow; v3: every
# payload encrypted by core.crypto's codec, recharges judged by the API's keyed fingerprint).
VERSION = "v3"


def settlement_fakes(pages: int = 3):
    @activity.defn(name=contract.OPEN_BATCH)
    async def open_batch(ref: BatchRef) -> None:
        return None

    @activity.defn(name=contract.SETTLE_AUDIT_PAGE)
    async def settle_page(req: AuditPageRequest) -> AuditPageOutcome:
        n = int(req.page_token or 0)
        if n == 0 and not getattr(settle_page, "asked", False):
            settle_page.asked = True  # the first answer: audit not published yet
            return AuditPageOutcome(ready=False)
        nxt = str(n + 1) if n + 1 < pages else None
        return AuditPageOutcome(ready=True, next_page_token=nxt, settled=4, failed=1)

    @activity.defn(name=contract.FAIL_UNAUDITED_ORDERS)
    async def fail_unaudited(ref: BatchRef) -> int:
        return 2

    @activity.defn(name=contract.WAIT_FOR_AUDITED_ORDERS)
    async def wait_audited(ref: BatchRef) -> int:
        return 0

    @activity.defn(name=contract.BUILD_STATEMENTS)
    async def build(ref: BatchRef) -> int:
        return 3

    @activity.defn(name=contract.PAY_AGENTS)
    async def pay(ref: BatchRef) -> int:
        return 36000

    @activity.defn(name=contract.CLOSE_BATCH)
    async def close(ref: BatchRef) -> dict:
        return {"paid_fen": 36000, "held_fen": 0, "statements": 3}

    return [open_batch, settle_page, fail_unaudited, wait_audited, build, pay, close]


def write_histories(histories: dict[str, object], version: str) -> None:
    """Each history as tests/histories/<name>.<version>.json; earlier versions stay beside it, and a file already
    there is never overwritten (histories are append-only: give the new one a new version)."""
    for name, history in histories.items():
        path = HERE / f"{name}.{version}.json"
        if path.exists():
            print(f"kept {path.relative_to(HERE.parent.parent)} (recorded before; use a new version to add one)")
            continue
        path.write_text(json.dumps(history, indent=1))
        print(f"wrote {path.relative_to(HERE.parent.parent)}")


async def histories(env) -> dict[str, object]:
    """Each scenario's history as the server keeps it (payloads as stored: encrypted)."""
    world = FakeWorld()
    tq = f"rec-{uuid.uuid4().hex[:6]}"
    out: dict[str, object] = {}
    async with world.worker(env.client, tq, extra_activities=settlement_fakes()):
        now = await env.get_current_time()
        # an order that settles after the two-month wait, with a delivery exception on the way
        order = new_order(now)
        h = await env.client.start_workflow(OrderSettlementWorkflow.run, order, id=order_workflow_id(order.order_id), task_queue=tq)
        s = Script(order.order_id, now)
        happy = s.happy()
        await h.signal(OrderSettlementWorkflow.carrier_event, happy[0])
        await h.signal(OrderSettlementWorkflow.carrier_event, s.ev("delivery", timedelta(days=1), delivery_status="refused"))
        await env.sleep(timedelta(days=1, hours=2))
        for ev in happy[1:]:
            await h.signal(OrderSettlementWorkflow.carrier_event, ev)
        await env.sleep(timedelta(days=70))
        await h.signal(OrderSettlementWorkflow.audit_result, AuditResult(approved=True, month="000000", commission_fen=12000))
        await h.result()
        out["order_settled"] = (await h.fetch_history()).to_json_dict()

        # an order that fails for lack of a recharge
        order = new_order(now)
        h = await env.client.start_workflow(OrderSettlementWorkflow.run, order, id=order_workflow_id(order.order_id), task_queue=tq)
        for ev in Script(order.order_id, now).happy()[:3]:
            await h.signal(OrderSettlementWorkflow.carrier_event, ev)
        await h.result()
        out["order_recharge_missing"] = (await h.fetch_history()).to_json_dict()

        # a settlement batch: audit late, three pages, statements, payout
        h = await env.client.start_workflow(
            CarrierSettlementWorkflow.run, SettlementInput(carrier="china_mobile", month="202610"),
            id=f"settlement-china_mobile-202610-{uuid.uuid4().hex[:4]}", task_queue=tq,
        )
        await h.result()
        out["settlement_batch"] = (await h.fetch_history()).to_json_dict()

        # the Schedule's hop that gives last month's batch its business id
        h = await env.client.start_workflow(SettlementKickoffWorkflow.run, "china_unicom",
                                            id=f"settlement-kickoff-{uuid.uuid4().hex[:6]}", task_queue=tq)
        await env.client.get_workflow_handle(await h.result()).result()  # the batch it started: none left running
        out["settlement_kickoff"] = (await h.fetch_history()).to_json_dict()
    return out


async def record() -> None:
    from tests.histories.record_finance import finance_worker  # the batch reconciles on finance's queue

    env = await start_time_skipping()
    try:
        async with finance_worker(env.client):
            out = await histories(env)
        write_histories(out, VERSION)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

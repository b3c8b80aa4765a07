"""Benchmark: one carrier's month at scale, settled on the embedded stack.

    python -m bench.settlement [--orders 50000]

Starts the whole system in a scratch directory on free ports, then:

1. places the orders of one carrier (its products in turn) through the orders service, in the business database;
2. starts each order's workflow with its whole life as one push (signal-with-start, the payload the API would
   send), activations back-dated two months so every check point has passed, and scripts each number's status and
   audit line on the carrier simulator; waits until every order awaits the audit;
3. runs the carrier's settlement batch: the audit page by page (500 a page), failing the orders it never names,
   waiting for the audited ones to settle, statements, payouts, close.

The order placement bypasses HTTP and the pushes bypass the API's event store (bench/orders.py measures those):
what is measured here is the month. Prints the time of each phase and of each step of the batch (from its
histories), the peak memory (resident set) of each process, and the longest history of the batch (every run:
it continues as new) and of a sample of orders. The LAST line printed is one JSON object.
"""

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from bench.common import gather_limited, peak_memory_mb, wait_until
from core.db import make_engine
from core.temporal import connect
from db.orders import Order
from domain.clock import SHANGHAI, month_bounds, previous_month
from domain.orders.carrier_events import CarrierEventIn
from domain.orders.customer import Customer
from domain.orders.order import OrderStatus
from scripts.demo.order_stories import life, scenario
from scripts.demo.orders import PRODUCTS, seed_catalogue
from scripts.demo.people import CUSTOMER
from scripts.stack import Ports, Stack
from services.orders import stock
from services.orders.carrier_events import order_event_of
from services.orders.order import NewOrder, order_input, place_order, terms_of
from workflows.orders import contract as orders
from workflows.orders.contract import BatchSummary, OrderEvents, OrderInput, SettlementInput

CONCURRENCY = 32
CHUNK = 500
ORDER_SAMPLE = 200  # order histories read for the longest one (every order has the same life)


def _place(engine, carrier: str, n: int, run: str) -> list[tuple]:
    """The order rows, as `POST /orders` writes them; each order's workflow input, product and number."""
    products = [p for p in PRODUCTS if p.carrier == carrier]
    customer = Customer.model_validate(CUSTOMER)
    placed = []
    with Session(engine) as s:
        # every order's number comes from the stock (docs/fulfilment.md): one import of the N numbers first
        stock.import_numbers(s, "msisdn,product_id\n" + "".join(
            f"137{i:08d},{products[i % len(products)].id}\n" for i in range(n)), actor="bench")
        for i in range(n):
            product = products[i % len(products)]
            p = place_order(s, f"bench-settlement-{run}-{i}",
                            NewOrder(agent_id=["A002", "A003"][i % 2], product_id=product.id, msisdn=f"137{i:08d}",
                                     customer=customer))
            placed.append((order_input(p.order, terms_of(product)), product, f"137{i:08d}"))
    return placed


def _count(engine, carrier: str, status: OrderStatus) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(Order).where(Order.carrier == carrier,
                                                                    Order.status == status.value)).one()


async def _start_orders(client, sim, placed: list[tuple], month: str, start: datetime) -> None:
    async def one(i: int, inp: OrderInput, product, msisdn: str) -> None:
        wire = life(inp.order_id, msisdn, inp.terms, start + timedelta(minutes=i % 600))
        events = [order_event_of(CarrierEventIn.model_validate(w), inp.msisdn_fingerprint, inp.carrier) for w in wire]
        await client.start_workflow(
            orders.ORDER_WORKFLOW, inp, id=orders.order_workflow_id(inp.order_id), task_queue=orders.TASK_QUEUE,
            search_attributes=TypedSearchAttributes([SearchAttributePair(orders.CARRIER, inp.carrier),
                                                     SearchAttributePair(orders.AGENT_ID, inp.agent_id),
                                                     SearchAttributePair(orders.ORDER_STATUS, "placed")]),
            static_summary=orders.order_summary(inp),
            start_signal=orders.CARRIER_EVENTS, start_signal_args=[OrderEvents(events=events)])

    for c in range(0, len(placed), CHUNK):
        part = placed[c:c + CHUNK]
        # the carrier knows each number (its status at the check point) and audits it; no pushes from it here
        stories = [scenario(o.order_id, o.carrier, msisdn, [], audit_month=month, commission_fen=p.commission_fen)
                   for o, p, msisdn in part]
        (await sim.post("/sim/scenarios/batch", json=stories)).raise_for_status()
        await gather_limited((one(c + k, o, p, m) for k, (o, p, m) in enumerate(part)), CONCURRENCY)


async def _runs(client, workflow_id: str) -> list:
    """Every run of a workflow id (a batch continues as new), oldest first, each with its history."""
    runs = [w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    runs.sort(key=lambda w: w.start_time)
    return [await client.get_workflow_handle(workflow_id, run_id=w.run_id).fetch_history() for w in runs]


STEPS = {orders.SETTLE_AUDIT_PAGE: "audit_pages", orders.FAIL_UNAUDITED_ORDERS: "fail_unaudited",
         orders.WAIT_FOR_AUDITED_ORDERS: "wait_for_settled", orders.BUILD_STATEMENTS: "statements",
         orders.PAY_AGENTS: "payouts", orders.CLOSE_BATCH: "close", orders.OPEN_BATCH: "open"}


def _step_seconds(histories: list) -> dict[str, float]:
    """Seconds of each step of the batch, from scheduled to completed, summed over its activities and runs."""
    out: dict[str, float] = {}
    for h in histories:
        scheduled = {}
        for e in h.events:
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled[e.event_id] = (e.activity_task_scheduled_event_attributes.activity_type.name,
                                         e.event_time.ToDatetime())
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                name, at = scheduled[e.activity_task_completed_event_attributes.scheduled_event_id]
                step = STEPS.get(name, name)
                out[step] = round(out.get(step, 0.0) + (e.event_time.ToDatetime() - at).total_seconds(), 2)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=50_000, help="orders of the carrier's month (default 50000)")
    parser.add_argument("--carrier", default=PRODUCTS[0].carrier)
    parser.add_argument("--database-url", default=None,
                        help="business database (default: a fresh SQLite file in the scratch directory)")
    args = parser.parse_args()
    n, carrier = args.orders, args.carrier
    var = Path(tempfile.mkdtemp(prefix="bench-settlement-"))
    stack = Stack(var=var, ports=Ports.free(), database_url=args.database_url, ui=False, daily_every=0, quiet=True)
    print(f"starting the stack in {var} ...", flush=True)
    stack.start()
    phases: dict[str, float] = {}
    try:
        engine = make_engine(stack.env["SIMBO_DATABASE_URL"])
        seed_catalogue(engine)
        month = previous_month(datetime.now(SHANGHAI))
        start = month_bounds(previous_month(month_bounds(month)[0]))[0] + timedelta(days=3)
        client = await connect(stack.temporal_address)
        run = uuid.uuid4().hex[:6]

        t = time.monotonic()
        placed = await asyncio.to_thread(_place, engine, carrier, n, run)
        phases["place"] = time.monotonic() - t
        print(f"  placed {n} orders in {phases['place']:.1f}s", flush=True)

        t = time.monotonic()
        async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=120) as sim:
            await _start_orders(client, sim, placed, month, start)
        phases["start_orders"] = time.monotonic() - t
        await wait_until(lambda: asyncio.to_thread(_count, engine, carrier, OrderStatus.AWAITING_AUDIT), n,
                         "awaiting audit", timeout=120 + n)
        phases["to_awaiting_audit"] = time.monotonic() - t

        t = time.monotonic()
        batch_id = orders.settlement_workflow_id(carrier, month)
        handle = await client.start_workflow(orders.SETTLEMENT_WORKFLOW, SettlementInput(carrier=carrier, month=month),
                                             id=batch_id, task_queue=orders.TASK_QUEUE, result_type=BatchSummary)
        summary: BatchSummary = await handle.result()
        phases["settlement"] = time.monotonic() - t
        settled = await asyncio.to_thread(_count, engine, carrier, OrderStatus.SETTLED)
        print(f"  batch {batch_id}: {summary}; {settled} orders settled in {phases['settlement']:.1f}s", flush=True)

        memory = peak_memory_mb(stack)
        batch_runs = await _runs(client, batch_id)
        sample = [o.order_id for o, _, _ in placed[:: max(1, n // ORDER_SAMPLE)]]
        order_histories = await gather_limited(
            (client.get_workflow_handle(orders.order_workflow_id(o)).fetch_history() for o in sample), CONCURRENCY)
    finally:
        stack.stop()
    print(json.dumps({
        "orders": n,
        "carrier": carrier,
        "settled": settled,
        "failed": summary.failed,
        "pages": summary.pages,
        "statements": summary.statements,
        "paid_fen": summary.paid_fen,
        "seconds_per_phase": {k: round(v, 1) for k, v in phases.items()},
        "batch_seconds_per_step": _step_seconds(batch_runs),
        "peak_memory_mb": memory,
        "batch_runs": len(batch_runs),
        "longest_batch_history": max(len(h.events) for h in batch_runs),
        "longest_order_history": max(len(h.events) for h in order_histories),
    }))


if __name__ == "__main__":
    asyncio.run(main())

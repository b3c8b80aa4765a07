"""Benchmark: N orders end to end on the dev server, against a bare workflow with the same signals and timers.

    python -m bench.orders [--n 2000]

Starts the whole system (dev server, simulator, worker, API) in a scratch directory on free ports,
places N orders through the API, scripts their lives on the carrier simulator with activations two
months back (so the check point has passed and nobody waits a month), lets the simulator push the
events to our API, runs each carrier's settlement batch, and waits until every order has settled.
Then, on the same dev server, N bare workflows get the same number of signals and timers.
The LAST line printed is one JSON object with the figures.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from bench.bare import BareOrderWorkflow
from bench.common import gather_limited, print_cpu, total, wait_until
from core.db import make_engine
from core.temporal import connect
from domain.clock import SHANGHAI, month_bounds, previous_month
from scripts.demo.order_stories import life, scenario
from scripts.demo.orders import PRODUCTS, seed_catalogue
from scripts.demo.people import CUSTOMER
from scripts.stack import Ports, Stack
from services.orders.order import terms_of
from workflows.orders import contract as orders
from workflows.orders.contract import SettlementInput

CONCURRENCY = 32


async def _wait_count(api, status: str, n: int, label: str, timeout: float) -> None:
    await wait_until(lambda: total(api, "/orders", status=status), n, label, timeout)


async def run_ours(stack: Stack, n: int) -> dict:
    seed_catalogue(make_engine(stack.env["SIMBO_DATABASE_URL"]))
    now = datetime.now(SHANGHAI)
    month = previous_month(now)
    start = month_bounds(previous_month(month_bounds(month)[0]))[0] + timedelta(days=3)
    run = uuid.uuid4().hex[:6]
    client = await connect(stack.temporal_address)
    t0 = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.api_url, headers=await asyncio.to_thread(stack.staff_headers), timeout=120) as api, \
            httpx.AsyncClient(base_url=stack.simulator_url, timeout=120) as sim:
        # every order's number comes from the stock (docs/fulfilment.md): one import of the N numbers first
        numbers = "".join(f"139{i:08d},{PRODUCTS[i % len(PRODUCTS)].id}\n" for i in range(n))
        (await api.post("/stock/imports", content=f"msisdn,product_id\n{numbers}".encode(),
                        headers={"Content-Type": "text/csv"})).raise_for_status()
        print(f"  imported {n} stock numbers in {time.monotonic() - t0:.1f}s", flush=True)

        async def place(i: int) -> dict:
            product = PRODUCTS[i % len(PRODUCTS)]
            msisdn = f"139{i:08d}"
            r = await api.post("/orders", headers={"Idempotency-Key": f"bench-{run}-{i}"},
                               json={"agent_id": ["A002", "A003"][i % 2], "product_id": product.id, "msisdn": msisdn,
                                     **CUSTOMER})
            r.raise_for_status()
            oid = r.json()["id"]
            events = life(oid, msisdn, terms_of(product), start + timedelta(minutes=i % 600))
            return scenario(oid, product.carrier, msisdn, events, audit_month=month,
                            commission_fen=product.commission_fen)

        stories = []
        for chunk in range(0, n, 250):  # scripts go to the carrier as orders are placed, in chunks
            part = await gather_limited((place(i) for i in range(chunk, min(n, chunk + 250))), CONCURRENCY)
            (await sim.post("/sim/scenarios/batch", json=part)).raise_for_status()
            stories += part
        t_placed = time.monotonic()
        print(f"  placed {n} orders in {t_placed - t0:.1f}s", flush=True)
        await _wait_count(api, "awaiting_audit", n, "awaiting audit", timeout=60 + n)
        for carrier in sorted({p.carrier for p in PRODUCTS}):
            await client.start_workflow(orders.SETTLEMENT_WORKFLOW, SettlementInput(carrier=carrier, month=month),
                                        id=orders.settlement_workflow_id(carrier, month), task_queue=orders.TASK_QUEUE)
        await _wait_count(api, "settled", n, "settled", timeout=60 + n)
        seconds = time.monotonic() - t0

    sample = [s["order_id"] for s in stories[:: max(1, n // 25)]]
    lengths, timers, signals = [], [], []
    for oid in sample:
        history = await client.get_workflow_handle(orders.order_workflow_id(oid)).fetch_history()
        lengths.append(len(history.events))
        timers.append(sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED))
        signals.append(sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED))
    # the bare baseline gets what our orders really received, measured, not assumed
    return {"seconds": seconds, "history_events_per_order": statistics.mean(lengths),
            "timers_per_order": round(statistics.mean(timers)), "signals_per_order": round(statistics.mean(signals)),
            "client": client}


async def run_bare(client, n: int, signals: int, timers: int) -> float:
    tq = f"bare-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=tq, workflows=[BareOrderWorkflow],
                      activity_executor=ThreadPoolExecutor(2)):
        t0 = time.monotonic()

        async def one(i: int):
            h = await client.start_workflow(BareOrderWorkflow.run, args=[signals, timers],
                                            id=f"bare-{tq}-{i}", task_queue=tq)
            for k in range(signals):
                await h.signal(BareOrderWorkflow.event, {"k": k, "order": i})
            return h

        handles = await gather_limited((one(i) for i in range(n)), CONCURRENCY)
        await gather_limited((h.result() for h in handles), CONCURRENCY)
        return time.monotonic() - t0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="number of orders (default 2000)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--database-url", default=None,
                        help="business database (default: a fresh SQLite file in the scratch directory)")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="bench-orders-"))
    stack = Stack(var=var, ports=Ports.free(), database_url=args.database_url, ui=False, daily_every=0, quiet=True)
    print(f"starting the stack in {var} ...", flush=True)
    stack.start()
    try:
        ours = await run_ours(stack, args.n)
        print(f"  ours: {args.n} orders in {ours['seconds']:.1f}s; bare run ({ours['signals_per_order']} signals, {ours['timers_per_order']} timers each) ...",
              flush=True)
        print_cpu(stack)
        bare_seconds = await run_bare(ours["client"], args.n, ours["signals_per_order"], ours["timers_per_order"])
    finally:
        stack.stop()
    orders_per_s = args.n / ours["seconds"]
    bare_per_s = args.n / bare_seconds
    print(json.dumps({
        "orders": args.n,
        "seconds": round(ours["seconds"], 2),
        "orders_per_s": round(orders_per_s, 2),
        "bare_seconds": round(bare_seconds, 2),
        "bare_orders_per_s": round(bare_per_s, 2),
        "bare_ratio": round(orders_per_s / bare_per_s, 3),
        "history_events_per_order": round(ours["history_events_per_order"], 1),
        "signals_per_order": ours["signals_per_order"],
        "timers_per_order": ours["timers_per_order"],
    }))


if __name__ == "__main__":
    asyncio.run(main())

"""Benchmark: N orders end to end on the dev server, against two baselines with no business code.

    python -m bench.orders [--n 2000]

Starts the whole system (dev server, simulators, worker, API) in a scratch directory on free ports, places N
orders through the API, scripts their lives on the carrier simulator with activations two months back (so the
check point has passed and nobody waits a month), lets the simulator push the events to our API, runs each
carrier's settlement batch, and waits until every order has settled. Then, on the same dev server:

- the bare baseline (kept for continuity): N workflows that get the same number of signals and timers, as fast as
  the bench can drive them (`bare_ratio`: our orders per second over theirs);
- the same-shape baseline: N workflows with our orders' structure as their histories show it (the same steps,
  patch markers, local activities, search-attribute upserts, memo updates and timers, bench/bare.py) and no
  business code, each started and signalled at the times its order was (`same_shape_ratio`: what the same-shape
  workflows cost the machine per order over what ours cost, CPU of every process that served them; 1.0 would mean
  our code costs nothing beyond the structure).

CPU is counted per process (`/proc/<pid>/stat`) over each phase only: from the first order placed to the last
one settled, and over each baseline's own run; the stack's start-up is left out. The LAST line printed is one
JSON object with the figures.
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

from bench.bare import BareOrderWorkflow, SameShapeWorkflow, Shape, nothing, shape_of
from bench.common import gather_limited, print_cpu, total, wait_until
from core.db import make_engine
from core.settings import get_settings
from core.temporal import connect
from domain.clock import SHANGHAI, month_bounds, previous_month
from scripts.demo.order_stories import life, scenario
from scripts.demo.orders import PRODUCTS, seed_catalogue
from scripts.demo.people import CUSTOMER
from scripts.stack import Ports, Stack
from services.orders.order import terms_of
from worker import tuning
from workflows.orders import contract as orders
from workflows.orders.contract import SettlementInput

CONCURRENCY = 32
# the stack's processes by the name the figures use (Stack.cpu_seconds names them by command line)
PROCESS_NAMES = {"temporal": "temporal", "worker.py": "worker", "uvicorn": "api", "simulators.carrier": "carrier_simulator",
                 "simulators.sms_billing": "sms_billing_simulator", "simulators.payment_channel": "channel_simulator"}


def _cpu(stack: Stack) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, seconds in stack.cpu_seconds().items():
        short = next((v for k, v in PROCESS_NAMES.items() if k in name), name)
        out[short] = out.get(short, 0.0) + seconds
    return out


def _per_order(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    """ms of CPU per order of each process between two snapshots, and their total."""
    out = {k: round((after.get(k, 0.0) - before.get(k, 0.0)) * 1000 / n, 1) for k in after}
    out["total"] = round(sum(out.values()), 1)
    return out


async def _wait_count(api, status: str, n: int, label: str, timeout: float) -> None:
    await wait_until(lambda: total(api, "/orders", status=status), n, label, timeout)


async def _histories(client, workflow_ids: list[str]) -> list:
    return await gather_limited((client.get_workflow_handle(w).fetch_history() for w in workflow_ids), CONCURRENCY)


def _count(history, kind) -> int:
    return sum(1 for e in history.events if e.event_type == kind)


async def run_ours(stack: Stack, n: int) -> dict:
    seed_catalogue(make_engine(stack.env["SIMBO_DATABASE_URL"]))
    now = datetime.now(SHANGHAI)
    month = previous_month(now)
    start = month_bounds(previous_month(month_bounds(month)[0]))[0] + timedelta(days=3)
    run = uuid.uuid4().hex[:6]
    client = await connect(stack.temporal_address)
    cpu_before = _cpu(stack)
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
    cpu = _per_order(cpu_before, _cpu(stack), n)

    histories = await _histories(client, [orders.order_workflow_id(s["order_id"]) for s in stories])
    return {"seconds": seconds, "client": client, "cpu_ms_per_order": cpu,
            "history_events_per_order": statistics.mean(len(h.events) for h in histories),
            "workflow_task_timeouts": sum(_count(h, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) for h in histories),
            "timers_per_order": round(statistics.mean(_count(h, EventType.EVENT_TYPE_TIMER_STARTED) for h in histories)),
            "signals_per_order": round(statistics.mean(_count(h, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
                                                       for h in histories)),
            # each order's structure and timing, for the same-shape baseline
            "shapes": [shape_of(h) for h in histories],
            "start_offsets_s": [(h.events[0].event_time.ToDatetime() - histories[0].events[0].event_time.ToDatetime())
                                .total_seconds() for h in histories]}


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


async def run_same_shape(stack: Stack, client, shapes: list[Shape], start_offsets: list[float]) -> dict:
    """Each order's structure replayed by a workflow with no business code, started and signalled at its times."""
    tq = f"same-shape-{uuid.uuid4().hex[:6]}"
    gate = asyncio.Semaphore(CONCURRENCY)
    cpu_before, own_before = _cpu(stack), time.process_time()
    s = get_settings()  # the same worker options as ours: the baseline differs by the business code only
    async with Worker(client, task_queue=tq, workflows=[SameShapeWorkflow], activities=[nothing],
                      activity_executor=ThreadPoolExecutor(4), max_cached_workflows=s.max_cached_workflows,
                      **tuning(s)):
        t0 = time.monotonic()

        async def at(offset: float) -> None:
            await asyncio.sleep(max(0.0, t0 + offset - time.monotonic()))

        async def one(i: int, shape: Shape) -> object:
            await at(start_offsets[i])
            async with gate:  # as the API starts an order: its search attributes and memo come with the start
                h = await client.start_workflow(
                    SameShapeWorkflow.run, shape, id=f"{tq}-{i}", task_queue=tq, memo={"summary": "same shape"},
                    search_attributes=_start_attributes())
            for k, offset in enumerate(shape.signal_offsets_s):
                await at(start_offsets[i] + offset)
                async with gate:
                    await h.signal(SameShapeWorkflow.event, {"pad": "x" * shape.signal_bytes[k]})
            return h

        handles = await asyncio.gather(*(one(i, s) for i, s in enumerate(shapes)))
        await gather_limited((h.result() for h in handles), CONCURRENCY)
        seconds = time.monotonic() - t0
    after, own = _cpu(stack), time.process_time() - own_before
    n = len(shapes)
    cpu = {"temporal": round((after["temporal"] - cpu_before["temporal"]) * 1000 / n, 1),
           "bench_worker": round(own * 1000 / n, 1)}  # the workflows' worker and their driver, in this process
    cpu["total"] = round(sum(cpu.values()), 1)
    histories = await _histories(client, [h.id for h in handles])
    return {"seconds": seconds, "cpu_ms_per_order": cpu,
            "history_events_per_order": statistics.mean(len(h.events) for h in histories),
            "workflow_task_timeouts": sum(_count(h, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) for h in histories)}


def _start_attributes():
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    return TypedSearchAttributes([SearchAttributePair(orders.CARRIER, "china_mobile"),
                                  SearchAttributePair(orders.AGENT_ID, "A002"),
                                  SearchAttributePair(orders.ORDER_STATUS, "placed")])


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
        print(f"  ours: {args.n} orders in {ours['seconds']:.1f}s, CPU ms per order {ours['cpu_ms_per_order']}", flush=True)
        print_cpu(stack)
        print(f"  bare run ({ours['signals_per_order']} signals, {ours['timers_per_order']} timers each) ...", flush=True)
        bare_seconds = await run_bare(ours["client"], args.n, ours["signals_per_order"], ours["timers_per_order"])
        print("  same-shape run (our orders' structure and times, no business code) ...", flush=True)
        same = await run_same_shape(stack, ours["client"], ours["shapes"], ours["start_offsets_s"])
        print(f"  same shape: {same['history_events_per_order']:.1f} events each, CPU ms per order {same['cpu_ms_per_order']}",
              flush=True)
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
        "same_shape_ratio": round(same["cpu_ms_per_order"]["total"] / ours["cpu_ms_per_order"]["total"], 3),
        "cpu_ms_per_order": {"ours": ours["cpu_ms_per_order"], "same_shape": same["cpu_ms_per_order"]},
        "workflow_task_timeouts": ours["workflow_task_timeouts"],
        "same_shape_workflow_task_timeouts": same["workflow_task_timeouts"],
        "history_events_per_order": round(ours["history_events_per_order"], 1),
        "same_shape_history_events_per_order": round(same["history_events_per_order"], 1),
        "signals_per_order": ours["signals_per_order"],
        "timers_per_order": ours["timers_per_order"],
    }))


if __name__ == "__main__":
    asyncio.run(main())

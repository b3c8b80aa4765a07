"""Benchmark: the API under a mixed read/write load at a fixed rate, for a bounded time.

    python -m bench.api_load [--rate 50] [--seconds 60] [--reads 0.8]

Starts the whole system (dev server, simulators, worker, API) on embedded defaults in a scratch directory on free
ports, loads a little reference data, then sends requests at a fixed rate whatever the answers' speed (an open
loop: a slow answer does not slow the load, as real clients would not): detail reads of orders, refunds, payments,
complaints, their fee returns and a settlement batch, mixed with writes (orders placed, refunds requested,
complaints registered). The LAST line printed is one JSON object: requests, errors, p50 and p99 in ms.
Target on this machine's 2 cores: 0 errors and p99 under 500 ms at 50 requests/s.
"""

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlmodel import Session

from core.db import make_engine
from db.orders import SettlementBatch
from scripts.demo.orders import PRODUCTS, seed_catalogue
from scripts.demo.people import CUSTOMER
from scripts.demo.refunds import seed_refund_catalogue
from scripts.stack import Ports, Stack


def seed_reference(stack: Stack) -> None:
    engine = make_engine(stack.env["SIMBO_DATABASE_URL"])
    seed_catalogue(engine)
    seed_refund_catalogue(engine)
    with Session(engine) as s:
        s.add(SettlementBatch(id="settlement-china_mobile-202610", carrier="china_mobile", month="202610"))
        s.commit()
    engine.dispose()


async def prepare(staff: httpx.AsyncClient, merchant: httpx.AsyncClient) -> dict[str, str]:
    order = (await staff.post("/orders", json={"agent_id": "A002", "product_id": PRODUCTS[0].id,
                                               "msisdn": "13800138000", **CUSTOMER},
                              headers={"Idempotency-Key": "load-o"})).json()
    (await staff.post("/payments", json={
        "id": "P-LOAD", "merchant_id": "M001", "merchant_order_no": "SO-LOAD", "channel": "unionpay",
        "product": "quick", "paid_fen": 100_000_000, "fee_fen": 50, "consumer_card_masked": "6222****8888",
        "paid_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()})).raise_for_status()
    refund = (await merchant.post("/refunds", json={"merchant_id": "M001", "merchant_refund_no": "RN-LOAD-0",
                                                    "payment_id": "P-LOAD", "amount_fen": 100,
                                                    "reason": "returned"})).json()
    complaint = (await staff.post("/complaints", headers={"Idempotency-Key": "load-c"}, json={
        "msisdn": "13800138000", "customer": "standard", "source": "hotline", "ctype": "billing",
        "receiving_department": "complaint_desk", "text": "charged twice"})).json()
    return {"order": order["id"], "refund": refund["id"], "complaint": complaint["id"]}


async def load(stack: Stack, rate: float, seconds: float, reads: float, seed: int) -> dict:
    rng = random.Random(seed)
    await asyncio.to_thread(seed_reference, stack)
    staff_headers = await asyncio.to_thread(stack.staff_headers)
    merchant_headers = await asyncio.to_thread(stack.merchant_headers)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=stack.api_url, headers=staff_headers, timeout=30, limits=limits) as staff, \
            httpx.AsyncClient(base_url=stack.api_url, headers=merchant_headers, timeout=30, limits=limits) as merchant:
        ids = await prepare(staff, merchant)
        detail = [f"/orders/{ids['order']}", f"/refunds/{ids['refund']}", "/payments/P-LOAD",
                  f"/complaints/{ids['complaint']}", f"/complaints/{ids['complaint']}/fee-returns",
                  "/settlements/settlement-china_mobile-202610"]
        latencies: list[float] = []
        errors: dict[str, int] = {}

        async def one(n: int) -> None:
            started = time.perf_counter()
            try:
                if rng.random() < reads:
                    r = await staff.get(rng.choice(detail))
                elif n % 3 == 0:
                    r = await staff.post("/orders", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
                        "agent_id": "A002", "product_id": PRODUCTS[0].id, "msisdn": f"1380{n % 10_000_000:07d}",
                        **CUSTOMER})
                elif n % 3 == 1:
                    r = await merchant.post("/refunds", json={"merchant_id": "M001", "merchant_refund_no": f"RN-LOAD-{n}",
                                                              "payment_id": "P-LOAD", "amount_fen": 100,
                                                              "reason": "returned"})
                else:
                    r = await staff.post("/complaints", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
                        "msisdn": f"1390{n % 10_000_000:07d}", "customer": "standard", "source": "hotline",
                        "ctype": "billing", "receiving_department": "complaint_desk", "text": "load"})
                if r.status_code >= 400:
                    errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
            except httpx.HTTPError as err:
                errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
            latencies.append((time.perf_counter() - started) * 1000)

        tasks, start, n = [], time.perf_counter(), 0
        while (elapsed := time.perf_counter() - start) < seconds:
            due = n / rate
            if due > elapsed:
                await asyncio.sleep(due - elapsed)
            tasks.append(asyncio.create_task(one(n)))
            n += 1
        await asyncio.gather(*tasks)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return {"rate_per_s": rate, "seconds": seconds, "reads_share": reads, "requests": len(latencies),
            "errors": sum(errors.values()), "errors_by_kind": errors, "p50_ms": round(cuts[49], 1),
            "p99_ms": round(cuts[98], 1), "max_ms": round(max(latencies, default=0.0), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reads", type=float, default=0.8, help="share of detail reads; the rest are writes")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    stack = Stack(var=Path(tempfile.mkdtemp(prefix="simbo-load-")), ports=Ports.free(), ui=False, daily_every=0,
                  quiet=True)
    stack.start()
    try:
        figures = asyncio.run(load(stack, args.rate, args.seconds, args.reads, args.seed))
    finally:
        stack.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

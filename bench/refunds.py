"""Benchmark: a flash-sale burst of N partial refunds over a few hundred payments, against the channel simulator.

    python -m bench.refunds [--n 1000]

Starts the whole system (dev server, simulators, worker, API) in a scratch directory on free ports, records
N/4 payments of 100.00 through the API, scripts each payment's behaviour on the payment-channel simulator
with a realistic mix of failures (too frequent, never received, timeouts, accepted-then-failed, 5xx after
accepting, void card, unknown codes, amount mismatch, a statement that disagrees, ...), then fires N
partial refund requests at once (64 in flight), some of them more than what is left of their payment.
It waits until every accepted refund is succeeded, failed or in the manual queue.

To finish in minutes, not hours, the channels' delays are shortened the way ops could: the error table's
retry delays (PUT /refund-error-mappings), the sweep's backoff, the query-back delays and the channel timeout
(settings). The LAST line printed is one JSON object with the figures.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import update
from sqlmodel import Session, select

from bench.common import gather_limited, print_cpu, total, wait_until
from core.db import make_engine
from core.temporal import connect
from db.refunds import Payment, Refund, RefundChannel
from scripts.demo.refunds import seed_refund_catalogue
from scripts.schedules.refunds import ensure_refund_sweep_schedule
from scripts.stack import Ports, Stack

ENV = {"SIMBO_CHANNEL_TIMEOUT_S": "2", "SIMBO_REFUND_SEND_TIMEOUT_S": "6", "SIMBO_REFUND_QUERY_BACKS_S": "1,3,10"}
MIX = [  # (behaviour, weight, script extras)
    ("ok", 60, {}), ("too_frequent", 8, {}), ("never_received", 5, {}), ("timeout", 4, {"delay_s": 3}),
    ("accepted_then_failed", 4, {"code": "TOO_FREQUENT"}), ("accepted_then_succeeded", 5, {}),
    ("server_error_after_accept", 3, {}), ("void_card", 3, {}), ("unknown_code", 2, {}),
    ("daily_volume", 2, {}), ("amount_mismatch", 1, {}), ("statement_mismatch", 1, {}),
    ("slow", 2, {"delay_s": 0.5}),
]
CHANNELS = ["unionpay", "wechat"]
TERMINAL = ("succeeded", "failed", "manual_review")
CONCURRENCY = 64


async def run(stack: Stack, n: int, seed: int) -> dict:
    rng = random.Random(seed)
    engine = make_engine(stack.env["SIMBO_DATABASE_URL"])
    seed_refund_catalogue(engine)
    with Session(engine) as s:  # the sweep's backoff, shortened for the benchmark
        s.exec(update(RefundChannel).values(sweep_backoff_s="2,5,10"))
        s.commit()
    client = await connect(stack.temporal_address)
    await ensure_refund_sweep_schedule(client, every_s=2)
    run_id = uuid.uuid4().hex[:6]
    payments = max(20, n // 4)
    behaviours = [b for b, w, _ in MIX for _ in range(w)]
    extras = {b: x for b, _, x in MIX}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=await asyncio.to_thread(stack.staff_headers), timeout=120) as api, \
            httpx.AsyncClient(base_url=stack.channel_url, timeout=120) as sim:
        for code, delay in (("TOO_FREQUENT", 2), ("DAILY_VOLUME_LOW", 3)):
            (await api.put("/refund-error-mappings", json={
                "channel": "*", "raw_code": code, "internal_code": code.lower(), "action": "new_serial_retry_later",
                "merchant_message": "The channel asked us to retry later; we do it automatically.",
                "retry_after_s": delay})).raise_for_status()
        pids = [f"PB{run_id}-{i}" for i in range(payments)]
        scripts = []
        for pid in pids:
            b = rng.choice(behaviours)
            scripts.append({"payment_id": pid, "channel": CHANNELS[len(scripts) % 2], "paid_fen": 10_000,
                            "behaviour": b, "times": 1, "settle_after_s": 1, **extras[b]})
        (await sim.post("/sim/payments", json=scripts)).raise_for_status()
        paid_at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()

        async def pay(sc):
            r = await api.post("/payments", json={
                "id": sc["payment_id"], "merchant_id": "M001", "merchant_order_no": f"SO-{sc['payment_id']}",
                "channel": sc["channel"], "product": "quick", "paid_fen": 10_000, "fee_fen": 60,
                "consumer_card_masked": "6222****0000", "paid_at": paid_at})
            r.raise_for_status()

        await gather_limited((pay(sc) for sc in scripts), CONCURRENCY)
        print(f"  recorded {payments} payments; firing {n} refunds ...", flush=True)
        callback = f"{stack.channel_url}/merchant/callbacks"

        merchant = httpx.AsyncClient(base_url=stack.api_url, timeout=120,
                                     headers=await asyncio.to_thread(stack.merchant_headers, "M001"))

        async def ask(i: int) -> int:
            r = await merchant.post("/refunds", json={
                "merchant_id": "M001", "merchant_refund_no": f"RB{run_id}-{i}", "payment_id": pids[i % payments],
                "amount_fen": rng.choice([1_000, 2_000, 2_500, 3_000, 4_000]), "reason": "flash sale cancelled",
                "callback_url": callback})
            if r.status_code not in (201, 422):
                r.raise_for_status()
            return r.status_code

        t0 = time.monotonic()
        codes = await gather_limited((ask(i) for i in range(n)), CONCURRENCY)
        await merchant.aclose()
        accepted = codes.count(201)
        t_requested = time.monotonic() - t0
        print(f"  {accepted} accepted, {codes.count(422)} refused (over the remaining amount) in {t_requested:.1f}s",
              flush=True)
        async def terminal() -> int:
            return sum([await total(api, "/refunds", status=s) for s in TERMINAL])

        await wait_until(terminal, accepted, "terminal", 600 + n)
        seconds = time.monotonic() - t0
        stats = (await sim.get("/sim/stats")).json()

    with Session(engine) as s:
        rows = s.exec(select(Refund).where(Refund.merchant_refund_no.startswith(f"RB{run_id}-"))).all()  # type: ignore[attr-defined]
        pays = s.exec(select(Payment).where(Payment.id.in_(pids))).all()  # type: ignore[attr-defined]
    by = {st: [r for r in rows if r.status == st] for st in TERMINAL}
    latencies = sorted(((r.finished_at or r.updated_at) - r.created_at).total_seconds()
                       for r in rows if r.status in TERMINAL)
    over_db = sum(1 for p in pays if p.succeeded_fen > p.paid_fen or p.committed_fen > p.paid_fen)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return {
        "refunds": n,
        "accepted": accepted,
        "refused_over_remaining": codes.count(422),
        "payments": payments,
        "seconds": round(seconds, 2),
        "refunds_per_s": round(len(latencies) / seconds, 2),
        "succeeded": len(by["succeeded"]),
        "failed_final": len(by["failed"]),
        "manual": len(by["manual_review"]),
        "not_terminal": accepted - len(latencies),
        "over_refunds": over_db + stats["over_refunds"],
        "duplicate_channel_refunds": stats["duplicate_channel_refunds"],
        "duplicate_serial_requests": stats["duplicate_serial_requests"],
        "concurrent_serial_requests": stats["concurrent_serial_requests"],
        "channel_refund_requests": stats["refund_requests"],
        "channel_query_requests": stats["query_requests"],
        "merchant_callbacks": stats["callbacks"],
        "p50_s": round(statistics.median(latencies), 2) if latencies else 0.0,
        "p99_s": round(p99, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="number of refund requests (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.environ.update(ENV)
    var = Path(tempfile.mkdtemp(prefix="bench-refunds-"))
    stack = Stack(var=var, ports=Ports.free(), ui=False, daily_every=0, quiet=True)
    print(f"starting the stack in {var} ...", flush=True)
    stack.start()
    try:
        figures = await run(stack, args.n, args.seed)
        print_cpu(stack)
    finally:
        stack.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())

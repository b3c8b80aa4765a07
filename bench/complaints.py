"""Benchmark: N complaints of mixed levels through the API on the dev server, each transferred once and replied.

    python -m bench.complaints [--n 5000]

Starts the whole system (dev server, simulators, worker, API) in a scratch directory on free ports.
Phase 1 registers N complaints (levels 1-4 and regulator, every 10th one received so long ago that its
due time has already passed); phase 2 transfers each to another department, which accepts and replies.

missed_deadline_notices: complaints whose due time passed before their reply but that got no supervision
notice (department inbox row) by the time of the reply. It must be 0: the overdue ones were registered
already past due, so each workflow must notice at once, before the departments act on it.
The LAST line printed is one JSON object with the figures.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func
from sqlmodel import Session, select

from bench.common import gather_limited, print_cpu, wait_until
from core.db import make_engine
from core.temporal import connect
from db.complaints import Complaint, ComplaintEvent, ComplaintNotice
from domain.complaints.complaint import (
    CLOCK_LIMITS,
    ComplaintType,
    Customer,
    Department,
    Level,
    Source,
    classify,
    due_time,
)
from domain.workdays import WorkCalendar
from scripts.stack import Ports, Stack
from workflows.complaints.contract import complaint_workflow_id

CONCURRENCY = 32
# (source, customer, type) giving each level
MIX = [
    (Source.MEDIA, Customer.STANDARD, ComplaintType.BILLING),  # 1
    (Source.HOTLINE, Customer.VIP, ComplaintType.BILLING),  # 1
    (Source.HOTLINE, Customer.PREMIUM, ComplaintType.BILLING),  # 2
    (Source.HOTLINE, Customer.STANDARD, ComplaintType.MMS),  # 3
    (Source.COUNTER, Customer.STANDARD, ComplaintType.BILLING),  # 3
    (Source.HOTLINE, Customer.STANDARD, ComplaintType.NETWORK_COVERAGE),  # 4
    (Source.MINISTRY_FORWARDED, Customer.STANDARD, ComplaintType.BILLING),  # regulator
]
RECEIVERS = [Department.COMPLAINT_DESK, Department.BRANCH_SHUNQING, Department.BRANCH_GAOPING]
HANDLERS = [Department.BILLING, Department.NETWORK, Department.DATA]


def _received_at(i: int, now: datetime, level: Level) -> datetime | None:
    """Every 10th complaint arrived long enough ago that it is overdue at registration."""
    if i % 10:
        return None
    if level == Level.REGULATOR:
        at = now - timedelta(days=12)
        assert due_time(level, False, at, WorkCalendar()).due_at < now
        return at
    return now - CLOCK_LIMITS[level] - timedelta(hours=1)


async def run(stack: Stack, n: int) -> dict:
    run_id = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    client = await connect(stack.temporal_address)
    engine = make_engine(stack.env["SIMBO_DATABASE_URL"])
    t0 = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.api_url, headers=await asyncio.to_thread(stack.staff_headers), timeout=120) as api:

        async def register(i: int) -> dict:
            source, customer, ctype = MIX[i % len(MIX)]
            level = classify(source, customer, ctype).level
            body = {"msisdn": f"137{i:08d}", "customer": customer.value, "source": source.value, "ctype": ctype.value,
                    "receiving_department": RECEIVERS[i % len(RECEIVERS)].value, "text": f"bench complaint {i}"}
            at = _received_at(i, now, level)
            if at is not None:
                body["received_at"] = at.isoformat()
            r = await api.post("/complaints", json=body, headers={"Idempotency-Key": f"bench-{run_id}-{i}"})
            r.raise_for_status()
            return r.json()

        async def handle(c: dict, i: int) -> None:
            cid, frm, to = c["id"], c["receiving_department"], HANDLERS[i % len(HANDLERS)].value
            for path, body in ((f"/complaints/{cid}/transfer", {"department": frm, "to": to}),
                               (f"/complaints/{cid}/accept", {"department": to}),
                               (f"/complaints/{cid}/reply", {"department": to, "findings": "checked the bill",
                                                            "handling": "corrected the charge",
                                                            "reply_to_customer": "the charge was corrected"})):
                r = await api.post(path, json=body)
                if r.status_code != 200:
                    raise SystemExit(f"{path}: {r.status_code} {r.text}")

        complaints = await gather_limited((register(i) for i in range(n)), CONCURRENCY)
        t_registered = time.monotonic()
        print(f"  registered {n} complaints in {t_registered - t0:.1f}s", flush=True)
        await _wait_registered(engine, n)
        await gather_limited((handle(c, i) for i, c in enumerate(complaints)), CONCURRENCY)
        await _wait_replied(engine, n)
        seconds = time.monotonic() - t0

    sample = [c["id"] for c in complaints[:: max(1, n // 25)]]
    lengths = []
    for cid in sample:
        history = await client.get_workflow_handle(complaint_workflow_id(cid)).fetch_history()
        lengths.append(len(history.events))
    with Session(engine) as s:
        missed, overdue, notices = _missed_notices(s)
        levels = Counter(s.exec(select(Complaint.level)).all())
    return {"complaints": n, "seconds": round(seconds, 2), "complaints_per_s": round(n / seconds, 2),
            "history_events_per_complaint": round(statistics.mean(lengths), 1),
            "missed_deadline_notices": missed, "overdue_before_reply": overdue, "supervision_notices": notices,
            "register_seconds": round(t_registered - t0, 2), "levels": dict(sorted(levels.items()))}


def _count(engine, stmt) -> int:
    with Session(engine) as s:
        return int(s.exec(stmt).one())


async def _wait_registered(engine, n: int, timeout: float = 1800) -> None:
    """Phase 2 starts once every workflow has run its first task (its `registered` event is recorded)."""
    await _wait(engine, select(func.count()).select_from(ComplaintEvent).where(ComplaintEvent.kind == "registered"),
                n, "workflows running", timeout)


async def _wait_replied(engine, n: int, timeout: float = 1800) -> None:
    await _wait(engine, select(func.count()).select_from(Complaint).where(Complaint.state == "awaiting_customer"),
                n, "replied", timeout)


async def _wait(engine, stmt, n: int, label: str, timeout: float) -> None:
    async def count() -> int:
        return _count(engine, stmt)

    await wait_until(count, n, label, timeout)


def _missed_notices(s: Session) -> tuple[int, int, int]:
    """(complaints past due before their reply without a supervision notice before it, such complaints, notices)."""
    replied = {e.complaint_id: e.at for e in s.exec(select(ComplaintEvent).where(ComplaintEvent.kind == "replied")).all()}
    first_notice: dict[str, datetime] = {}
    notices = s.exec(select(ComplaintNotice).where(ComplaintNotice.kind == "supervision")).all()
    for nt in notices:
        if nt.complaint_id not in first_notice or nt.at < first_notice[nt.complaint_id]:
            first_notice[nt.complaint_id] = nt.at
    overdue = missed = 0
    for c in s.exec(select(Complaint)).all():
        at = replied.get(c.id)
        if at is None or c.due_at >= at:
            continue
        overdue += 1
        if c.id not in first_notice or first_notice[c.id] > at:
            missed += 1
    return missed, overdue, len(notices)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="number of complaints (default 5000)")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="bench-complaints-"))
    stack = Stack(var=var, ports=Ports.free(), ui=False, daily_every=0, quiet=True)
    print(f"starting the stack in {var} ...", flush=True)
    stack.start()
    try:
        figures = await run(stack, args.n)
        print_cpu(stack)
    finally:
        stack.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())

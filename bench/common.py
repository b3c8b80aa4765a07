"""What every benchmark shares: bounded concurrency, the CPU split and the peak memory of the stack's processes."""

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

from scripts.stack import Stack

T = TypeVar("T")


async def gather_limited(coros: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Await every coroutine, at most `limit` at a time (a burst of clients, not an unbounded flood)."""
    gate = asyncio.Semaphore(limit)

    async def one(c: Awaitable[T]) -> T:
        async with gate:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def wait_until(count: Callable[[], Awaitable[int]], n: int, label: str, timeout: float) -> int:
    """Poll `count` each second until it reaches `n`, printing each change; give up after `timeout` seconds."""
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        got = await count()
        if got != last:
            print(f"  {label}: {got}/{n}", flush=True)
            last = got
        if got >= n:
            return got
        await asyncio.sleep(1)
    raise SystemExit(f"timed out: only {last}/{n} {label}")


async def total(api, path: str, **params: str) -> int:
    """The `total` of one of our API's list pages (one row fetched)."""
    r = await api.get(path, params={**params, "limit": 1})
    r.raise_for_status()
    return r.json()["total"]


def print_cpu(stack: Stack) -> None:
    """CPU seconds each process of the stack used so far: where the time went."""
    cpu = stack.cpu_seconds()
    print("  CPU seconds by process: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()), flush=True)


def peak_memory_mb(stack: Stack) -> dict[str, float]:
    """The peak resident memory (VmHWM) of each process of the stack so far, and of this benchmark, in MB."""
    out = {}
    for p in stack.procs:
        try:
            status = Path(f"/proc/{p.pid}/status").read_text()
        except OSError:
            continue
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
        name = Path(str(p.args[0])).name + ":" + " ".join(str(a) for a in p.args[1:3])
        out[name] = round(kb / 1024, 1)
    out["bench"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out

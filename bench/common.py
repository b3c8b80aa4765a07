"""What every benchmark shares: bounded concurrency and the CPU split of the stack's processes."""

import asyncio
from collections.abc import Awaitable, Iterable
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


def print_cpu(stack: Stack) -> None:
    """CPU seconds each process of the stack used so far: where the time went."""
    cpu = stack.cpu_seconds()
    print("  CPU seconds by process: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()), flush=True)

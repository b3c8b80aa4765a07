"""Waiting in tests for what another process does (no sleeps that guess a duration)."""

import asyncio


async def poll(fetch, predicate, what: str, attempts: int = 240, every: float = 0.5):
    """Fetch until `predicate` holds; fail naming `what` and the last thing seen."""
    last = None
    for _ in range(attempts):
        last = await fetch()
        if predicate(last):
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"{what} never happened; last seen: {last}")

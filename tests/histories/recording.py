"""What every recorder does once its scenarios are written: run them on a time-skipping server of their own and
write each history beside the earlier ones (`write_histories`: never over a file already there)."""

import asyncio
from collections.abc import Awaitable, Callable

from tests.histories.record import write_histories
from tests.temporal_env import start_time_skipping


def record_main(histories: Callable[[object], Awaitable[dict[str, object]]], version: str) -> None:
    async def record() -> None:
        env = await start_time_skipping()
        try:
            write_histories(await histories(env), version)
        finally:
            await env.shutdown()

    asyncio.run(record())

"""What a Temporal namespace needs before the system runs: search attributes and every Schedule.

`make run` calls it on each start; in production the compose job `temporal-setup` runs
`python -m scripts.setup` once per deploy. Idempotent.
"""

import asyncio

from temporalio.client import Client

from scripts.schedules.complaints import ensure_calendar_check_schedule
from scripts.schedules.orders import ensure_order_repair_schedule, ensure_settlement_schedules
from scripts.schedules.refunds import ensure_refund_repair_schedule, ensure_refund_sweep_schedule
from scripts.search_attributes import register_search_attributes


async def set_up(client: Client) -> list[str]:
    await register_search_attributes(client)
    return [
        *await ensure_settlement_schedules(client),
        await ensure_calendar_check_schedule(client),
        await ensure_refund_sweep_schedule(client),
        await ensure_order_repair_schedule(client),
        await ensure_refund_repair_schedule(client),
    ]


async def main() -> None:
    from core.temporal import connect

    schedules = await set_up(await connect())
    print("search attributes registered; schedules: " + ", ".join(schedules))


if __name__ == "__main__":
    asyncio.run(main())

"""Register the custom search attributes ops filter on (`python -m scripts.search_attributes`).

The dev server gets them as `--search-attribute` flags (scripts/stack.py); the time-skipping test
server and a production cluster get them through the operator service, here. Idempotent.
"""

import asyncio

from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core import search_attributes as sa
from worker import SEARCH_ATTRIBUTES


async def register_search_attributes(client: Client) -> None:
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:  # the time-skipping test server does not list them; it accepts a fresh add
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {k.name: sa.indexed_value_type(k) for k in SEARCH_ATTRIBUTES if k.name not in existing}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )


async def main() -> None:
    from core.temporal import connect

    client = await connect()
    await register_search_attributes(client)
    print("search attributes registered: " + ", ".join(k.name for k in SEARCH_ATTRIBUTES))


if __name__ == "__main__":
    asyncio.run(main())

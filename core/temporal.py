"""One way to reach Temporal, shared by the API, the worker, scripts and benchmarks."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from core.settings import get_settings


async def connect(address: str | None = None, namespace: str | None = None) -> Client:
    s = get_settings()
    return await Client.connect(
        address or s.temporal_address,
        namespace=namespace or s.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


def order_workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


def settlement_workflow_id(carrier: str, month: str) -> str:
    return f"settlement-{carrier}-{month}"

"""One way to reach Temporal, shared by the API, the worker, scripts and benchmarks, and the helpers every
business uses: a live query that degrades instead of failing, and Schedules ensured on every start."""

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import structlog
from temporalio.client import Client, Schedule, ScheduleAlreadyRunningError, ScheduleUpdate, ScheduleUpdateInput
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from core import crypto, telemetry
from core.settings import Settings, get_settings

T = TypeVar("T")
log = structlog.get_logger(__name__)


def connect_options(s: Settings) -> dict:
    """TLS (mTLS when a client certificate is set) and the API key, from settings; nothing for the dev server."""
    options: dict = {}
    if s.temporal_tls or s.temporal_tls_client_cert or s.temporal_api_key:
        def read(path: str) -> bytes | None:
            return Path(path).read_bytes() if path else None

        options["tls"] = TLSConfig(client_cert=read(s.temporal_tls_client_cert),
                                   client_private_key=read(s.temporal_tls_client_key),
                                   server_root_ca_cert=read(s.temporal_tls_server_ca),
                                   domain=s.temporal_tls_server_name or None)
    if s.temporal_api_key:
        options["api_key"] = s.temporal_api_key
    return options


async def connect(address: str | None = None, namespace: str | None = None, runtime: Runtime | None = None) -> Client:
    """Every payload this client sends is encrypted (core/crypto.py); outside development it refuses the
    repository's development key ring. `runtime`: the worker passes one serving the SDK's Prometheus metrics
    (core/telemetry.py)."""
    s = get_settings()
    crypto.check_settings(s)
    return await Client.connect(
        address or s.temporal_address,
        namespace=namespace or s.temporal_namespace,
        data_converter=crypto.data_converter(),
        interceptors=telemetry.client_interceptors(s),
        runtime=runtime,
        **connect_options(s),
    )


QUERY_TIMEOUT_S = 5.0


async def live_query(client: Client | None, workflow_id: str, query: str, result_type: type[T],
                     timeout: float = QUERY_TIMEOUT_S) -> tuple[T | None, str]:
    """A workflow's live view, or (None, why) when Temporal or the worker does not answer: the API then
    answers from the database row, never with an error."""
    if client is None:
        return None, "Temporal is unreachable"
    try:
        handle = client.get_workflow_handle(workflow_id)
        return await asyncio.wait_for(handle.query(query, result_type=result_type), timeout), ""
    except TimeoutError:
        reason = f"{query} query timed out after {timeout:g}s"
    except Exception as err:  # noqa: BLE001 - any failure degrades to the database row
        reason = f"{query} query failed: {type(err).__name__}: {err}"
    log.warning("live view unavailable", workflow_id=workflow_id, reason=reason)
    return None, reason


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the Schedule, or bring an existing one's action up to date (its task queue, its workflow) and
    leave the rest (pause state, ops notes) as ops left it. Every start of the system runs this."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=replace(current.description.schedule, action=schedule.action))

        await client.get_schedule_handle(schedule_id).update(update)
    return schedule_id

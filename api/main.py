"""The HTTP door: `create_app()` builds the FastAPI app; `app` is what uvicorn serves (`uvicorn api.main:app`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

import anyio
import structlog
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlmodel import Session

from api import audit, docs, errors, limits, metrics, texts
from api.agents import routes as agents
from api.cancellations import routes as cancellations
from api.complaints import routes as complaints
from api.deps import get_session, get_temporal_optional
from api.finance import routes as finance
from api.identity import routes as identity
from api.orders import routes as orders
from api.refunds import routes as refunds
from api.schemas import Health
from core import crypto, logs, telemetry
from core.db import get_engine
from core.settings import check_secrets, get_settings
from core.temporal import connect
from services import identity as identity_service
from services.orders.repair import repair_orders
from services.refunds import repair_refunds

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S = 10.0


async def repair_after_start(app: FastAPI) -> None:
    """One repair pass once the grace period has passed: a crash of this API between a row and its workflow
    (the reason it restarted) heals at once, not at the Schedule's next run."""
    grace = timedelta(seconds=get_settings().repair_grace_s)
    await asyncio.sleep(grace.total_seconds())
    client = app.state.temporal
    if client is None:
        return  # the Schedule's pass heals it once Temporal is back
    try:
        await repair_orders(get_engine(), client, grace)
        await repair_refunds(get_engine(), client, grace)
    except Exception as err:  # noqa: BLE001 - the Schedule's next pass tries again
        log.error("repair pass at start failed", error=f"{type(err).__name__}: {err}")


def create_app(temporal_client: Any | None = None) -> FastAPI:
    """`temporal_client` (any object with the Client methods used) skips connecting: tests pass a fake."""
    if not structlog.is_configured():
        logs.configure(json=get_settings().log_json)
    identity_service.check_settings(get_settings())
    check_secrets(get_settings(), "the API")
    crypto.check_settings(get_settings())
    injected = temporal_client is not None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not injected:
            try:
                app.state.temporal = await asyncio.wait_for(connect(), CONNECT_TIMEOUT_S)
                log.info("connected to Temporal", address=get_settings().temporal_address)
            except Exception as err:  # noqa: BLE001 - serve anyway; reads work, writes answer 503 and reconnect
                log.warning("Temporal unreachable at start-up", error=f"{type(err).__name__}: {err}")
        repair = asyncio.create_task(repair_after_start(app)) if not injected else None
        yield
        if repair is not None:
            repair.cancel()

    app = FastAPI(
        title="Simbo back office",
        description="SIM-card orders, carrier events, commission settlement, agent accounts, payment refunds, the "
                    "complaint desk and account cancellations.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by api/docs.py from a package, not a CDN
        redoc_url=None,
    )
    app.state.temporal = temporal_client
    app.state.temporal_autoconnect = not injected
    app.state.temporal_lock = asyncio.Lock()

    if telemetry.configure_tracing("simbo-api"):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,metrics")  # a server span per request
    errors.install(app)
    limits.install(app)
    audit.install(app)
    metrics.install(app)
    docs.install(app)
    texts.install(app)
    for business in (identity, orders, agents, complaints, refunds, cancellations, finance):
        app.include_router(business.router)

    @app.get("/healthz", response_model=Health, tags=["ops"], responses={503: {"model": Health}})
    async def healthz(
        session: Annotated[Session, Depends(get_session)],
        temporal: Annotated[Any, Depends(get_temporal_optional)],
    ):
        def ping() -> str:
            try:
                session.exec(text("SELECT 1"))  # type: ignore[call-overload]
                return "ok"
            except Exception as err:  # noqa: BLE001
                return f"error: {type(err).__name__}"

        db = await anyio.to_thread.run_sync(ping)
        health = Health(status="ok" if db == "ok" else "degraded", database=db, temporal="connected" if temporal else "unreachable")
        return JSONResponse(status_code=200 if db == "ok" else 503, content=health.model_dump())

    return app


app = create_app()

"""`/metrics` for Prometheus: the API's request metrics and the business gauges ops watch (orders by status,
refunds by status, overdue complaints, payouts pending).

An internal door, not in the OpenAPI document: with `SIMBO_METRICS_TOKEN` set (production, compose) it answers
only `Authorization: Bearer <token>` (Prometheus' `authorization.credentials_file`); without one, only callers
on loopback or a private network (a developer's machine, the compose network). The gauges are counts and sums,
never a row: nothing personal leaves here. There is no repair pass in the system yet, so no "repairs done" gauge
(docs/architecture.md, "Observability").
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Iterator
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import Session

from api.deps import get_session
from core.errors import Forbidden, Unauthenticated
from core.settings import get_settings
from services import identity, refunds
from services.complaints import complaint as complaints
from services.orders import order as orders
from services.orders import statements, stock

UNMATCHED = "unmatched"  # a path no route serves: one label, so scanners cannot blow up the series count


class RequestMetrics:
    """Plain ASGI middleware: one count and one duration per answer, labelled by the route's template."""

    def __init__(self, app, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter("simbo_http_requests", "HTTP answers of the API", ["method", "route", "status"],
                                registry=registry)
        self.seconds = Histogram("simbo_http_request_duration_seconds", "Time to answer, by route",
                                 ["method", "route"], registry=registry)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "path_format", None) or UNMATCHED
            self.requests.labels(scope["method"], route, str(status["code"])).inc()
            self.seconds.labels(scope["method"], route).observe(time.perf_counter() - started)


class BusinessGauges(Collector):
    """Read at scrape time from the business database (one grouped count per table)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self.session
        g = GaugeMetricFamily("simbo_orders", "Orders by status", labels=["status"])
        for status, n in sorted(orders.count_by_status(s).items()):
            g.add_metric([status], n)
        yield g
        g = GaugeMetricFamily("simbo_refunds", "Refunds by status", labels=["status"])
        for status, n in sorted(refunds.count_by_status(s).items()):
            g.add_metric([status], n)
        yield g
        yield GaugeMetricFamily("simbo_complaints_overdue", "Open complaints past their due time",
                                value=complaints.count_overdue_open(s))
        lines = statements.commission_lines_by_status(s)
        count = GaugeMetricFamily("simbo_commission_lines", "Commission lines by status (payable and held: payouts "
                                  "pending)", labels=["status"])
        fen = GaugeMetricFamily("simbo_commission_fen", "Commission by line status, in fen", labels=["status"])
        for status in ("payable", "held", "paid"):
            n, amount = lines.get(status, (0, 0))
            count.add_metric([status], n)
            fen.add_metric([status], amount)
        yield count
        yield fen
        done = GaugeMetricFamily("simbo_repairs_done", "Steps the repair pass finished after a crash (rows stored "
                                 "whose workflow never started, events never signalled)", labels=["repair"])
        for action, n in sorted(identity.repairs_done(s).items()):
            done.add_metric([action.removeprefix("repair: ")], n)
        yield done
        numbers = GaugeMetricFamily("simbo_stock_numbers", "Numbers of the stock by product and state, as of now "
                                    "(docs/fulfilment.md)", labels=["product", "state"])
        for lv in stock.levels(s):
            for state in ("available", "reserved", "assigned", "quarantined", "retired"):
                numbers.add_metric([lv.product_id, state], getattr(lv, state))
        yield numbers


def _allowed(request: Request) -> None:
    token = get_settings().metrics_token
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Unauthenticated("metrics need the scrape token", type="unauthenticated")
        return
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not (address.is_loopback or address.is_private):
        raise Forbidden("metrics are internal: set SIMBO_METRICS_TOKEN to scrape from outside", type="internal_only")


def install(app: FastAPI) -> None:
    registry = CollectorRegistry()
    app.add_middleware(RequestMetrics, registry=registry)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request, session: Annotated[Session, Depends(get_session)]) -> Response:
        _allowed(request)

        def render() -> bytes:
            try:
                scrape = CollectorRegistry()
                scrape.register(BusinessGauges(session))
                return generate_latest(registry) + generate_latest(scrape)
            finally:
                session.close()  # no transaction left open past the scrape (SQLite's write lock)

        return Response(await anyio.to_thread.run_sync(render), media_type=CONTENT_TYPE_LATEST)

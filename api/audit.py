"""Every state-changing request by a person or a merchant, and every read of unmasked customer data (a reveal,
a decode for the Web UI), goes to the append-only audit log: who (from the
token or key), with which roles, what (the route), on which ids, with what outcome, from where, and its request
id (also answered in `X-Request-Id`, so a caller's report points at the line).

A plain ASGI middleware, so the line is written after the whole answer went out and the request's own
database session is closed (on SQLite a still-open session would hold the write lock).
"""

import uuid

import anyio
import structlog
from fastapi import FastAPI
from sqlmodel import Session

from api.deps import database_seats, get_db_engine
from db.identity import AuditEntry
from services import identity

log = structlog.get_logger(__name__)
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
REQUEST_ID_HEADER = "X-Request-Id"


class AuditLog:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        request_id = headers.get(REQUEST_ID_HEADER.lower().encode(), b"").decode()[:64] or uuid.uuid4().hex
        status = {}

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((REQUEST_ID_HEADER.encode(), request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:  # a request that crashed is on record too (outcome 500)
            await self._record(scope, status.get("code", 500), request_id)

    async def _record(self, scope, outcome: int, request_id: str) -> None:
        state = scope.get("state", {})
        principal = state.get("principal")
        if (scope["method"] in CHANGES or state.get("audit_reveal")) and principal is not None:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or scope["path"]
            params = scope.get("path_params", {})
            client = scope.get("client")
            action = f"{scope['method']} {template}" + (" (reveal)" if state.get("audit_reveal") else "")
            entry = AuditEntry(actor=principal.id, roles=principal.role_names, action=action,
                               target=state.get("audit_target") or " ".join(f"{k}={v}" for k, v in params.items()),
                               outcome=outcome, client=client[0] if client else "",
                               request_id=request_id)
            async with database_seats(scope["app"]):
                await anyio.to_thread.run_sync(_write, scope["app"], entry)


def _write(app: FastAPI, entry: AuditEntry) -> None:
    engine = app.dependency_overrides.get(get_db_engine, get_db_engine)()  # the tests' database, when they set one
    with Session(engine) as session:
        try:
            identity.record(session, entry)
        except Exception as err:  # noqa: BLE001 - the answer is already given; a lost line must be loud
            log.error("audit entry not written", action=entry.action, actor=entry.actor,
                      error=f"{type(err).__name__}: {err}")


def install(app: FastAPI) -> None:
    app.add_middleware(AuditLog)

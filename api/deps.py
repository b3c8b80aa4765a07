"""FastAPI dependencies, declared once: the database session (and how a route runs a service on it), the
Temporal client, the Idempotency-Key header. Tests override `get_session` (app.dependency_overrides) and
inject a fake client through `create_app(temporal_client=...)`."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

import anyio
import structlog
from fastapi import Depends, Header, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from core.access import Permission, Principal, Role
from core.db import POOL_CAPACITY, POOL_RESERVE, get_engine, reading
from core.errors import Conflict, Forbidden, Invalid, TemporalUnavailable, Unauthenticated
from core.logs import redact
from core.settings import get_settings
from core.signing import BadSignature, request_target, verify
from core.temporal import connect

log = structlog.get_logger(__name__)

RECONNECT_TIMEOUT_S = 5.0
RECONNECT_EVERY_S = 10.0  # while Temporal is down, at most one connection attempt per interval


IDEMPOTENCY_HEADER = "Idempotency-Key"
API_KEY_HEADER = "X-Api-Key"
T = TypeVar("T")

# Swagger UI's "Authorize" offers both: staff and agents sign in (password flow), merchants paste their key.
staff_token = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False,
                                   scopes={p.value: p.name.replace("_", " ").lower() for p in Permission})
merchant_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="a merchant's API key")


READ_METHODS = frozenset({"GET", "HEAD"})


def get_db_engine() -> Engine:
    """The business database (tests override this one dependency with theirs)."""
    return get_engine()


# A request's session is one seat at the database. Were more requests let in than the pool has connections, their
# threads would wait for a connection while the requests holding the connections wait for a thread to finish
# (FastAPI validates a sync route's answer and ends its session in the same thread pool): every thread blocked
# until the pool's timeout. So requests queue here, on the event loop, for one of the pool's connections.
DB_SEATS = POOL_CAPACITY - POOL_RESERVE


def database_seats(app) -> anyio.Semaphore:
    """The app's seats at the database, made in the event loop that serves it (one per loop: a test's app may
    be served by several in turn)."""
    loop = asyncio.get_running_loop()
    seats = getattr(app.state, "database_seats", None)
    if seats is None or seats[0] is not loop:
        seats = app.state.database_seats = (loop, anyio.Semaphore(DB_SEATS))
    return seats[1]


async def get_session(request: Request, engine: Annotated[Engine, Depends(get_db_engine)]) -> AsyncIterator[Session]:
    """A reading request's session takes no write lock (core/db.py `reading`): a GET never changes a row.
    Opening one touches no connection; the connection a route used goes back to the pool in a thread."""
    async with database_seats(request.app):
        session = Session(reading(engine) if request.method in READ_METHODS else engine)
        try:
            yield session
        finally:
            await anyio.to_thread.run_sync(session.close)


async def run_db(session: Session, fn: Callable[..., T], *args) -> T:
    """Run a service function in a worker thread and end its transaction there: on SQLite every transaction
    holds the write lock (BEGIN IMMEDIATE), and it must not stay open while the request awaits the network
    or waits for a thread (the rows come back detached, fully loaded)."""
    def call() -> T:
        try:
            return fn(session, *args)
        finally:
            session.close()

    return await anyio.to_thread.run_sync(call)


async def start_process(temporal: Client | None, start: Callable[[Client], Awaitable[object]], what: str,
                        retry: str, **ids: str) -> None:
    """Start the process of a record just stored. When Temporal cannot take it, answer 503 saying the record is
    kept and how to finish: the same request again starts it (every start is idempotent by the business id)."""
    if temporal is None:
        raise TemporalUnavailable(f"{what} stored but Temporal is unreachable; {retry}")
    try:
        await start(temporal)
    except Exception as err:  # noqa: BLE001 - whatever failed, the record is safe and the retry heals it
        log.error("workflow not started", error=f"{type(err).__name__}: {err}", **ids)
        raise TemporalUnavailable(f"{what} stored but its workflow could not be started; {retry}") from None


async def verified_push(request: Request, session: Session, sources: frozenset[str],
                        body: bytes | None = None) -> tuple[str, bytes]:
    """The sender and raw body of a signed push (carriers, couriers, the SMS gateway), once its signature holds
    under the sender's own key ring and its request id is new within the window. `body`: already read (a batch
    reads its own, counting lines as they come)."""
    from services import identity

    if body is None:
        body = await request.body()
    scope = request.scope
    target = request_target(scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
                            scope.get("query_string", b"").decode("latin-1"))
    try:
        signed = verify(get_settings().push_keys, request.headers, body, request.method, target)
    except BadSignature as err:
        raise Unauthenticated(f"bad signature: {err}", type="bad_signature") from None
    if signed.source not in sources:
        raise Forbidden(f"{signed.source} may not push here; sources: {', '.join(sorted(sources))}",
                        type="source_not_allowed")
    if not await run_db(session, identity.first_time_seen, signed.source, signed.request_id):
        raise Conflict(f"request {signed.request_id} from {signed.source} was already received: a replay",
                       type="replayed_request")
    return signed.source, body


def crash_here_in_tests(point: str) -> None:
    """The API process dies here, as a power cut would, when the repair tests ask for it (never in production:
    only with demo users)."""
    s = get_settings()
    if s.crash_at == point and s.demo_users:
        log.error("crashing on purpose (SIMBO_CRASH_AT)", point=point)
        os._exit(137)


def idempotency_key(value: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)] = None) -> str:
    """The client's key for "the same request again": the same key returns the first answer."""
    key = (value or "").strip()
    if not 1 <= len(key) <= 128:
        raise Invalid(f"header {IDEMPOTENCY_HEADER} is required, 1 to 128 characters", type="idempotency_key_missing")
    return key


async def _client(request: Request) -> Client | None:
    """The app's client; if the start-up connection failed, try once more (lazily, one at a time)."""
    state = request.app.state
    client = getattr(state, "temporal", None)
    if client is not None or not getattr(state, "temporal_autoconnect", False):
        return client
    lock: asyncio.Lock = state.temporal_lock
    async with lock:
        if state.temporal is None and time.monotonic() >= getattr(state, "temporal_next_try", 0.0):
            state.temporal_next_try = time.monotonic() + RECONNECT_EVERY_S
            try:
                state.temporal = await asyncio.wait_for(connect(), RECONNECT_TIMEOUT_S)
                log.info("connected to Temporal")
            except Exception as err:  # noqa: BLE001
                log.warning("Temporal unreachable", error=f"{type(err).__name__}: {err}")
        return state.temporal


async def get_temporal(request: Request) -> Client:
    client = await _client(request)
    if client is None:
        raise HTTPException(status_code=503, detail="Temporal is unreachable; retry later")
    return client


async def get_temporal_optional(request: Request) -> Client | None:
    return await _client(request)


def current_principal(request: Request, security: SecurityScopes,
                      token: Annotated[str | None, Depends(staff_token)],
                      key: Annotated[str | None, Depends(merchant_key)],
                      session: Annotated[Session, Depends(get_session)]) -> Principal:
    """The caller, from its bearer token or API key; 401 without one, 403 without the route's permission."""
    from services import identity

    if token and key:
        raise Invalid("send either a bearer token or an API key, not both", type="two_credentials")
    if token:
        principal = identity.principal_from_token(token)
    elif key:
        try:
            principal = identity.principal_from_api_key(session, key)
        finally:
            # end the lookup's transaction: on SQLite a POST's session holds the write lock from its first
            # query, and the route may await a thread or the network before it touches the session again
            session.rollback()
    else:
        raise Unauthenticated("sign in (Authorization: Bearer <token> from /auth/token) or send an API key "
                              f"({API_KEY_HEADER})", type="unauthenticated")
    if Role.AGENT in principal.roles and not principal.agent_id:
        raise Forbidden(f"{principal.id} has the agent role but names no agent", type="scope_missing")
    if (Role.COMPLAINT_HANDLER in principal.roles and not principal.department
            and not principal.roles & {Role.TEAM_LEAD, Role.MANAGER, Role.ADMIN}):
        raise Forbidden(f"{principal.id} handles complaints but names no department", type="scope_missing")
    request.state.principal = principal  # the audit log names who asked, allowed or not
    missing = [p for p in security.scopes if not principal.can(Permission(p))]
    if missing:
        raise Forbidden(f"{principal.id} ({principal.role_names or 'no role'}) may not {', '.join(missing)}",
                        type="permission_denied")
    return principal


WITHHELD = "(withheld: free text may name the customer; needs customer_data.read)"


def reveal_customer_data(request: Request, principal: Principal) -> None:
    """A person asks for unmasked customer data: only with customer_data.read, and on the audit log (which
    otherwise records only changes)."""
    request.state.audit_reveal = True  # a refused attempt is on the record too
    if not principal.can(Permission.CUSTOMER_DATA_READ):
        raise Forbidden(f"{principal.id} ({principal.role_names or 'no role'}) may not read customer data unmasked",
                        type="permission_denied")


def free_text_for(principal: Principal, reveal: bool) -> Callable[[str], str]:
    """How free text (the customer's words, handlers' findings and replies) is shown: in full when revealed,
    numbers masked for roles that read customer data, withheld from the others (a name cannot be masked)."""
    if reveal:
        return lambda text: text
    if principal.can(Permission.CUSTOMER_DATA_READ):
        return redact
    return lambda text: WITHHELD if text else text


def require(permission: Permission):
    """The permission a route needs, declared on the route (it also shows in the OpenAPI document)."""
    return Security(current_principal, scopes=[permission.value])


def sees_merchant(principal: Principal, merchant_id: str) -> bool:
    """A merchant's key sees its own merchant's records only; staff see every merchant's."""
    return principal.merchant_id is None or principal.merchant_id == merchant_id


def sees_agent(principal: Principal, agent_id: str) -> bool:
    """An agent sees its own records only; staff see every agent's."""
    return principal.agent_id is None or principal.agent_id == agent_id


def own_agent(principal: Principal, agent_id: str) -> None:
    """For routes that name an agent: an agent may name only itself."""
    if not sees_agent(principal, agent_id):
        raise Forbidden(f"signed in as agent {principal.agent_id}, not {agent_id}", type="other_agent")

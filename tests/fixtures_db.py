"""Database fixtures for the API tests (imported by conftest.py): every test runs on a freshly migrated
SQLite file AND on PostgreSQL (its own schema per test session), through the real alembic migrations.

Also the fake Temporal client the API tests inject (the real Temporal integration is tested apart).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

import db as _every_table  # noqa: F401  (registers the tables)
from alembic import command
from core.db import POOL_OVERFLOW, POOL_SIZE, make_engine

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("SIMBO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# what conftest re-exports: the fixtures only (tests import helpers and constants from this module)
__all__ = ["db_engine", "db", "seeded", "fake_temporal", "api_app", "api_client", "anonymous_client"]


def migrate(engine: Engine) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def db_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database for the whole test session, once per backend."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'simbo.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as err:
        admin.dispose()
        # PostgreSQL is half of what these tests prove: an unreachable server fails them, it never hides them
        pytest.fail(f"PostgreSQL not reachable at {PG_URL} (set SIMBO_TEST_PG_URL): {err}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(
        PG_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
        pool_pre_ping=True
    )
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(db_engine: Engine) -> Iterator[Engine]:
    """The session's engine with every table emptied before the test."""
    with db_engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())
    yield db_engine


# ---- a fake Temporal client -------------------------------------------------------------------


def _rpc(status: RPCStatusCode, message: str) -> RPCError:
    return RPCError(message, status, b"")


class FakeHandle:
    def __init__(self, fake: FakeTemporal, workflow_id: str) -> None:
        self.fake = fake
        self.id = workflow_id

    async def signal(self, signal: str, arg: Any = None, **kw: Any) -> None:
        fake = self.fake
        if fake.unavailable:
            raise _rpc(RPCStatusCode.UNAVAILABLE, "connection refused")
        if self.id in fake.closed:
            raise _rpc(RPCStatusCode.NOT_FOUND, "workflow execution already completed")
        fake.in_flight += 1
        fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            await asyncio.sleep(fake.signal_delay)
        finally:
            fake.in_flight -= 1
        fake.signals.append((self.id, signal, arg))

    async def query(self, query: str, *args: Any, result_type: type | None = None, **kw: Any) -> Any:
        fake = self.fake
        fake.queries.append((self.id, query, result_type))
        if fake.unavailable:
            raise _rpc(RPCStatusCode.UNAVAILABLE, "connection refused")
        if self.id not in fake.views:
            raise _rpc(RPCStatusCode.NOT_FOUND, f"workflow {self.id} not found")
        return fake.views[self.id]


class FakeTemporal:
    """Records start_workflow / signal / query calls. `closed` workflow ids answer signals with NOT_FOUND;
    `unavailable` makes every call fail as if the server were down."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []
        self.running: set[str] = set()
        self.signals: list[tuple[str, str, Any]] = []
        self.queries: list[tuple[str, str, Any]] = []
        self.closed: set[str] = set()
        self.views: dict[str, Any] = {}
        self.unavailable = False
        self.signal_delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0

    async def start_workflow(self, workflow: Any, arg: Any = None, *, id: str, task_queue: str, **kw: Any) -> FakeHandle:  # noqa: A002
        if self.unavailable:
            raise _rpc(RPCStatusCode.UNAVAILABLE, "connection refused")
        self.started.append({"workflow": workflow, "arg": arg, "id": id, "task_queue": task_queue, **kw})
        if id in self.running and kw.get("id_conflict_policy") != WorkflowIDConflictPolicy.USE_EXISTING:
            raise AssertionError("a second start of a running workflow without USE_EXISTING")
        self.running.add(id)
        return FakeHandle(self, id)

    def get_workflow_handle(self, workflow_id: str, **kw: Any) -> FakeHandle:
        return FakeHandle(self, workflow_id)

    def starts_of(self, workflow_id: str) -> list[dict[str, Any]]:
        return [s for s in self.started if s["id"] == workflow_id]


@pytest.fixture
def fake_temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture
def api_app(db: Engine, fake_temporal: FakeTemporal):
    from api.deps import get_db_engine
    from api.main import create_app

    app = create_app(temporal_client=fake_temporal)
    app.dependency_overrides[get_db_engine] = lambda: db
    return app


def bearer(*roles: str, user: str = "test-admin", **attrs: str) -> dict[str, str]:
    """An Authorization header for a caller with these roles (a real token of the embedded issuer)."""
    from core.access import Principal, Role
    from services.identity import access_token

    principal = Principal(id=user, roles=frozenset(Role(r) for r in roles or ("admin",)), **attrs)
    return {"Authorization": f"Bearer {access_token(principal)}"}


@pytest.fixture
def api_client(api_app):
    """A client signed in as an admin; tests of who may do what send their own headers."""
    from fastapi.testclient import TestClient

    with TestClient(api_app, headers=bearer("admin")) as client:
        yield client


@pytest.fixture
def anonymous_client(api_app):
    from fastapi.testclient import TestClient

    with TestClient(api_app) as client:
        yield client


# ---- reference data ---------------------------------------------------------------------------

AGENT = "A001"
CHILD = "A002"  # parent: A001
SUSPENDED = "A003"
PRODUCT = "P-CM-39"  # china_mobile
PRODUCT_CU = "P-CU-29"  # china_unicom


@pytest.fixture
def seeded(db: Engine) -> Engine:
    """Three agents (one suspended) and two products."""
    from db.agents import Agent, AgentStatus
    from db.orders import Product

    with Session(db) as s:
        s.add(Agent(id=AGENT, name="Shanghai North"))
        s.flush()
        s.add(Agent(id=CHILD, name="Minhang shop", parent_id=AGENT))
        s.add(Agent(id=SUSPENDED, name="Fake promo", status=AgentStatus.SUSPENDED, status_reason="fake promotion"))
        s.add(Product(id=PRODUCT, carrier="china_mobile", name="Mobile 39", activation_window_days=15,
                      recharge_window_days=30, min_first_recharge_fen=5000, commission_fen=12000, parent_override_bp=1000))
        s.add(Product(id=PRODUCT_CU, carrier="china_unicom", name="Unicom 29", activation_window_days=10,
                      recharge_window_days=20, min_first_recharge_fen=3000, commission_fen=8000))
        s.commit()
    return db


"""One engine per process, from settings. SQLite gets WAL and a busy timeout so API and worker share it."""

from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import Column, DateTime, LargeBinary, event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import AutoString, Field, create_engine

from core import crypto
from core.settings import get_settings

# Connections per process. The API lets at most POOL_CAPACITY - POOL_RESERVE requests at the database at once
# (api/deps.py), so a request's thread never waits for the pool; the reserve is for the API's own passes.
POOL_SIZE, POOL_OVERFLOW = 20, 30
POOL_CAPACITY = POOL_SIZE + POOL_OVERFLOW
POOL_RESERVE = 4


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=POOL_SIZE,
                               max_overflow=POOL_OVERFLOW)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" below own the transaction
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        # SQLite's default deferred transactions deadlock-upgrade under concurrent writers; a writer takes the
        # write lock up front so concurrent writers queue instead of failing. A reader (`reading(engine)`)
        # takes none: in WAL mode it reads its snapshot beside the one writer.
        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_pre_ping=True)


READ_ONLY = "simbo_read_only"


def reading(engine: Engine) -> Engine:
    """The same engine (and pool) for sessions that only read: on SQLite they take no write lock."""
    return engine.execution_options(**{READ_ONLY: True})


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stored as UTC, always read back timezone-aware (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime not allowed in the database: {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def Aware(**kw):  # noqa: N802 - a column factory, read like a type
    return Field(sa_column=Column(UTCDateTime(), **kw))


class SealedText(TypeDecorator):
    """Personal data at rest: encrypted with the key ring on the way in, clear on the way out (core/crypto.py).
    A value written before encryption reads back as it is until the migration seals it. Equality lookups go
    through a fingerprint column beside it (`core.crypto.fingerprint`), never through this one."""

    impl = AutoString
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or value == "" or value.startswith(crypto.SEALED_PREFIX):
            return value
        return crypto.seal(value)

    def process_result_value(self, value, dialect):
        return crypto.unseal(value) if value else value


def Sealed(**kw):  # noqa: N802 - a column factory, read like a type
    """A personal-data column: `msisdn: str = Sealed()`."""
    return Field(sa_column=Column(SealedText(), **{"nullable": False, **kw}))


class SealedBytes(TypeDecorator):
    """A document with personal data at rest (a customer's letter, a scanned form): encrypted with the key ring on
    the way in, clear on the way out. Bytes written before encryption read back as they are until the migration
    seals them."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if not value or value.startswith(crypto.SEALED_BYTES_PREFIX):
            return value
        return crypto.seal_bytes(value)

    def process_result_value(self, value, dialect):
        return crypto.unseal_bytes(bytes(value)) if value else value


def SealedDocument(**kw):  # noqa: N802 - a column factory, read like a type
    """A personal-data document column: `content: bytes = SealedDocument()`."""
    return Field(sa_column=Column(SealedBytes(), **{"nullable": False, **kw}))

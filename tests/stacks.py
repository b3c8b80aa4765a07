"""The whole system as processes, for the end-to-end tests: on free ports in a scratch directory, with the test's
own settings, and seeded before the test uses it."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Engine

from core.db import make_engine
from scripts.stack import Ports, Stack


@contextmanager
def running_stack(var: Path, settings: dict[str, str] | None = None,
                  *seeds: Callable[[Engine], None]) -> Iterator[Stack]:
    """Every process up (stopped again however the test ends), then each seed run on the stack's database."""
    stack = Stack(var=var, ports=Ports.free(), ui=False, daily_every=0, quiet=True, settings=settings or {})
    try:
        stack.start()
        if seeds:
            engine = make_engine(stack.env["SIMBO_DATABASE_URL"])
            for seed in seeds:
                seed(engine)
            engine.dispose()
        yield stack
    finally:
        stack.stop()

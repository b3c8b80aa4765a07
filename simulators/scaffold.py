"""What every simulator is built from: persisted state, the signed-request check, the admin reset and the CLI.

The behaviour a simulator scripts stays in its own module; only the plumbing that must work the same way for
all of them lives here.
"""

import argparse
import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import structlog
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, ValidationError

from core import logs
from core.settings import Settings, check_secrets, get_settings
from core.signing import BadSignature, RecentRequests, request_target, verify

log = structlog.get_logger("simulators.scaffold")

S = TypeVar("S", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)


# -- state that survives a restart -------------------------------------------------------------


class JsonState(Generic[S]):
    """A pydantic model kept in memory and in one JSON file (no path: memory only).

    `save_now()` writes the whole model at once; `mark_dirty()` leaves it to the saver task started by `start()`,
    which saves once per burst of changes instead of once per change.

    `journaled` names dict fields of the model that grow with use (the carrier simulator's scenarios): a save does
    not rewrite them but appends the entries named by `changed(field, key)` since the last save to
    `<file>.journal`, one JSON line each, with one line holding the other fields (what is in flight: outboxes,
    counters). A save then costs what changed, not the whole state; the journal is folded into the file (one full
    write) once it outgrows the file, so the full writes stay a bounded share of the writing. Loading reads the file,
    then replays the journal in order; a line cut short by a crash is the last one and is skipped.
    """

    def __init__(self, path: str | Path | None, model: type[S], save_delay: float = 0.2,
                 journaled: tuple[str, ...] = ()) -> None:
        self.path = Path(path) if path else None
        self.model = model
        self.save_delay = save_delay
        self.journaled = journaled
        self.journal = self.path.with_name(self.path.name + ".journal") if self.path else None
        self.loaded = bool(self.path and self.path.exists())
        self.value: S = self._load() if self.loaded else model()
        self._dirty = asyncio.Event()
        self._changed: dict[tuple[str, str], None] = {}  # (field, key) in the order they changed
        self._journal_bytes = self.journal.stat().st_size if self.journal and self.journal.exists() else 0
        self._file_bytes = self.path.stat().st_size if self.loaded and self.path else 0
        self._saver: asyncio.Task | None = None
        self.full_saves = 0  # how often the whole model was written (the journal folded in); /sim/stats-able

    def _load(self) -> S:
        assert self.path is not None
        data = json.loads(self.path.read_text(encoding="utf-8"))
        if self.journal and self.journal.exists():
            for line in self.journal.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    log.warning("sim.journal_line_skipped", path=str(self.journal))  # cut short by a crash
                    continue
                if "rest" in entry:
                    data.update(entry["rest"])
                else:
                    name, key, value = entry["set"]
                    data.setdefault(name, {})[key] = value
        return self.model.model_validate(data)

    def save_now(self) -> None:
        """The whole model in one write; the journal is then folded in and emptied."""
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A crash mid-write must leave the previous file whole, never half of the new one.
        tmp = self.path.with_name(self.path.name + ".tmp")
        text = self.value.model_dump_json()
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)
        if self.journal is not None and self.journal.exists():
            self.journal.unlink()  # after the replace: a crash between the two replays a journal already folded in
        self._changed.clear()
        self._journal_bytes, self._file_bytes = 0, len(text)
        self.full_saves += 1

    def save_changes(self) -> None:
        """What changed since the last save: appended to the journal, or the whole model when that is due."""
        if not self.path or not self.journaled or not self.path.exists() \
                or self._journal_bytes > max(self._file_bytes, 1 << 20):
            self.save_now()
            return
        assert self.journal is not None
        changed, self._changed = list(self._changed), {}
        lines = []
        for name, key in changed:
            value = getattr(self.value, name).get(key)
            if value is not None:
                lines.append(json.dumps({"set": [name, key, _jsonable(value)]}, ensure_ascii=False))
        rest = self.value.model_dump(mode="json", exclude=set(self.journaled))
        lines.append(json.dumps({"rest": rest}, ensure_ascii=False))
        text = "\n".join(lines) + "\n"
        try:
            with self.journal.open("a", encoding="utf-8") as f:
                f.write(text)
        except OSError:
            self._changed = dict.fromkeys(changed) | self._changed  # not saved: the next save tries them again
            raise
        self._journal_bytes += len(text.encode())

    def mark_dirty(self) -> None:
        self._dirty.set()

    def changed(self, name: str, key: str) -> None:
        """Entry `key` of the journaled dict field `name` was added or changed: the next save appends it."""
        self._changed[(name, key)] = None
        self._dirty.set()

    def count(self, name: str, n: int = 1) -> None:
        """Bump a counter in the model's `stats` dict (what /sim/stats reports); saved with the next save."""
        stats = self.value.stats
        stats[name] = stats.get(name, 0) + n

    def reset(self) -> None:
        self.value = self.model()
        self.save_now()

    def start(self) -> None:
        self._saver = asyncio.create_task(self._save_loop(), name="sim-saver")

    async def stop(self) -> None:
        if self._saver:
            self._saver.cancel()
            await asyncio.gather(self._saver, return_exceptions=True)
        self.save_now()

    async def _save_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.save_delay)
            self._dirty.clear()
            try:
                self.save_changes()
            except OSError as err:  # a full disk must not stop the simulator; the next change tries again
                log.error("sim.state_save_failed", path=str(self.path), error=str(err))


def _jsonable(value: object) -> object:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


# -- the app -----------------------------------------------------------------------------------


class Lifecycle(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def lifespan(sim: Lifecycle) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """FastAPI's lifespan for a simulator: its background tasks run as long as the server does."""

    @asynccontextmanager
    async def span(_: FastAPI) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    return span


def signed_body(
    secret: str | Callable[[Request], str],
    *,
    on_bad_signature: Callable[[], object] | None = None,
    then: Callable[[], Awaitable[object]] | None = None,
) -> Callable[[Request], Awaitable[bytes]]:
    """A dependency giving the raw body once its signature (core/signing.py) holds; 401 with the reason otherwise.

    `secret` is a key ring, or gives the request's (a payment channel's own, by the channel in its path).
    `on_bad_signature` runs before the 401 (to count it); `then` runs after a good signature, so scripted latency
    and injected errors hit only requests a real counterparty would have accepted.
    """
    seen = RecentRequests()

    async def dependency(request: Request) -> bytes:
        body = await request.body()
        scope = request.scope
        target = request_target(scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
                                scope.get("query_string", b"").decode("latin-1"))
        try:
            ring = secret(request) if callable(secret) else secret
            signed = verify(ring, request.headers, body, request.method, target)
            if not seen.first_time(signed):
                raise BadSignature(f"request {signed.request_id} was already received: a replay")
        except BadSignature as err:
            if on_bad_signature is not None:
                on_bad_signature()
            log.warning("sim.bad_signature", path=request.url.path, reason=str(err))
            raise HTTPException(401, detail=f"bad signature: {err}") from None
        if then is not None:
            await then()
        return body

    return dependency


def first_error(err: ValidationError) -> str:
    return str(err.errors()[0]["msg"])


def parse_or_422(model: type[M], body: bytes, explain: Callable[[ValidationError], str] = first_error) -> M:
    """The signed body as `model`; a body that does not fit is the caller's fault (422), never a 500."""
    try:
        return model.model_validate_json(body)
    except ValidationError as err:
        raise HTTPException(422, detail=explain(err)) from None


def add_reset(app: FastAPI, state: JsonState) -> None:
    """POST /sim/reset: back to an empty state, as if the simulator had never run."""

    @app.post("/sim/reset")
    async def reset() -> dict:
        state.reset()
        log.info("sim.reset")
        return {"reset": True}


# -- command line ------------------------------------------------------------------------------


def cli(
    module: str, doc: str, *, port: int, state: str | None, state_help: str = "JSON file the state persists to"
) -> argparse.ArgumentParser:
    """The flags every simulator takes (--host, --port, --state); add the simulator's own, then run() it."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--state", default=state, help=state_help)
    return parser


def run(
    parser: argparse.ArgumentParser,
    create_app: Callable[[argparse.Namespace, Settings], FastAPI],
    argv: list[str] | None = None,
    uvicorn_log_level: str = "warning",
) -> None:
    args = parser.parse_args(argv)
    settings = get_settings()
    logs.configure(json=settings.log_json)  # before create_app, whose state loading already logs
    check_secrets(settings, f"the simulator {parser.prog}")
    uvicorn.run(create_app(args, settings), host=args.host, port=args.port, log_level=uvicorn_log_level)

"""`make run`: the whole system on embedded defaults, in one terminal. Ctrl-C stops everything it started.

Temporal dev server (state in var/temporal.db, Web UI on :8233), business database (var/simbo.db,
migrated), carrier simulator (:8100), worker, API (:8000), monthly settlement Schedules, demo data
(once). Running it again resumes the same state, workflows included.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from settings import ROOT, VAR, get_settings
from workflows import search_attributes as sa

BIN = Path(sys.executable).parent
PY = sys.executable


def migrate() -> None:
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")


def spawn(name: str, args: list[str], log: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab") if log else None  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT if out else None,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    print(f"  started {name} (pid {proc.pid})" + (f", log {log.relative_to(ROOT)}" if log else ""))
    return proc


def wait_http(url: str, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{what} did not come up at {url}; see the logs under var/")


async def wait_temporal() -> None:
    from services.temporal import connect

    for _ in range(120):
        try:
            await connect()
            return
        except Exception:  # noqa: BLE001 - not up yet
            await asyncio.sleep(0.5)
    raise SystemExit("Temporal dev server did not come up; see var/temporal.log")


async def after_start() -> None:
    from scripts.demo import load_demo_once
    from scripts.schedules import ensure_settlement_schedules
    from services.temporal import connect

    client = await connect()
    await ensure_settlement_schedules(client)
    await load_demo_once(client)


def main() -> None:
    s = get_settings()
    VAR.mkdir(exist_ok=True)
    print("Setting up the business database (var/simbo.db) ...")
    migrate()
    procs: list[subprocess.Popen] = []

    def stop(*_):
        print("\nStopping ...")
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("Starting ...")
    host, port = s.temporal_address.rsplit(":", 1)
    temporal = [str(BIN / "temporal"), "server", "start-dev", "--db-filename", str(VAR / "temporal.db"),
                "--ip", host if host != "localhost" else "127.0.0.1", "--port", port, "--ui-port", str(s.temporal_ui_port),
                "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal", "--log-level", "warn"]
    for key in sa.ALL:
        temporal += ["--search-attribute", f"{key.name}=Keyword"]
    procs.append(spawn("Temporal dev server + Web UI", temporal, VAR / "temporal.log"))
    asyncio.run(wait_temporal())
    procs.append(spawn("carrier simulator", [PY, "-m", "simulators.carrier", "--port", "8100",
                                             "--state", str(VAR / "carrier-sim.json"),
                                             "--push-url", s.api_base_url], VAR / "simulator.log"))
    procs.append(spawn("worker", [PY, "worker.py"], VAR / "worker.log"))
    procs.append(spawn("API", [PY, "-m", "uvicorn", "api.main:app", "--port", "8000"], VAR / "api.log"))
    wait_http(f"{s.api_base_url}/healthz", "API")
    wait_http(f"{s.carrier_base_url}/sim/stats", "carrier simulator")
    asyncio.run(after_start())
    print(f"""
Ready.
  Temporal Web UI   http://localhost:{s.temporal_ui_port}   (filter e.g.  OrderStatus="failed"  or  Carrier="china_mobile")
  API + OpenAPI     {s.api_base_url}/docs
  Orders            {s.api_base_url}/orders?limit=20
  Settlements       {s.api_base_url}/settlements
  Unknown events    {s.api_base_url}/carrier-events?outcome=unknown_order
  Simulator         {s.carrier_base_url}/sim/stats
  Logs              var/*.log
Ctrl-C stops everything; `make run` again resumes the same state.""")
    while True:
        for p in procs:
            if p.poll() is not None:
                print(f"process {p.args[:3]} exited with {p.returncode}; stopping")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()

"""The whole system as child processes: Temporal dev server, carrier simulator, worker, API.

`make run` uses it on the embedded defaults; the benchmark and the end-to-end test use it on free ports
in a scratch directory. Each process gets its configuration as SIMBO_* environment variables.
"""

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

import httpx

from core import search_attributes as sa
from core.settings import ROOT
from domain.complaints.complaint import Department
from worker import SEARCH_ATTRIBUTES

BIN = Path(sys.executable).parent
PY = sys.executable


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


# Ports handed out by free_port(), so one process never hands the same port out twice.
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, taken below the kernel's ephemeral range.

    The Temporal dev server picks its internal ports (history, matching, membership) by binding port 0, and every
    outgoing connection takes its local port from the same range; a port chosen there and released until its
    process starts can be taken in between, and the dev server then dies at start. Below the range only a
    listener can take it.
    """
    low, high = _ephemeral_range()
    lowest, highest = (20000, low - 1) if low > 21000 else (high + 1, 65535)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(lowest, highest)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {lowest} and {highest}")


@dataclass
class Ports:
    temporal: int = 7233
    ui: int = 8233
    api: int = 8000
    simulator: int = 8100
    sms_billing: int = 8200  # SMS gateway + billing system simulator (complaint desk)
    channel: int = 8300  # payment-channel simulator (refunds)
    codec: int = 8400  # the codec server the Web UI asks to decode payloads (with the UI only)
    worker_metrics: int = 9464  # the worker's Temporal SDK metrics (Prometheus)
    mail: int = 8025  # the local SMTP sink invoices are mailed to (simulators/mail_sink.py; messages in var/mail)

    @classmethod
    def free(cls) -> "Ports":
        return cls(*(free_port() for _ in fields(cls)))


@dataclass
class Stack:
    var: Path
    ports: Ports = field(default_factory=Ports)
    database_url: str | None = None
    ui: bool = True
    daily_every: int = 60
    quiet: bool = False
    settings: dict[str, str] = field(default_factory=dict)  # SIMBO_* values of this stack over the defaults below
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)  # each process's log, by pid

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SIMBO_TEMPORAL_ADDRESS": f"127.0.0.1:{self.ports.temporal}",
            "SIMBO_DATABASE_URL": self.database_url or f"sqlite:///{self.var / 'simbo.db'}",
            "SIMBO_API_BASE_URL": self.api_url,
            "SIMBO_CARRIER_BASE_URL": self.simulator_url,
            "SIMBO_PAYOUT_BASE_URL": self.simulator_url,
            "SIMBO_SMS_BASE_URL": self.sms_billing_url,
            "SIMBO_BILLING_BASE_URL": self.sms_billing_url,
            "SIMBO_CHANNEL_BASE_URL": self.channel_url,
            # every department's notices reach the simulator's webhook receiver (GET /sim/notices)
            "SIMBO_COMPLAINT_NOTICE_WEBHOOKS": json.dumps({d.value: f"{self.sms_billing_url}/departments/notices"
                                                          for d in Department}),
            # the demo agent's own system is the simulator's receiver (GET /sim/agent-notices)
            "SIMBO_AGENT_WEBHOOKS": json.dumps({"A002": f"{self.sms_billing_url}/agents/notices"}),
            "SIMBO_CODEC_CORS_ORIGINS": f"http://localhost:{self.ports.ui},http://127.0.0.1:{self.ports.ui}",
            "SIMBO_WORKER_METRICS_ADDRESS": f"127.0.0.1:{self.ports.worker_metrics}",
            "SIMBO_FINANCE_SMTP_HOST": "127.0.0.1",
            "SIMBO_FINANCE_SMTP_PORT": str(self.ports.mail),
            **self.settings,
        }

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.simulator}"

    @property
    def sms_billing_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.sms_billing}"

    @property
    def channel_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.channel}"

    @property
    def codec_url(self) -> str:
        # localhost, as the Web UI is opened: the sign-in cookie is then the same site as the UI
        return f"http://localhost:{self.ports.codec}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports.temporal}"

    def migrate(self) -> None:
        subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        # the embedded issuer's demo users: the demo loaders, the tests and the benchmarks sign in as them
        subprocess.run([PY, "-m", "scripts.users", "demo"], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def staff_headers(self, name: str = "demo-admin") -> dict[str, str]:
        from scripts.users import staff_headers

        return staff_headers(self.api_url, name)

    def merchant_headers(self, merchant_id: str = "M001") -> dict[str, str]:
        from scripts.users import merchant_key_headers

        return merchant_key_headers(self.api_url, merchant_id)

    def spawn(self, name: str, args: list[str], log: str) -> subprocess.Popen:
        out = open(self.var / log, "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                start_new_session=True)
        self.logs[proc.pid] = self.var / log
        self.procs.append(proc)
        if not self.quiet:
            print(f"  started {name} (pid {proc.pid}), log {self.var / log}")
        return proc

    def start(self) -> "Stack":
        """Every process up and answering; if one does not come up, the ones started are stopped again."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> "Stack":
        self.var.mkdir(parents=True, exist_ok=True)
        self.migrate()
        temporal = [str(BIN / "temporal"), "server", "start-dev", "--db-filename", str(self.var / "temporal.db"),
                    "--ip", "127.0.0.1", "--port", str(self.ports.temporal), "--ui-port", str(self.ports.ui),
                    "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
                    "--log-level", "warn"]
        if not self.ui:
            temporal.append("--headless")
        else:  # the UI asks the codec server to decode every payload it shows (docs/data-protection.md)
            temporal += ["--ui-codec-endpoint", self.codec_url]
        for key in SEARCH_ATTRIBUTES:
            temporal += ["--search-attribute", f"{key.name}={sa.cli_type(key)}"]
        self._start_temporal(temporal)
        self.spawn("carrier simulator", [PY, "-m", "simulators.carrier", "--host", "127.0.0.1",
                                         "--port", str(self.ports.simulator), "--state", str(self.var / "carrier-sim.json"),
                                         "--push-url", self.api_url, "--daily-every", str(self.daily_every)],
                   "simulator.log")
        self.spawn("SMS gateway + billing simulator", [PY, "-m", "simulators.sms_billing", "--host", "127.0.0.1",
                                                      "--port", str(self.ports.sms_billing),
                                                      "--state", str(self.var / "sms-billing-sim.json"),
                                                      "--push-url", self.api_url], "sms-billing.log")
        self.spawn("payment-channel simulator", [PY, "-m", "simulators.payment_channel", "--host", "127.0.0.1",
                                                 "--port", str(self.ports.channel),
                                                 "--state", str(self.var / "channel-sim.json")], "channel-sim.log")
        self.spawn("mail sink", [PY, "-m", "simulators.mail_sink", "--port", str(self.ports.mail),
                                 "--dir", str(self.var / "mail")], "mail-sink.log")
        self.spawn("worker", [PY, "worker.py"], "worker.log")
        self.spawn("API", [PY, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(self.ports.api),
                           "--log-level", "warning"], "api.log")
        if self.ui:
            self.spawn("codec server", [PY, "-m", "uvicorn", "api.codec:app", "--host", "127.0.0.1",
                                        "--port", str(self.ports.codec), "--log-level", "warning"], "codec.log")
        self.wait_http(f"{self.api_url}/healthz", "API")
        if self.ui:
            self.wait_http(f"{self.codec_url.replace('localhost', '127.0.0.1')}/healthz", "codec server")
        self.wait_http(f"{self.simulator_url}/sim/stats", "carrier simulator")
        self.wait_http(f"{self.sms_billing_url}/sim/stats", "SMS gateway + billing simulator")
        self.wait_http(f"{self.channel_url}/sim/stats", "payment-channel simulator")
        return self

    def _start_temporal(self, args: list[str], attempts: int = 3) -> None:
        """The dev server up; started again if it dies at start (an internal port it picked was taken meanwhile)."""
        for attempt in range(1, attempts + 1):
            proc = self.spawn("Temporal dev server", args, "temporal.log")
            try:
                # in a thread of its own, so callers that already run an event loop (tests) can use the stack too
                with ThreadPoolExecutor(1) as pool:
                    pool.submit(asyncio.run, self._wait_temporal()).result()
                return
            except RuntimeError:
                if proc.poll() is None or attempt == attempts:
                    raise
                self.procs.remove(proc)
                if not self.quiet:
                    print(f"  the Temporal dev server exited with {proc.returncode} at start; starting it again")

    async def _wait_temporal(self) -> None:
        from core.temporal import connect

        for _ in range(240):
            self.check_alive()
            try:
                await connect(self.temporal_address)
                return
            except Exception:  # noqa: BLE001 - not up yet
                await asyncio.sleep(0.25)
        raise RuntimeError(f"Temporal dev server did not come up; see {self.var / 'temporal.log'}")

    def wait_http(self, url: str, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{what} did not come up at {url}; see the logs in {self.var}")

    def check_alive(self) -> None:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[:4]} exited with {p.returncode}; see the logs in {self.var}"
                                   f"{self._log_tail(p)}")

    def _log_tail(self, proc: subprocess.Popen, lines: int = 15) -> str:
        """The end of a dead process's log, so a failure on a machine whose files are gone still says why."""
        try:
            text = self.logs[proc.pid].read_text(errors="replace")
        except (KeyError, OSError):
            return ""
        return "; its log ends:\n" + "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each child process (user + system), for the benchmarks' breakdown."""
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for p in self.procs:
            try:
                fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
                out[Path(str(p.args[0])).name + ":" + " ".join(str(a) for a in p.args[1:3])] = (
                    int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return out

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.clear()

    def __enter__(self) -> "Stack":
        try:
            return self.start()
        except BaseException:  # a process that failed to come up must not leave the others running
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

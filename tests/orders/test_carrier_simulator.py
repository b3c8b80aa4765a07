"""The carrier simulator over real HTTP, driven through our CarrierGateway, pushing to a fake receiver."""

import asyncio
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.http import PeerRejected, PeerUnavailable
from core.settings import Settings
from core.signing import SOURCE_HEADER, BadSignature, verify
from domain.orders.carrier_events import WIRE_FIELDS, parse_csv, parse_json_lines
from domain.orders.carriers import Carrier
from domain.orders.order import StatusCause, SuspensionMode
from gateways.carrier import CarrierGateway
from simulators.carrier import create_app

SETTINGS = Settings(carrier_api_secret="api-secret-for-tests",
                    push_secrets={c.value: f"push-secret-of-{c.value}" for c in Carrier})
T0 = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)


# -- servers in background threads -------------------------------------------------------------


def bound_socket() -> socket.socket:
    """Bound to a free port but not listening yet: connections are refused until a server uses it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServerThread:
    def __init__(self, app: FastAPI, sock: socket.socket | None = None) -> None:
        self.sock = sock or bound_socket()
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class Receiver:
    """A stand-in for our API's /carrier-events/batch: verifies the signature and records every request."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_left = fail_first
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/carrier-events/batch")
        async def batch(request: Request):
            body = await request.body()
            rec = {
                "content_type": request.headers.get("content-type"),
                "source": request.headers.get(SOURCE_HEADER),
                "body": body.decode(),
            }
            try:
                verify(SETTINGS.push_keys, request.headers, body, request.method, request.url.path)
                rec["verified"] = True
            except BadSignature:
                rec["verified"] = False
            with self.lock:
                if self.fail_left > 0:
                    self.fail_left -= 1
                    rec["status"] = 503
                elif not rec["verified"]:
                    rec["status"] = 401
                else:
                    rec["status"] = 200
                self.requests.append(rec)
            return JSONResponse({"received": True}, status_code=rec["status"])

    def ok(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["status"] == 200]

    def all(self) -> list[dict]:
        with self.lock:
            return list(self.requests)


async def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    """Poll until predicate() is truthy; fail after a bounded wait (no timing assertions)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def start_sim(tmp_path, push_url: str | None = None, **kw) -> ServerThread:
    kw.setdefault("daily_every", 0)
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.2)
    kw.setdefault("save_delay", 0.01)
    app = create_app(tmp_path / "sim-state.json", push_url, SETTINGS, seed=7, **kw)
    return ServerThread(app).start()


@pytest.fixture
def sim(tmp_path):
    server = start_sim(tmp_path)
    yield server
    server.stop()


@pytest.fixture
async def admin(sim):
    async with httpx.AsyncClient(base_url=sim.url, timeout=10) as client:
        yield client


@pytest.fixture
async def gateway(sim):
    async with CarrierGateway(sim.url, SETTINGS.carrier_api_secret, payout_base_url=sim.url) as gw:
        yield gw


def scenario(order_id: str, carrier: str = "china_mobile", push: str = "daily", audit: dict | None = None, **kw) -> dict:
    events = [
        {"event_id": f"{order_id}-1", "order_id": order_id, "kind": "shipped", "occurred_at": T0.isoformat(),
         "tracking_no": "SF123"},
        {"event_id": f"{order_id}-2", "order_id": order_id, "kind": "delivery",
         "occurred_at": (T0 + timedelta(days=2)).isoformat(), "delivery_status": "signed"},
        {"event_id": f"{order_id}-3", "order_id": order_id, "kind": "recharged",
         "occurred_at": (T0 + timedelta(days=3)).isoformat(), "amount_fen": 5000, "to_msisdn": "13800001234"},
    ]
    return {
        "order_id": order_id,
        "carrier": carrier,
        "msisdn": "13800001234",
        "events": events,
        "final_status": kw.get("final_status", {"in_network": True}),
        "audit": audit,
        "push": push,
    }


# -- carrier API through the gateway -------------------------------------------------------------


async def test_number_status(admin, gateway):
    final = {"in_network": False, "mode": "risk_control", "cause": "risk_control", "cancelled": False}
    r = await admin.post("/sim/scenarios", json=scenario("O-1", carrier="china_unicom", final_status=final))
    assert r.status_code == 200, r.text
    await admin.post("/sim/scenarios", json=scenario("O-2", carrier="china_unicom"))

    before = datetime.now(UTC)
    answer = await gateway.number_status("china_unicom", "O-1")
    assert answer.in_network is False
    assert answer.mode == SuspensionMode.RISK_CONTROL
    assert answer.cause == StatusCause.RISK_CONTROL
    assert answer.cancelled is False
    assert answer.asked_at.tzinfo is not None and answer.asked_at >= before

    assert (await gateway.number_status("china_unicom", "O-2")).in_network is True

    with pytest.raises(PeerRejected) as err:
        await gateway.number_status("china_unicom", "NOPE")
    assert err.value.status == 404 and err.value.reason == "unknown order"
    with pytest.raises(PeerRejected) as err:  # the order belongs to another carrier
        await gateway.number_status("china_mobile", "O-1")
    assert err.value.status == 404


async def test_audit_pagination_with_cap_and_pending(admin, gateway):
    ids = [f"A-{n:02d}" for n in (7, 3, 1, 6, 2, 5, 4)]  # posted out of order
    batch = [scenario(i, carrier="china_telecom",
                      audit={"month": "202502", "approved": i != "A-03", "commission_fen": 3000,
                             "reason": None if i != "A-03" else "agent_violation"}) for i in ids]
    batch.append(scenario("B-other-month", carrier="china_telecom",
                          audit={"month": "202503", "approved": True, "commission_fen": 1}))
    batch.append(scenario("C-other-carrier", carrier="china_mobile",
                          audit={"month": "202502", "approved": True, "commission_fen": 1}))
    batch.append(scenario("D-no-audit", carrier="china_telecom"))
    r = await admin.post("/sim/scenarios/batch", json=batch)
    assert r.json()["accepted"] == 10

    # Not published yet: ready=false, not an error.
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await admin.post("/sim/behaviour", json={"audit_pending_until": {"china_telecom-202502": later},
                                                 "audit_page_size_cap": 3})
    assert r.status_code == 200, r.text
    page = await gateway.audit_page("china_telecom", "202502", None)
    assert page == {"month": "202502", "ready": False, "results": [], "next_page_token": None}
    # Other carriers' audits of the month are not held back.
    assert (await gateway.audit_page("china_mobile", "202502", None))["ready"] is True

    # Published (the pending date has passed): arrives in pages of at most 3, ordered by order_id.
    earlier = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    await admin.post("/sim/behaviour", json={"audit_pending_until": {"china_telecom-202502": earlier}})
    assert (await admin.get("/sim/behaviour")).json()["audit_page_size_cap"] == 3  # partial update kept it

    pages, token = [], None
    while True:
        page = await gateway.audit_page("china_telecom", "202502", token, page_size=500)
        assert page["ready"] is True
        pages.append([row["order_id"] for row in page["results"]])
        token = page["next_page_token"]
        if token is None:
            break
    assert pages == [["A-01", "A-02", "A-03"], ["A-04", "A-05", "A-06"], ["A-07"]]

    rows = (await gateway.audit_page("china_telecom", "202502", None, page_size=2))["results"]
    assert [r["order_id"] for r in rows] == ["A-01", "A-02"]  # a smaller asked size still wins
    third = (await gateway.audit_page("china_telecom", "202502", None))["results"][2]
    assert third == {"order_id": "A-03", "approved": False, "commission_fen": 3000, "reason": "agent_violation"}

    with pytest.raises(PeerRejected) as err:
        await gateway.audit_page("china_telecom", "202502", "!!not-a-token!!")
    assert err.value.status == 400


async def test_payout_is_idempotent(admin, gateway):
    first = await gateway.payout("PO-1", "agent-9", 12345)
    assert first["status"] == "paid" and first["payout_id"] == "PO-1"
    assert first["reference"].startswith("PAY-") and len(first["reference"]) == len("PAY-") + 8
    again = await gateway.payout("PO-1", "agent-9", 12345)
    assert again["reference"] == first["reference"]
    other = await gateway.payout("PO-2", "agent-9", 100)
    assert other["reference"] != first["reference"]

    with pytest.raises(PeerRejected) as err:  # same id, different amount: refused, not paid twice
        await gateway.payout("PO-1", "agent-9", 99999)
    assert err.value.status == 409
    stats = (await admin.get("/sim/stats")).json()
    assert stats["payouts"] == 2 and stats["payout_requests"] == 4


async def test_bad_signature_is_401(admin, sim):
    await admin.post("/sim/scenarios", json=scenario("S-1"))
    async with CarrierGateway(sim.url, "not-the-secret") as wrong:
        with pytest.raises(PeerRejected) as err:
            await wrong.number_status("china_mobile", "S-1")
        assert err.value.status == 401 and "signature" in err.value.reason
        with pytest.raises(PeerRejected) as err:
            await wrong.payout("PO-x", "agent", 1)
        assert err.value.status == 401

    r = await admin.post("/carriers/china_mobile/number-status", json={"order_id": "S-1"})  # unsigned
    assert r.status_code == 401 and "missing" in r.json()["detail"]
    assert (await admin.get("/sim/stats")).json()["payouts"] == 0


async def test_unavailable_on_errors_timeouts_and_closed_port(admin, sim):
    await admin.post("/sim/scenarios", json=scenario("U-1"))
    await admin.post("/sim/behaviour", json={"error_rate": 1.0})
    async with CarrierGateway(sim.url, SETTINGS.carrier_api_secret) as gw:
        with pytest.raises(PeerUnavailable, match="503"):
            await gw.number_status("china_mobile", "U-1")

    await admin.post("/sim/behaviour", json={"error_rate": 0.0, "latency_ms": 800})
    short = httpx.AsyncClient(timeout=httpx.Timeout(0.1))
    async with CarrierGateway(sim.url, SETTINGS.carrier_api_secret, client=short) as gw:
        with pytest.raises(PeerUnavailable, match="timed out"):
            await gw.number_status("china_mobile", "U-1")
    await short.aclose()
    await admin.post("/sim/behaviour", json={"latency_ms": 0})

    closed = bound_socket()  # bound, never listening: connection refused
    try:
        async with CarrierGateway(f"http://127.0.0.1:{closed.getsockname()[1]}", "x") as gw:
            with pytest.raises(PeerUnavailable):
                await gw.audit_page("china_mobile", "202501", None)
    finally:
        closed.close()


# -- pushes to our API -------------------------------------------------------------------------


async def test_push_now_ndjson_retried_after_503(tmp_path):
    receiver = Receiver(fail_first=1)
    api = ServerThread(receiver.app).start()
    sim = start_sim(tmp_path, push_url=api.url)
    try:
        async with httpx.AsyncClient(base_url=sim.url) as admin:
            r = await admin.post("/sim/scenarios", json=scenario("N-1", carrier="china_broadnet", push="now"))
            assert r.json()["queued_now"] == 3
            await wait_for(receiver.ok, what="the ndjson push to be accepted")

            first, *_ = receiver.all()
            assert first["status"] == 503  # our API was "down" for the first attempt
            [ok] = receiver.ok()
            assert ok["content_type"] == "application/x-ndjson"
            assert ok["source"] == "china_broadnet" and ok["verified"] is True
            parsed = list(parse_json_lines(ok["body"]))
            assert [p.error for p in parsed] == ["", "", ""]
            assert [p.event.event_id for p in parsed] == ["N-1-1", "N-1-2", "N-1-3"]

            stats = await wait_for(
                lambda: _stats_when(admin, lambda s: s["pending_pushes"] == 0), what="outbox to drain"
            )
            assert stats["pushes_sent"] == 1 and stats["push_failures"] >= 1 and stats["events_pushed"] == 3
    finally:
        sim.stop()
        api.stop()


async def test_daily_csv_file_per_carrier(tmp_path):
    receiver = Receiver()
    api = ServerThread(receiver.app).start()
    sim = start_sim(tmp_path, push_url=api.url)
    try:
        async with httpx.AsyncClient(base_url=sim.url) as admin:
            batch = [scenario("D-1"), scenario("D-2"), scenario("D-3", carrier="china_unicom")]
            assert (await admin.post("/sim/scenarios/batch", json=batch)).json()["queued_daily"] == 9
            stats = (await admin.get("/sim/stats")).json()
            assert stats["pending_daily_events"] == 9 and stats["pending_pushes"] == 0
            assert receiver.all() == []

            r = await admin.post("/sim/push-daily")
            assert r.json() == {"files": {"china_mobile": 6, "china_unicom": 3}}
            await wait_for(lambda: len(receiver.ok()) == 2, what="two daily files")

            files = {f["source"]: f for f in receiver.ok()}
            assert set(files) == {"china_mobile", "china_unicom"}
            for f in files.values():
                assert f["content_type"].startswith("text/csv") and f["verified"] is True
                assert f["body"].splitlines()[0] == ",".join(WIRE_FIELDS)
            mobile = list(parse_csv(files["china_mobile"]["body"]))
            assert [p.error for p in mobile] == [""] * 6
            assert {p.event.order_id for p in mobile} == {"D-1", "D-2"}
            recharge = next(p.event for p in mobile if p.event.event_id == "D-1-3")
            assert recharge.amount_fen == 5000 and recharge.to_msisdn == "13800001234"
            assert recharge.occurred_at == T0 + timedelta(days=3)

            stats = await wait_for(lambda: _stats_when(admin, lambda s: s["pending_pushes"] == 0), what="drain")
            assert stats["pending_daily_events"] == 0 and stats["pushes_sent"] == 2
    finally:
        sim.stop()
        api.stop()


async def test_pending_pushes_survive_api_down_and_restart(tmp_path):
    api_sock = bound_socket()  # our API is down: the port refuses connections
    api_url = f"http://127.0.0.1:{api_sock.getsockname()[1]}"
    sim = start_sim(tmp_path, push_url=api_url)
    try:
        async with httpx.AsyncClient(base_url=sim.url) as admin:
            await admin.post("/sim/scenarios", json=scenario("R-1", carrier="china_telecom", push="now"))
            await admin.post("/sim/scenarios", json=scenario("R-2", carrier="china_telecom", push="daily"))
            await wait_for(lambda: _stats_when(admin, lambda s: s["push_failures"] >= 2), what="failed attempts")
    finally:
        sim.stop()  # flushes the state file
    state = json.loads((tmp_path / "sim-state.json").read_text())
    assert len(state["outbox"]) == 1 and state["outbox"][0]["attempts"] >= 2
    assert len(state["daily_pending"]["china_telecom"]) == 3

    receiver = Receiver()
    api = ServerThread(receiver.app, sock=api_sock).start()  # our API comes back on the same port
    sim = start_sim(tmp_path, push_url=api_url)  # and the simulator restarts from its state file
    try:
        await wait_for(lambda: len(receiver.ok()) == 1, what="the resumed ndjson push")
        assert {p.event.order_id for p in parse_json_lines(receiver.ok()[0]["body"])} == {"R-1"}
        async with httpx.AsyncClient(base_url=sim.url) as admin:
            await admin.post("/sim/push-daily")
        await wait_for(lambda: len(receiver.ok()) == 2, what="the resumed daily file")
        assert receiver.ok()[1]["content_type"].startswith("text/csv")
        async with CarrierGateway(sim.url, SETTINGS.carrier_api_secret) as gw:  # scenarios survived too
            assert (await gw.number_status("china_telecom", "R-2")).in_network is True
    finally:
        sim.stop()
        api.stop()


async def _stats_when(admin: httpx.AsyncClient, cond) -> dict | None:
    stats = (await admin.get("/sim/stats")).json()
    return stats if cond(stats) else None


# -- the state file: a save costs what changed ---------------------------------------------------


def _state(path, **kw):
    from simulators.carrier import JOURNALED, State
    from simulators.scaffold import JsonState

    return JsonState(path, State, journaled=JOURNALED, **kw)


def _add(store, order_id: str) -> None:
    from simulators.carrier import Scenario

    store.value.scenarios[order_id] = Scenario.model_validate(scenario(order_id))
    store.changed("scenarios", order_id)


def test_a_save_appends_only_what_changed_and_a_restart_replays_it(tmp_path):
    path = tmp_path / "sim-state.json"
    store = _state(path)
    for n in range(50):
        _add(store, f"S-{n}")
    store.save_changes()  # no file yet: the whole state once
    assert store.full_saves == 1 and not store.journal.exists()
    before = path.read_text()

    _add(store, "S-new")
    store.value.payouts["P1"] = {"agent_id": "A1", "amount_fen": 100, "reference": "PAY-1", "paid_at": "x"}
    store.changed("payouts", "P1")
    store.value.outbox = []  # the rest (in flight: outbox, counters) goes with every save
    store.count("pushes_sent", 3)
    store.save_changes()
    assert path.read_text() == before and store.full_saves == 1  # the 50 scenarios were not written again
    lines = [json.loads(x) for x in store.journal.read_text().splitlines()]
    assert [x["set"][:2] for x in lines if "set" in x] == [["scenarios", "S-new"], ["payouts", "P1"]]
    assert lines[-1]["rest"]["stats"] == {"pushes_sent": 3}

    with store.journal.open("a") as f:
        f.write('{"set": ["scenarios", "S-torn", {"order')  # a crash in the middle of a line
    again = _state(path)
    assert sorted(again.value.scenarios) == sorted([f"S-{n}" for n in range(50)] + ["S-new"])
    assert again.value.payouts["P1"]["reference"] == "PAY-1" and again.value.stats == {"pushes_sent": 3}


def test_the_journal_is_folded_into_the_file_once_it_outgrows_it(tmp_path):
    path = tmp_path / "sim-state.json"
    store = _state(path)
    _add(store, "S-0")
    store.save_changes()
    saves = 0
    while store.full_saves == 1:  # a journal larger than the file (at least 1 MiB) is folded in
        for k in range(20):
            _add(store, f"S-{saves}-{k}")
        store.save_changes()
        saves += 1
        assert saves < 2000
    assert not store.journal.exists() and len(_state(path).value.scenarios) == len(store.value.scenarios)
    assert saves > 20  # the full write is the exception: about 1 MiB of appends (20 scenarios each) first

"""A stand-in for the four carriers and the payout bank, speaking the signed protocol for real.

    python -m simulators.carrier --port 8100 --state var/carrier-sim.json --push-url http://localhost:8000

Scenarios (one order's events, its number status at the check point, its audit line) are posted to
the unsigned admin API, kept in memory and saved to the `--state` JSON file, so a restart resumes
with the same scenarios, pending pushes and payouts.

Pushes to our API go through an outbox: a scenario with push="now" queues its events as ndjson at
once; push="daily" events wait for the next daily status file (one CSV per carrier, every
`--daily-every` seconds or on POST /sim/push-daily). The pusher sends the outbox in order, signed
with the carrier's push key, and on 5xx / timeouts / connection errors retries the same item with
exponential backoff: nothing is dropped. A 4xx answer (our API refuses the file) parks the item in
`rejected` (kept, visible in /sim/stats, re-queued by POST /sim/requeue-rejected).

The carrier API (signed with our API key; 401 with a reason otherwise):
    POST /carriers/{carrier}/orders             {"order_id","product_id","msisdn","recipient","real_name"} ->
                                                accepted with the carrier's order number, or refused with a reason
                                                (idempotent by order_id: a repeat gets the first answer)
    POST /carriers/{carrier}/number-status      {"order_id"} -> final status of the scenario
    GET  /carriers/{carrier}/audits/{month}     ?page_token=&page_size= -> one page of audit lines
    POST /payouts                               {"payout_id","agent_id","amount_fen"} (idempotent)
    POST /carriers/{carrier}/accounts/precheck  {"cancellation_id","msisdn"} -> the account's obstacles
    POST /carriers/{carrier}/accounts/clear     {"cancellation_id","msisdn","item_id","action"} (idempotent)
    POST /carriers/{carrier}/accounts/cancel    {"cancellation_id","msisdn"} (idempotent)
Admin (unsigned): POST /sim/scenarios, /sim/scenarios/batch, /sim/orders, /sim/accounts, /sim/behaviour, /sim/push-daily,
/sim/reset, /sim/requeue-rejected; GET /sim/stats, /sim/behaviour, /sim/payouts.

Order submissions are scripted per number (POST /sim/orders, before the order is placed): accept (the default),
refuse with a reason, accept then cancel (an `order_cancelled` event is pushed after the acceptance), unavailable
(503 to every try, until the number is scripted again: a carrier down past the acceptance window), each with an
optional latency of the first answer (a slow carrier: our retry gets the stored answer). An order without recipient
or real-name data is refused as `incomplete_order_data`. A scenario posted with `after_acceptance: true` holds its
events until the order is accepted (then they are queued as its `push` says); a refused order's are dropped.

Account cancellation cases are scripted per number (POST /sim/accounts): the obstacles the first pre-check
finds, the ones a re-check finds on top (a service that renewed itself meanwhile), the items the carrier
refuses to clear (with its reason) and a refusal of the cancellation itself. A number nobody scripted is a
clean account: eligible at once. Clearing an item removes it from the account, so the next pre-check no
longer reports it.
"""

import asyncio
import base64
import binascii
import csv
import io
import json
import random
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import httpx
import structlog
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from core.http import signed_request
from core.settings import Settings, get_settings
from domain.cancellations import AccountFacts, ClearAction
from domain.msisdn import mask_msisdn
from domain.orders.carrier_events import WIRE_FIELDS, CarrierEventIn, explain
from domain.orders.carriers import Carrier
from domain.orders.order import StatusCause, SuspensionMode
from simulators.scaffold import JsonState, add_reset, cli, lifespan, parse_or_422, run, signed_body

log = structlog.get_logger("simulators.carrier")

MAX_PAGE_SIZE = 1000
NOW_BATCH_MAX = 500  # push="now" events of one carrier queued back to back share one ndjson push
PUSH_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


# -- models ------------------------------------------------------------------------------------


class FinalStatus(BaseModel):
    in_network: bool = True
    mode: SuspensionMode | None = None
    cause: StatusCause | None = None
    cancelled: bool = False


class AuditLine(BaseModel):
    month: str = Field(pattern=r"^\d{4}(0[1-9]|1[0-2])$")
    approved: bool
    commission_fen: int = Field(default=0, ge=0)
    reason: str | None = None


class Scenario(BaseModel):
    order_id: str = Field(min_length=1, max_length=64)
    carrier: Carrier
    msisdn: str = Field(pattern=r"^\+?\d{5,20}$")
    events: list[CarrierEventIn] = []
    final_status: FinalStatus = FinalStatus()
    audit: AuditLine | None = None
    push: Literal["now", "daily"] = "daily"
    after_acceptance: bool = False  # hold the events until the carrier accepted the order

    @model_validator(mode="after")
    def _events_are_this_orders(self):
        strangers = sorted({e.order_id for e in self.events if e.order_id != self.order_id})
        if strangers:
            raise ValueError(f"events of scenario {self.order_id} name other orders: {', '.join(strangers)}")
        return self


class Behaviour(BaseModel):
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    audit_pending_until: dict[str, AwareDatetime] = {}  # "<carrier>-<yyyymm>" -> ready=false until then
    audit_page_size_cap: int | None = Field(default=None, ge=1)
    # the payout bank refuses payouts to these agents' accounts on file with the reason given ("account_closed",
    # ...); a payout naming a new account is paid
    payout_bad_accounts: dict[str, str] = {}

    @field_validator("audit_pending_until")
    @classmethod
    def _keys(cls, value: dict[str, datetime]) -> dict[str, datetime]:
        for key in value:
            carrier, _, month = key.rpartition("-")
            if carrier not in set(Carrier) or len(month) != 6 or not month.isdigit():
                raise ValueError(f"key {key!r} must be '<carrier>-<yyyymm>', e.g. 'china_mobile-202501'")
        return value


class OutboxItem(BaseModel):
    id: str
    carrier: Carrier
    format: Literal["ndjson", "csv"]
    events: list[dict]  # wire events, JSON mode
    queued_at: AwareDatetime
    attempts: int = 0
    last_error: str = ""


class Payout(BaseModel):
    payout_id: str = Field(min_length=1, max_length=128)
    agent_id: str = Field(min_length=1, max_length=128)
    amount_fen: int = Field(gt=0)
    account: str = Field(default="", max_length=64)


class NumberStatusQuery(BaseModel):
    order_id: str = Field(min_length=1)


class OrderScript(BaseModel):
    """How the carrier answers the order for this number."""

    msisdn: str = Field(pattern=r"^\+?\d{5,20}$")
    # unavailable: the carrier's system answers 503 to this number's order until the script changes
    outcome: Literal["accept", "refuse", "accept_then_cancel", "unavailable"] = "accept"
    reason: str = Field(default="", max_length=64)  # refuse: real_name_check_failed, outside_coverage, ...
    detail: str = Field(default="", max_length=300)
    latency_ms: int = Field(default=0, ge=0, le=120_000)  # the first answer comes this late


class OrderSubmission(BaseModel):
    order_id: str = Field(min_length=1, max_length=64)
    product_id: str = Field(min_length=1, max_length=64)
    msisdn: str = Field(pattern=r"^\+?\d{5,20}$")
    recipient: dict | None = None
    real_name: dict | None = None


class AccountScript(BaseModel):
    """One number's scripted cancellation case."""

    msisdn: str = Field(pattern=r"^\+?\d{5,20}$")
    carrier: Carrier
    facts: AccountFacts = AccountFacts()
    on_recheck: AccountFacts = AccountFacts()  # added to the account at the second pre-check
    refuse_clear: dict[str, str] = {}  # item id ("value_added:V1") -> the carrier's reason
    refuse_cancel: str = ""
    prechecks: int = 0
    cleared: dict[str, str] = {}  # "<cancellation>:<item>" -> reference
    cancelled: dict[str, str] = {}  # cancellation id -> reference


class AccountQuery(BaseModel):
    cancellation_id: str = Field(min_length=1, max_length=128)
    msisdn: str = Field(pattern=r"^\+?\d{5,20}$")


class ClearQuery(AccountQuery):
    item_id: str = Field(min_length=1, max_length=200)
    action: ClearAction


def _without(facts: AccountFacts, item_id: str) -> AccountFacts:
    kind, _, key = item_id.partition(":")
    f = facts.model_copy(deep=True)
    if kind == "contract":
        f.contracts = [c for c in f.contracts if c.contract_id != key]
    elif kind == "balance":
        f.balance_fen = 0
    elif kind == "device":
        f.devices = [d for d in f.devices if d.device_id != key]
    elif kind == "family_plan":
        f.family_plans = [p for p in f.family_plans if p.plan_id != key]
    elif kind == "value_added":
        f.value_added = [v for v in f.value_added if v.service_id != key]
    return f


def _merged(a: AccountFacts, b: AccountFacts) -> AccountFacts:
    return AccountFacts(contracts=a.contracts + b.contracts, balance_fen=a.balance_fen + b.balance_fen,
                        devices=a.devices + b.devices, family_plans=a.family_plans + b.family_plans,
                        value_added=a.value_added + b.value_added)


class State(BaseModel):
    """Everything that survives a restart."""

    version: int = 1
    scenarios: dict[str, Scenario] = {}
    daily_pending: dict[str, list[dict]] = {}  # carrier -> wire events waiting for the daily file
    outbox: list[OutboxItem] = []
    rejected: list[OutboxItem] = []
    payouts: dict[str, dict] = {}  # payout_id -> {"agent_id","amount_fen","reference","paid_at"}
    accounts: dict[str, AccountScript] = {}  # msisdn -> its scripted cancellation case
    order_scripts: dict[str, OrderScript] = {}  # msisdn -> how its order is answered
    submitted: dict[str, dict] = {}  # order_id -> the first answer (and the carrier, the masked number)
    held: dict[str, list[dict]] = {}  # order_id -> wire events waiting for the order's acceptance
    behaviour: Behaviour = Behaviour()
    stats: dict[str, int] = {}


# What grows with use: a save appends the entries that changed (O(changes)); what is in flight (outbox, held events,
# pending daily events, counters) is saved whole with each save.
JOURNALED = ("scenarios", "accounts", "payouts", "submitted", "order_scripts")


# -- the simulator -----------------------------------------------------------------------------


class CarrierSimulator:
    """The scenarios and their persisted state, the outbox pusher and the daily-file loop."""

    def __init__(
        self,
        settings: Settings,
        state_path: Path | None,
        push_url: str | None,
        daily_every: float = 60.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        save_delay: float = 0.2,
        seed: int | None = None,
    ) -> None:
        self.settings = settings
        self.state_path = state_path
        self.push_url = push_url.rstrip("/") if push_url else None
        self.daily_every = daily_every
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.rng = random.Random(seed)
        self.store = JsonState(state_path, State, save_delay, journaled=JOURNALED)
        if self.store.loaded:
            log.info(
                "sim.state_loaded",
                path=str(self.state_path),
                scenarios=len(self.state.scenarios),
                outbox=len(self.state.outbox),
                daily_pending=sum(len(v) for v in self.state.daily_pending.values()),
            )
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._client: httpx.AsyncClient | None = None

    @property
    def state(self) -> State:
        return self.store.value

    # lifecycle

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=PUSH_TIMEOUT)
        self.store.start()
        self._tasks = []
        if self.push_url:
            self._tasks.append(asyncio.create_task(self._pusher(), name="sim-pusher"))
            if self.daily_every > 0:
                self._tasks.append(asyncio.create_task(self._daily_loop(), name="sim-daily"))
        if self.state.outbox:
            self._wake.set()
        log.info("sim.started", push_url=self.push_url, daily_every=self.daily_every, state=str(self.state_path))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client:
            await self._client.aclose()
        await self.store.stop()
        log.info("sim.stopped", outbox=len(self.state.outbox))

    # scenarios

    def add_scenarios(self, scenarios: list[Scenario]) -> dict:
        now_events = daily_events = 0
        for sc in scenarios:
            replaced = sc.order_id in self.state.scenarios
            self.state.scenarios[sc.order_id] = sc
            self.store.changed("scenarios", sc.order_id)
            wire = [e.model_dump(mode="json") for e in sc.events]
            answer = self.state.submitted.get(sc.order_id)
            if sc.after_acceptance and answer is None:
                self.state.held[sc.order_id] = wire
                wire = []
            elif sc.after_acceptance and not answer["accepted"]:
                wire = []  # a refused order ships nothing
            if sc.push == "now":
                self._queue_now(sc.carrier, wire)
                now_events += len(wire)
            else:
                self.state.daily_pending.setdefault(sc.carrier.value, []).extend(wire)
                daily_events += len(wire)
            log.info(
                "sim.scenario",
                order_id=sc.order_id,
                carrier=sc.carrier.value,
                msisdn=mask_msisdn(sc.msisdn),
                events=len(wire),
                push=sc.push,
                replaced=replaced,
            )
        self.store.count("scenarios_received", len(scenarios))
        self.store.mark_dirty()
        if now_events:
            self._wake.set()
        return {"accepted": len(scenarios), "queued_now": now_events, "queued_daily": daily_events}

    def _queue_now(self, carrier: Carrier, wire: list[dict]) -> None:
        if not wire:
            return
        tail = self.state.outbox[-1] if self.state.outbox else None
        # Coalesce into the last queued ndjson push of this carrier if nobody has tried to send it yet
        # (the pusher renders and counts an attempt in one step, so attempts == 0 means untouched).
        if (
            tail is not None
            and tail.carrier == carrier
            and tail.format == "ndjson"
            and tail.attempts == 0
            and len(tail.events) + len(wire) <= NOW_BATCH_MAX
        ):
            tail.events.extend(wire)
            return
        self.state.outbox.append(self._item(carrier, "ndjson", wire))

    def _item(self, carrier: Carrier, fmt: Literal["ndjson", "csv"], wire: list[dict]) -> OutboxItem:
        return OutboxItem(id=uuid.uuid4().hex[:12], carrier=carrier, format=fmt, events=wire, queued_at=datetime.now(UTC))

    def submit(self, carrier: Carrier, order: OrderSubmission) -> tuple[dict, int]:
        """The carrier's answer to an order (the first one again for a repeat) and how late to give it (ms)."""
        known = self.state.submitted.get(order.order_id)
        if known is not None:
            self.store.count("order_resubmissions")
            return known, 0
        script = self.state.order_scripts.get(order.msisdn) or OrderScript(msisdn=order.msisdn)
        if script.outcome == "unavailable":
            self.store.count("orders_unanswered")
            raise HTTPException(503, detail="the carrier's order system is unavailable (simulated)")
        if not order.recipient or not order.real_name:
            answer = {"accepted": False, "reason": "incomplete_order_data",
                      "detail": "recipient and real-name data are required"}
        elif script.outcome == "refuse":
            answer = {"accepted": False, "reason": script.reason or "carrier_refused", "detail": script.detail}
        else:
            answer = {"accepted": True, "carrier_order_no": f"{''.join(w[0] for w in carrier.value.split('_')).upper()}-{secrets.token_hex(5).upper()}"}
        known = {"order_id": order.order_id, **answer, "carrier": carrier.value, "msisdn": mask_msisdn(order.msisdn),
                 "answered_at": datetime.now(UTC).isoformat()}
        self.state.submitted[order.order_id] = known
        self.store.changed("submitted", order.order_id)
        self.store.count("orders_accepted" if answer["accepted"] else "orders_refused")
        held = self.state.held.pop(order.order_id, [])
        sc = self.state.scenarios.get(order.order_id)
        if answer["accepted"]:
            if held:
                if sc is not None and sc.push == "daily":
                    self.state.daily_pending.setdefault(carrier.value, []).extend(held)
                else:
                    self._queue_now(carrier, held)
            if script.outcome == "accept_then_cancel":
                self._queue_now(carrier, [{"event_id": f"{order.order_id}-carrier-cancel", "order_id": order.order_id,
                                           "kind": "order_cancelled", "occurred_at": datetime.now(UTC).isoformat(),
                                           "reason": script.detail or "cancelled by the carrier"}])
            self._wake.set()
        self.store.mark_dirty()
        log.info("sim.order", carrier=carrier.value, order_id=order.order_id, msisdn=mask_msisdn(order.msisdn),
                 accepted=answer["accepted"], reason=answer.get("reason", ""), outcome=script.outcome)
        return known, script.latency_ms

    def cut_daily_files(self) -> dict[str, int]:
        """Turn every carrier's pending daily events into one CSV status file in the outbox."""
        cut: dict[str, int] = {}
        for carrier in Carrier:
            events = self.state.daily_pending.pop(carrier.value, [])
            if events:
                self.state.outbox.append(self._item(carrier, "csv", events))
                cut[carrier.value] = len(events)
        if cut:
            log.info("sim.daily_files", files=cut)
            self.store.mark_dirty()
            self._wake.set()
        return cut

    async def _daily_loop(self) -> None:
        while True:
            await asyncio.sleep(self.daily_every)
            self.cut_daily_files()

    # pushing

    async def _pusher(self) -> None:
        while True:
            if not self.state.outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self.state.outbox[0]
            outcome = await self._push(item)
            if outcome == "retry":
                delay = min(self.backoff_max, self.backoff_initial * 2 ** min(item.attempts - 1, 20))
                await asyncio.sleep(delay * (0.5 + self.rng.random() / 2))
                continue
            self.state.outbox.pop(0)
            if outcome == "rejected":
                self.state.rejected.append(item)
            self.store.mark_dirty()

    async def _push(self, item: OutboxItem) -> Literal["sent", "retry", "rejected"]:
        assert self._client is not None and self.push_url is not None
        body, content_type = render(item)
        item.attempts += 1
        url = f"{self.push_url}/carrier-events/batch"
        ctx = {"item": item.id, "carrier": item.carrier.value, "format": item.format, "events": len(item.events)}
        try:  # each carrier signs with its own key, each attempt with a new request id
            resp = await self._client.send(signed_request(
                self._client, "POST", url, body, self.settings.push_secrets.get(item.carrier.value, ""),
                item.carrier.value, content_type=content_type))
        except httpx.HTTPError as err:
            item.last_error = f"{type(err).__name__}: {err}"[:300]
            self.store.count("push_failures")
            log.warning("sim.push_failed", attempt=item.attempts, error=item.last_error, **ctx)
            return "retry"
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            item.last_error = f"HTTP {resp.status_code}"
            self.store.count("push_failures")
            log.warning("sim.push_failed", attempt=item.attempts, status=resp.status_code, **ctx)
            return "retry"
        if not 200 <= resp.status_code < 300:
            item.last_error = f"HTTP {resp.status_code}: {resp.text[:200]}"
            self.store.count("push_rejected")
            log.error("sim.push_rejected", status=resp.status_code, detail=resp.text[:200], **ctx)
            return "rejected"
        self.store.count("pushes_sent")
        self.store.count("events_pushed", len(item.events))
        log.info("sim.pushed", status=resp.status_code, attempts=item.attempts, **ctx)
        return "sent"

    def requeue_rejected(self) -> int:
        items, self.state.rejected = self.state.rejected, []
        for it in items:
            it.attempts = 0
        self.state.outbox.extend(items)
        if items:
            self.store.mark_dirty()
            self._wake.set()
        return len(items)

    # scripted behaviour on the signed APIs

    async def misbehave(self) -> None:
        b = self.state.behaviour
        if b.latency_ms:
            await asyncio.sleep(b.latency_ms / 1000)
        if b.error_rate and self.rng.random() < b.error_rate:
            self.store.count("injected_errors")
            raise HTTPException(503, detail="carrier system busy (simulated)")

    def stats(self) -> dict:
        s = dict(self.state.stats)
        for name in ("pushes_sent", "push_failures", "push_rejected", "events_pushed", "payouts", "orders_accepted",
                     "orders_refused", "orders_unanswered"):
            s.setdefault(name, 0)
        s.update(
            scenarios=len(self.state.scenarios),
            pending_pushes=len(self.state.outbox),
            pending_push_events=sum(len(i.events) for i in self.state.outbox),
            pending_daily_events=sum(len(v) for v in self.state.daily_pending.values()),
            rejected_pushes=len(self.state.rejected),
            payouts=len(self.state.payouts),
        )
        return s


def render(item: OutboxItem) -> tuple[bytes, str]:
    """The push body: ndjson (one event a line) or the daily CSV status file (header = WIRE_FIELDS)."""
    if item.format == "ndjson":
        lines = (json.dumps({k: v for k, v in e.items() if v is not None}, ensure_ascii=False) for e in item.events)
        return ("\n".join(lines) + "\n").encode(), "application/x-ndjson"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=WIRE_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for e in item.events:
        writer.writerow({k: "" if e.get(k) is None else e[k] for k in WIRE_FIELDS})
    return out.getvalue().encode(), "text/csv"


def _encode_token(order_id: str) -> str:
    return base64.urlsafe_b64encode(order_id.encode()).decode().rstrip("=")


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise HTTPException(400, detail="bad page_token") from None


# -- the app -----------------------------------------------------------------------------------


def create_app(
    state_path: str | Path | None = None,
    push_url: str | None = None,
    settings: Settings | None = None,
    daily_every: float = 60.0,
    backoff_initial: float = 0.5,
    backoff_max: float = 30.0,
    save_delay: float = 0.2,
    seed: int | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    sim = CarrierSimulator(
        settings,
        Path(state_path) if state_path else None,
        push_url,
        daily_every=daily_every,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        save_delay=save_delay,
        seed=seed,
    )

    app = FastAPI(title="Carrier and payout-bank simulator", lifespan=lifespan(sim))
    app.state.sim = sim

    # GET requests are signed too, over their empty body.
    signed = signed_body(settings.carrier_api_secret, on_bad_signature=lambda: sim.store.count("bad_signatures"),
                         then=sim.misbehave)
    Signed = Annotated[bytes, Depends(signed)]  # noqa: N806 - a type alias

    def carrier_of(name: str) -> Carrier:
        try:
            return Carrier(name)
        except ValueError:
            raise HTTPException(404, detail=f"unknown carrier {name!r}") from None

    # admin

    @app.post("/sim/scenarios")
    async def post_scenario(scenario: Scenario) -> dict:
        return sim.add_scenarios([scenario])

    @app.post("/sim/scenarios/batch")
    async def post_scenarios(scenarios: list[Scenario]) -> dict:
        return sim.add_scenarios(scenarios)

    @app.get("/sim/payouts")
    async def payouts() -> dict:
        """Every payout the bank made, by payout id (a repeat of an id returns the first and adds none)."""
        return sim.state.payouts

    @app.get("/sim/behaviour")
    async def get_behaviour() -> Behaviour:
        return sim.state.behaviour

    @app.post("/sim/behaviour")
    async def post_behaviour(update: Behaviour) -> Behaviour:
        """Only the fields present in the body change; the rest stay as they were."""
        merged = sim.state.behaviour.model_dump() | update.model_dump(include=update.model_fields_set)
        sim.state.behaviour = Behaviour.model_validate(merged)
        sim.store.mark_dirty()
        log.info("sim.behaviour", **{k: merged[k] for k in update.model_fields_set})
        return sim.state.behaviour

    @app.post("/sim/push-daily")
    async def push_daily() -> dict:
        return {"files": sim.cut_daily_files()}

    @app.post("/sim/requeue-rejected")
    async def requeue_rejected() -> dict:
        return {"requeued": sim.requeue_rejected()}

    @app.post("/sim/orders")
    async def post_orders(scripts: list[OrderScript]) -> dict:
        for sc in scripts:
            sim.state.order_scripts[sc.msisdn] = sc
            sim.store.changed("order_scripts", sc.msisdn)
            log.info("sim.order_script", msisdn=mask_msisdn(sc.msisdn), outcome=sc.outcome, reason=sc.reason)
        sim.store.mark_dirty()
        return {"accepted": len(scripts)}

    @app.get("/sim/orders/{order_id}")
    async def get_order(order_id: str) -> dict:
        known = sim.state.submitted.get(order_id)
        if known is None:
            raise HTTPException(404, detail="order never submitted")
        return known

    @app.post("/sim/accounts")
    async def post_accounts(scripts: list[AccountScript]) -> dict:
        for sc in scripts:
            sim.state.accounts[sc.msisdn] = sc
            sim.store.changed("accounts", sc.msisdn)
            log.info("sim.account", carrier=sc.carrier.value, msisdn=mask_msisdn(sc.msisdn))
        sim.store.mark_dirty()
        return {"accepted": len(scripts)}

    add_reset(app, sim.store)

    @app.get("/sim/stats")
    async def stats() -> dict:
        return sim.stats()

    # carrier API

    @app.post("/carriers/{carrier}/orders")
    async def submit_order(carrier: str, body: Signed) -> dict:
        c = carrier_of(carrier)
        order = parse_or_422(OrderSubmission, body, explain)
        known, latency_ms = sim.submit(c, order)
        if known["carrier"] != c.value:
            raise HTTPException(409, detail=f"order {order.order_id} was submitted to {known['carrier']}")
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)  # a slow carrier: the answer is stored, a retry gets it at once
        return {k: known[k] for k in ("order_id", "accepted", "carrier_order_no", "reason", "detail") if k in known}

    @app.post("/carriers/{carrier}/number-status")
    async def number_status(carrier: str, body: Signed) -> dict:
        c = carrier_of(carrier)
        query = parse_or_422(NumberStatusQuery, body, explain)
        sim.store.count("number_status_requests")
        sc = sim.state.scenarios.get(query.order_id)
        if sc is None or sc.carrier != c:
            raise HTTPException(404, detail="unknown order")
        log.info("sim.number_status", carrier=c.value, order_id=sc.order_id, msisdn=mask_msisdn(sc.msisdn))
        return {"order_id": sc.order_id, **sc.final_status.model_dump(mode="json")}

    @app.get("/carriers/{carrier}/audits/{month}")
    async def audit(
        carrier: str,
        month: str,
        _: Signed,
        page_token: str | None = None,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 500,
    ) -> dict:
        c = carrier_of(carrier)
        if len(month) != 6 or not month.isdigit():
            raise HTTPException(400, detail="month must be yyyymm")
        sim.store.count("audit_requests")
        b = sim.state.behaviour
        until = b.audit_pending_until.get(f"{c.value}-{month}")
        if until is not None and datetime.now(UTC) < until:
            log.info("sim.audit_pending", carrier=c.value, month=month, until=until.isoformat())
            return {"month": month, "ready": False, "results": [], "next_page_token": None}
        size = min(page_size, b.audit_page_size_cap or page_size)
        after = _decode_token(page_token) if page_token else None
        # Keyset pagination on order_id: stable even if scenarios are added between pages.
        lines = sorted(
            (sc for sc in sim.state.scenarios.values() if sc.carrier == c and sc.audit and sc.audit.month == month),
            key=lambda sc: sc.order_id,
        )
        if after is not None:
            lines = [sc for sc in lines if sc.order_id > after]
        page, more = lines[:size], len(lines) > size
        results = [
            {
                "order_id": sc.order_id,
                "approved": sc.audit.approved,
                "commission_fen": sc.audit.commission_fen,
                "reason": sc.audit.reason,
            }
            for sc in page
            if sc.audit
        ]
        log.info("sim.audit_page", carrier=c.value, month=month, results=len(results), more=more)
        return {
            "month": month,
            "ready": True,
            "results": results,
            "next_page_token": _encode_token(page[-1].order_id) if more else None,
        }

    # account cancellation

    def account_of(c: Carrier, msisdn: str) -> AccountScript:
        sc = sim.state.accounts.get(msisdn)
        if sc is None:  # nobody scripted it: a clean account of this carrier
            sc = sim.state.accounts[msisdn] = AccountScript(msisdn=msisdn, carrier=c)
            sim.store.changed("accounts", msisdn)
        if sc.carrier != c:
            raise HTTPException(404, detail="number not on this carrier")
        return sc

    @app.post("/carriers/{carrier}/accounts/precheck")
    async def precheck(carrier: str, body: Signed) -> dict:
        c = carrier_of(carrier)
        q = parse_or_422(AccountQuery, body)
        sc = account_of(c, q.msisdn)
        sc.prechecks += 1
        if sc.prechecks == 2:
            sc.facts = _merged(sc.facts, sc.on_recheck)
        sim.store.count("precheck_requests")
        sim.store.changed("accounts", q.msisdn)
        log.info("sim.precheck", carrier=c.value, msisdn=mask_msisdn(q.msisdn), round=sc.prechecks)
        return {"cancellation_id": q.cancellation_id, "facts": sc.facts.model_dump(mode="json")}

    @app.post("/carriers/{carrier}/accounts/clear")
    async def clear(carrier: str, body: Signed) -> dict:
        c = carrier_of(carrier)
        q = parse_or_422(ClearQuery, body)
        sc = account_of(c, q.msisdn)
        key = f"{q.cancellation_id}:{q.item_id}"
        if key in sc.cleared:
            return {"cancellation_id": q.cancellation_id, "done": True, "reference": sc.cleared[key]}
        if q.item_id in sc.refuse_clear:
            return {"cancellation_id": q.cancellation_id, "done": False, "reason": sc.refuse_clear[q.item_id]}
        sc.facts = _without(sc.facts, q.item_id)
        sc.cleared[key] = f"CLR-{secrets.token_hex(4)}"
        sim.store.count("clear_requests")
        sim.store.changed("accounts", q.msisdn)
        log.info("sim.clear", carrier=c.value, msisdn=mask_msisdn(q.msisdn), item_id=q.item_id, action=q.action.value)
        return {"cancellation_id": q.cancellation_id, "done": True, "reference": sc.cleared[key]}

    @app.post("/carriers/{carrier}/accounts/cancel")
    async def cancel(carrier: str, body: Signed) -> dict:
        c = carrier_of(carrier)
        q = parse_or_422(AccountQuery, body)
        sc = account_of(c, q.msisdn)
        if q.cancellation_id in sc.cancelled:
            return {"cancellation_id": q.cancellation_id, "done": True, "reference": sc.cancelled[q.cancellation_id]}
        if sc.refuse_cancel:
            return {"cancellation_id": q.cancellation_id, "done": False, "reason": sc.refuse_cancel}
        sc.cancelled[q.cancellation_id] = f"CXL-{secrets.token_hex(4)}"
        sim.store.count("cancel_requests")
        sim.store.changed("accounts", q.msisdn)
        log.info("sim.cancel", carrier=c.value, msisdn=mask_msisdn(q.msisdn), cancellation_id=q.cancellation_id)
        return {"cancellation_id": q.cancellation_id, "done": True, "reference": sc.cancelled[q.cancellation_id]}

    # payout bank

    @app.post("/payouts")
    async def payout(body: Signed) -> JSONResponse:
        req = parse_or_422(Payout, body, explain)
        sim.store.count("payout_requests")
        known = sim.state.payouts.get(req.payout_id)
        refusal = sim.state.behaviour.payout_bad_accounts.get(req.agent_id)
        if known is None and refusal and not req.account:
            sim.store.count("payout_refusals")
            log.info("sim.payout_refused", payout_id=req.payout_id, agent_id=req.agent_id, reason=refusal)
            raise HTTPException(422, detail=refusal)
        if known is not None:
            if (known["agent_id"], known["amount_fen"]) != (req.agent_id, req.amount_fen):
                raise HTTPException(409, detail="payout_id already used with another agent or amount")
            log.info("sim.payout_repeat", payout_id=req.payout_id, reference=known["reference"])
        else:
            known = {
                "agent_id": req.agent_id,
                "amount_fen": req.amount_fen,
                "reference": f"PAY-{secrets.token_hex(4)}",
                "paid_at": datetime.now(UTC).isoformat(),
            }
            sim.state.payouts[req.payout_id] = known
            sim.store.changed("payouts", req.payout_id)
            log.info("sim.payout", payout_id=req.payout_id, agent_id=req.agent_id, amount_fen=req.amount_fen)
        return JSONResponse({"payout_id": req.payout_id, "status": "paid", "reference": known["reference"]})

    return app


# -- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    p = cli("simulators.carrier", __doc__, port=8100, state="var/carrier-sim.json",
            state_help="JSON file the scenarios persist to")
    p.add_argument("--push-url", default=settings.api_base_url, help="our API, which receives carrier pushes")
    p.add_argument("--daily-every", type=float, default=60.0, help="seconds between daily status files (0: never)")
    run(p, lambda args, s: create_app(args.state, args.push_url, s, daily_every=args.daily_every), argv,
        uvicorn_log_level="info")


if __name__ == "__main__":
    main()

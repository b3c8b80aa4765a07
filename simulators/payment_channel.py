"""A stand-in for the upstream payment channels (and the merchants' callback endpoint), over signed HTTP.

    python -m simulators.payment_channel --port 8300 --state var/channel-sim.json

Channel API (signed with our channel key, like core/signing.py; 401 with a reason otherwise):
    POST /channels/{channel}/refunds          {"serial","refund_id","payment_id","amount_fen"}
    POST /channels/{channel}/refunds/query    {"serial"}  -> not_found | processing | success | failed | reversed
    POST /channels/{channel}/payouts          {"payout_id","refund_id","amount_fen","card"}  (idempotent)
    POST /channels/{channel}/payouts/query    {"payout_id"}
    GET  /channels/{channel}/statements/{yyyymmdd}   the day's refund lines (Shanghai day)
Merchant side (our signed callbacks land here): POST /merchant/callbacks
Admin (unsigned): POST /sim/payments (scripts per payment), POST /sim/channels/{channel} (channel-wide
behaviour), GET /sim/stats, GET /sim/refunds/{refund_id}, GET /sim/callbacks/{refund_id}, POST /sim/reset.

Scripted behaviours per payment (`behaviour`, applied to the first `times` serials of a refund; later
serials succeed): ok, accepted_then_failed, accepted_then_succeeded, never_received, too_frequent,
void_card, daily_volume, no_refund_api, statement_mismatch, timeout, slow, server_error_after_accept,
amount_mismatch, success_then_reversed, unknown_code, system_busy.

The simulator counts what must never happen: a request for a serial it already registered
(`duplicate_serial_requests`), two requests of one serial in flight at once (`concurrent_serial_requests`),
a refund paid twice (`duplicate_channel_refunds`: two successful serials, or a refund and a payout) and
more refunded than paid (`over_refunds`).
"""

import asyncio
import json
import secrets
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import structlog
from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from core.settings import Settings, get_settings
from domain.clock import SHANGHAI
from simulators.scaffold import JsonState, add_reset, cli, lifespan, parse_or_422, run, signed_body

log = structlog.get_logger("simulators.payment_channel")


class Behaviour(StrEnum):
    OK = "ok"
    ACCEPTED_THEN_FAILED = "accepted_then_failed"
    ACCEPTED_THEN_SUCCEEDED = "accepted_then_succeeded"
    NEVER_RECEIVED = "never_received"
    TOO_FREQUENT = "too_frequent"
    VOID_CARD = "void_card"
    DAILY_VOLUME = "daily_volume"
    NO_REFUND_API = "no_refund_api"
    STATEMENT_MISMATCH = "statement_mismatch"
    TIMEOUT = "timeout"
    SLOW = "slow"
    SERVER_ERROR_AFTER_ACCEPT = "server_error_after_accept"
    AMOUNT_MISMATCH = "amount_mismatch"
    SUCCESS_THEN_REVERSED = "success_then_reversed"
    UNKNOWN_CODE = "unknown_code"
    SYSTEM_BUSY = "system_busy"


CODES = {
    Behaviour.TOO_FREQUENT: ("TOO_FREQUENT", "你的操作过于频繁,请稍后再试"),
    Behaviour.VOID_CARD: ("CARD_VOID", "该卡为作废卡,订单状态:01"),
    Behaviour.DAILY_VOLUME: ("DAILY_VOLUME_LOW", "当日交易金额小于退款金额"),
    Behaviour.NO_REFUND_API: ("NO_REFUND_API", "通道不支持退款接口"),
    Behaviour.UNKNOWN_CODE: ("E9999", "未知错误"),
    Behaviour.SYSTEM_BUSY: ("SYSTEM_BUSY", "系统繁忙,请求未受理"),
}


class PaymentScript(BaseModel):
    payment_id: str = Field(min_length=1, max_length=64)
    channel: str = Field(min_length=1, max_length=64)
    paid_fen: int = Field(gt=0)
    behaviour: Behaviour = Behaviour.OK
    times: int = Field(default=1, ge=0)  # how many serials of a refund behave so (then: ok)
    code: str | None = None  # accepted_then_failed: the code the channel fails it with
    settle_after_s: float = Field(default=0.5, ge=0)  # processing -> final after this long
    delay_s: float = Field(default=0.0, ge=0)  # timeout / slow: how long the answer takes


class ChannelBehaviour(BaseModel):
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    error_rate: float = Field(default=0.0, ge=0, le=1)  # 503 before anything is registered
    no_refund_api: bool = False


class RefundLine(BaseModel):
    serial: str
    channel: str
    refund_id: str
    payment_id: str
    amount_fen: int
    channel_serial: str
    status: str  # processing | success | failed | reversed
    final_status: str  # what processing turns into
    final_at: datetime
    code: str | None = None
    message: str | None = None
    statement_status: str | None = None  # the daily statement's own word, when it disagrees
    reverse_at: datetime | None = None
    received_at: datetime


class PayoutLine(BaseModel):
    payout_id: str
    channel: str
    refund_id: str
    amount_fen: int
    reference: str
    at: datetime


class State(BaseModel):
    payments: dict[str, PaymentScript] = {}
    channels: dict[str, ChannelBehaviour] = {}
    refunds: dict[str, RefundLine] = {}  # serial -> line
    serials_of: dict[str, list[str]] = {}  # refund_id -> distinct serials seen, in order
    sends_of: dict[str, int] = {}  # serial -> requests received (registered or not)
    payouts: dict[str, PayoutLine] = {}
    callbacks: dict[str, list[dict]] = {}  # refund_id -> callbacks received
    callback_failures_left: dict[str, int] = {}  # refund_id -> answer 500 this many more times
    stats: dict[str, int] = {}


class RefundRequest(BaseModel):
    serial: str = Field(min_length=8, max_length=64)
    refund_id: str = Field(min_length=1, max_length=64)
    payment_id: str = Field(min_length=1, max_length=64)
    amount_fen: int = Field(gt=0)


class QueryRequest(BaseModel):
    serial: str = Field(min_length=1, max_length=64)


class PayoutRequest(BaseModel):
    payout_id: str = Field(min_length=8, max_length=64)
    refund_id: str = Field(min_length=1, max_length=64)
    amount_fen: int = Field(gt=0)
    card: str = ""


class PayoutQuery(BaseModel):
    payout_id: str


class Simulator:
    def __init__(self, settings: Settings, state_path: Path | None) -> None:
        self.settings = settings
        self.store = JsonState(state_path, State)
        self.in_flight: Counter[str] = Counter()

    @property
    def state(self) -> State:
        return self.store.value

    def count(self, name: str, n: int = 1) -> None:
        """The counters are what a run is judged by (duplicate serials, concurrent sends): each one is saved."""
        self.store.count(name, n)
        self.store.mark_dirty()

    async def start(self) -> None:
        self.store.start()

    async def stop(self) -> None:
        await self.store.stop()

    # refund lines move on with time: processing -> final, success -> reversed

    def settle(self, line: RefundLine, now: datetime) -> RefundLine:
        if line.status == "processing" and now >= line.final_at:
            line.status = line.final_status
        if line.status == "success" and line.reverse_at and now >= line.reverse_at:
            line.status = "reversed"
            line.code, line.message = "REVERSED", "退款已被银行退回"
        return line

    def script_for(self, payment_id: str, refund_id: str, channel: str) -> tuple[PaymentScript | None, bool]:
        """(script, behaves): the payment's script and whether this refund's current serial follows it."""
        script = self.state.payments.get(payment_id)
        if script is None:
            return None, False
        k = len(self.state.serials_of.get(refund_id, []))  # this serial's position among the refund's serials
        return script, k <= script.times

    def stats(self) -> dict:
        s = dict(self.state.stats)
        success_by_refund: dict[str, int] = defaultdict(int)
        paid_back: dict[str, int] = defaultdict(int)
        for line in self.state.refunds.values():
            self.settle(line, datetime.now(UTC))
            if line.status == "success":
                success_by_refund[line.refund_id] += 1
                paid_back[line.payment_id] += line.amount_fen
        for p in self.state.payouts.values():
            success_by_refund[p.refund_id] += 1
        over = 0
        for payment_id, back in paid_back.items():
            script = self.state.payments.get(payment_id)
            if script and back > script.paid_fen:
                over += 1
        for name in ("refund_requests", "query_requests", "payout_requests", "dropped_requests", "callbacks",
                     "duplicate_serial_requests", "concurrent_serial_requests", "bad_signatures"):
            s.setdefault(name, 0)
        s.update(
            serials=len(self.state.refunds),
            refunds_succeeded=sum(1 for n in success_by_refund.values() if n >= 1),
            duplicate_channel_refunds=sum(1 for n in success_by_refund.values() if n > 1),
            over_refunds=over,
            payouts=len(self.state.payouts),
        )
        return s


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(state_path: str | Path | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    sim = Simulator(settings, Path(state_path) if state_path else None)

    app = FastAPI(title="Payment channel simulator", lifespan=lifespan(sim))
    app.state.sim = sim

    # No `then=`: the weather depends on the channel in the path, so each route plays it itself.
    channel_signed = signed_body(lambda request: settings.channel_secret(request.path_params.get("channel", "")),
                                 on_bad_signature=lambda: sim.count("bad_signatures"))
    merchant_signed = signed_body(settings.merchant_notify_secret,
                                  on_bad_signature=lambda: sim.count("bad_callback_signatures"))
    Signed = Annotated[bytes, Depends(channel_signed)]  # noqa: N806 - a type alias
    MerchantSigned = Annotated[bytes, Depends(merchant_signed)]  # noqa: N806 - a type alias

    async def channel_weather(channel: str) -> ChannelBehaviour:
        b = sim.state.channels.get(channel, ChannelBehaviour())
        if b.latency_ms:
            await asyncio.sleep(b.latency_ms / 1000)
        if b.error_rate and secrets.randbelow(10_000) < b.error_rate * 10_000:
            sim.count("injected_errors")
            raise HTTPException(503, detail="channel busy (simulated)")
        return b

    def answer(line: RefundLine, amount: int | None = None) -> dict:
        return {"serial": line.serial, "channel_serial": line.channel_serial, "status": line.status,
                "amount_fen": line.amount_fen if amount is None else amount, "code": line.code, "message": line.message}

    # ---- refunds -------------------------------------------------------------------------------

    @app.post("/channels/{channel}/refunds")
    async def refund(channel: str, body: Signed) -> dict:
        req = parse_or_422(RefundRequest, body)
        sim.count("refund_requests")
        sim.state.sends_of[req.serial] = sim.state.sends_of.get(req.serial, 0) + 1
        if sim.in_flight[req.serial]:
            sim.count("concurrent_serial_requests")
            log.error("sim.concurrent_serial", serial=req.serial, refund_id=req.refund_id)
        sim.in_flight[req.serial] += 1
        try:
            return await _refund(channel, req)
        finally:
            sim.in_flight[req.serial] -= 1
            if not sim.in_flight[req.serial]:
                del sim.in_flight[req.serial]

    async def _refund(channel: str, req: RefundRequest) -> dict:
        weather = await channel_weather(channel)
        now = _now()
        known = sim.state.refunds.get(req.serial)
        if known is not None:
            # a real channel answers a repeated serial idempotently; we also count it: it must not happen
            sim.count("duplicate_serial_requests")
            log.error("sim.duplicate_serial", serial=req.serial, refund_id=req.refund_id)
            return answer(sim.settle(known, now))
        serials = sim.state.serials_of.setdefault(req.refund_id, [])
        if req.serial not in serials:
            serials.append(req.serial)
        script, behaves = sim.script_for(req.payment_id, req.refund_id, channel)
        b = script.behaviour if (script and behaves) else Behaviour.OK
        if weather.no_refund_api:
            b = Behaviour.NO_REFUND_API
        if b == Behaviour.NEVER_RECEIVED and sim.state.sends_of[req.serial] <= max(1, script.times if script else 1):
            sim.count("dropped_requests")
            raise HTTPException(504, detail="gateway timeout (request never reached the channel)")
        if b == Behaviour.SYSTEM_BUSY and sim.state.sends_of[req.serial] <= 1:
            code, msg = CODES[b]
            return {"serial": req.serial, "channel_serial": None, "status": "failed", "amount_fen": req.amount_fen,
                    "code": code, "message": msg}  # not registered: the channel did not take it
        line = RefundLine(serial=req.serial, channel=channel, refund_id=req.refund_id, payment_id=req.payment_id,
                          amount_fen=req.amount_fen, channel_serial=f"CH{secrets.token_hex(6)}", status="success",
                          final_status="success", final_at=now, received_at=now)
        settle = timedelta(seconds=script.settle_after_s if script else 0.5)
        if b in CODES and b != Behaviour.SYSTEM_BUSY:
            line.status = line.final_status = "failed"
            line.code, line.message = CODES[b]
        elif b == Behaviour.ACCEPTED_THEN_FAILED:
            line.status, line.final_status, line.final_at = "processing", "failed", now + settle
            code = (script.code if script else None) or "TOO_FREQUENT"
            line.code, line.message = code, dict(CODES.values()).get(code, "退款失败")
        elif b == Behaviour.ACCEPTED_THEN_SUCCEEDED:
            line.status, line.final_status, line.final_at = "processing", "success", now + settle
        elif b == Behaviour.STATEMENT_MISMATCH:
            # the query keeps saying "processing"; the day's statement says it succeeded
            line.status, line.final_status, line.final_at = "processing", "processing", now
            line.statement_status = "success"
        elif b == Behaviour.SUCCESS_THEN_REVERSED:
            line.reverse_at = now + settle
        sim.state.refunds[req.serial] = line
        sim.store.mark_dirty()
        log.info("sim.refund", serial=req.serial, refund_id=req.refund_id, behaviour=b.value, status=line.status)
        if b in (Behaviour.TIMEOUT, Behaviour.SLOW):
            await asyncio.sleep(script.delay_s if script else 0)
        if b == Behaviour.SERVER_ERROR_AFTER_ACCEPT:
            raise HTTPException(500, detail="internal error (the refund was registered)")
        return answer(line, req.amount_fen + 1 if b == Behaviour.AMOUNT_MISMATCH else None)

    @app.post("/channels/{channel}/refunds/query")
    async def query(channel: str, body: Signed) -> dict:
        req = parse_or_422(QueryRequest, body)
        sim.count("query_requests")
        await channel_weather(channel)
        line = sim.state.refunds.get(req.serial)
        if line is None or line.channel != channel:
            return {"serial": req.serial, "status": "not_found", "channel_serial": None, "amount_fen": None,
                    "code": None, "message": None}
        script = sim.state.payments.get(line.payment_id)
        mismatch = script is not None and script.behaviour == Behaviour.AMOUNT_MISMATCH and line.status == "success"
        return answer(sim.settle(line, _now()), line.amount_fen + 1 if mismatch else None)

    # ---- payouts (the fallback route) ------------------------------------------------------------

    @app.post("/channels/{channel}/payouts")
    async def payout(channel: str, body: Signed) -> dict:
        req = parse_or_422(PayoutRequest, body)
        sim.count("payout_requests")
        await channel_weather(channel)
        known = sim.state.payouts.get(req.payout_id)
        if known is not None:
            if (known.refund_id, known.amount_fen) != (req.refund_id, req.amount_fen):
                raise HTTPException(409, detail="payout_id already used for another refund or amount")
            sim.count("duplicate_payout_requests")
        else:
            known = PayoutLine(payout_id=req.payout_id, channel=channel, refund_id=req.refund_id,
                               amount_fen=req.amount_fen, reference=f"PO{secrets.token_hex(5)}", at=_now())
            sim.state.payouts[req.payout_id] = known
            sim.store.mark_dirty()
        return {"payout_id": known.payout_id, "status": "success", "reference": known.reference,
                "amount_fen": known.amount_fen}

    @app.post("/channels/{channel}/payouts/query")
    async def payout_query(channel: str, body: Signed) -> dict:
        req = parse_or_422(PayoutQuery, body)
        await channel_weather(channel)
        known = sim.state.payouts.get(req.payout_id)
        if known is None:
            return {"payout_id": req.payout_id, "status": "not_found", "reference": None, "amount_fen": None}
        return {"payout_id": known.payout_id, "status": "success", "reference": known.reference,
                "amount_fen": known.amount_fen}

    # ---- the daily statement ------------------------------------------------------------------------

    @app.get("/channels/{channel}/statements/{day}")
    async def statement(channel: str, day: str, _: Signed) -> dict:
        if len(day) != 8 or not day.isdigit():
            raise HTTPException(400, detail="day must be yyyymmdd")
        now = _now()
        lines = []
        for line in sim.state.refunds.values():
            if line.channel == channel and line.received_at.astimezone(SHANGHAI).strftime("%Y%m%d") == day:
                sim.settle(line, now)
                lines.append({"serial": line.serial, "channel_serial": line.channel_serial, "refund_id": line.refund_id,
                              "amount_fen": line.amount_fen, "status": line.statement_status or line.status})
        return {"channel": channel, "day": day, "lines": sorted(lines, key=lambda x: x["serial"])}

    # ---- the merchants' side: our callbacks land here ---------------------------------------------------

    @app.post("/merchant/callbacks")
    async def merchant_callback(body: MerchantSigned) -> dict:
        data = json.loads(body)
        rid = str(data.get("refund_id"))
        left = sim.state.callback_failures_left.get(rid, 0)
        if left > 0:
            sim.state.callback_failures_left[rid] = left - 1
            sim.count("callbacks_refused")
            raise HTTPException(500, detail="merchant system down (simulated)")
        sim.state.callbacks.setdefault(rid, []).append(data)
        sim.count("callbacks")
        sim.store.mark_dirty()
        return {"ack": True}

    # ---- admin ------------------------------------------------------------------------------------

    @app.post("/sim/payments")
    async def add_payments(scripts: list[PaymentScript]) -> dict:
        for s in scripts:
            sim.state.payments[s.payment_id] = s
        sim.store.mark_dirty()
        return {"accepted": len(scripts)}

    @app.post("/sim/channels/{channel}")
    async def set_channel(channel: str, b: ChannelBehaviour) -> ChannelBehaviour:
        sim.state.channels[channel] = b
        sim.store.mark_dirty()
        return b

    @app.post("/sim/merchant-failures/{refund_id}")
    async def merchant_failures(refund_id: str, times: int = 1) -> dict:
        sim.state.callback_failures_left[refund_id] = times
        return {"refund_id": refund_id, "times": times}

    @app.get("/sim/refunds/{refund_id}")
    async def refund_lines(refund_id: str) -> dict:
        now = _now()
        serials = sim.state.serials_of.get(refund_id, [])
        return {
            "refund_id": refund_id,
            "serials": [{"serial": s, "sends": sim.state.sends_of.get(s, 0),
                         **(answer(sim.settle(sim.state.refunds[s], now)) if s in sim.state.refunds else
                            {"status": "not_registered"})} for s in serials],
            "payouts": [p.model_dump(mode="json") for p in sim.state.payouts.values() if p.refund_id == refund_id],
        }

    @app.get("/sim/callbacks/{refund_id}")
    async def callbacks(refund_id: str) -> list[dict]:
        return sim.state.callbacks.get(refund_id, [])

    @app.get("/sim/stats")
    async def stats() -> dict:
        return sim.stats()

    add_reset(app, sim.store)

    return app


def main(argv: list[str] | None = None) -> None:
    p = cli("simulators.payment_channel", __doc__, port=8300, state="var/channel-sim.json")
    run(p, lambda args, s: create_app(args.state, s), argv)


if __name__ == "__main__":
    main()

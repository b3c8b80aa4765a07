"""Refund side effects: the refund row and its history, every serial, channel calls, merchant callbacks, the sweep.

Every write is idempotent (history lines keyed by the workflow's event key, serials by the serial), and the
payment's running totals move only by the difference between a refund's old and new status, under the
payment row's lock, so a retried activity never counts an amount twice.
"""

import asyncio
from datetime import datetime, timedelta

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from core.db import utcnow
from core.http import PeerRejected, PeerUnavailable
from core.settings import get_settings
from db.refunds import (
    ChannelErrorMapping,
    Merchant,
    Payment,
    Refund,
    RefundChannel,
    RefundEvent,
    RefundSerial,
    WalletCredit,
)
from domain.refunds import (
    ANY_CHANNEL,
    RELEASES_AMOUNT,
    ChannelAnswer,
    ChannelState,
    ErrorAction,
    ErrorMapping,
    RefundRoute,
    RefundStatus,
    parse_backoff,
    sweep_next_check,
    translate,
)
from gateways.payment_channel import MerchantNotifier, PaymentChannelGateway
from services.refunds import repair_refunds
from workflows.refunds import contract
from workflows.refunds.contract import (
    NotifyRequest,
    QueryRequest,
    RefundProgress,
    SendRequest,
    SerialRecord,
    SweepAnswer,
    SweepOutcome,
    Translation,
)

log = structlog.get_logger()
SWEEP_CONCURRENCY = 20


def backoff_of(channel: RefundChannel | None) -> list[int]:
    return parse_backoff(channel.sweep_backoff_s if channel else "")


def _committed(status: str, amount: int) -> int:
    return 0 if status in {s.value for s in RELEASES_AMOUNT} else amount


def _succeeded(status: str, amount: int) -> int:
    return amount if status == RefundStatus.SUCCEEDED.value else 0


def apply_status(session: Session, refund: Refund, payment: Payment, new_status: str) -> None:
    """Move the payment's totals by the difference between the refund's old and new status (caller holds locks)."""
    old = refund.status
    for field, fn, amount in (
        ("committed_fen", _committed, refund.amount_fen),
        ("fee_committed_fen", _committed, refund.fee_back_fen),
        ("cost_committed_fen", _committed, refund.channel_cost_back_fen),
        ("succeeded_fen", _succeeded, refund.amount_fen),
    ):
        delta = fn(new_status, amount) - fn(old, amount)
        if delta:
            setattr(payment, field, getattr(payment, field) + delta)
    refund.status = new_status
    session.add(payment)


def ops_mappings(session: Session, channel: str) -> list[ErrorMapping]:
    rows = session.exec(select(ChannelErrorMapping).where(ChannelErrorMapping.channel.in_([channel, ANY_CHANNEL]))).all()  # type: ignore[attr-defined]
    return [ErrorMapping(channel=r.channel, raw_code=r.raw_code, internal_code=r.internal_code,
                         merchant_message=r.merchant_message, action=ErrorAction(r.action),
                         retry_after_s=r.retry_after_s) for r in rows]


def _upsert_serial(s: Session, r: SerialRecord, now: datetime) -> None:
    row = s.get(RefundSerial, r.serial)
    if row is None:
        row = RefundSerial(serial=r.serial, refund_id=r.refund_id, seq=r.seq, route=r.route.value, created_at=now)
    row.sends = r.sends
    row.outcome = r.outcome
    if r.answer is not None:
        row.channel_serial = r.answer.channel_serial or row.channel_serial
        row.raw_code = r.answer.raw_code or row.raw_code
        row.raw_message = r.answer.raw_message or row.raw_message
    row.updated_at = now
    s.add(row)


class RefundActivities:
    def __init__(self, engine: Engine, gateway: PaymentChannelGateway, notifier: MerchantNotifier | None = None,
                 client: Client | None = None) -> None:
        self.engine = engine
        self.gateway = gateway
        self.notifier = notifier or MerchantNotifier()
        self.client = client

    # ---- the database ------------------------------------------------------------------------------

    @activity.defn(name=contract.RECORD_REFUND_PROGRESS)
    def record_refund_progress(self, p: RefundProgress) -> None:
        now = utcnow()
        with Session(self.engine) as s:
            if s.exec(select(RefundEvent.id).where(RefundEvent.key == p.event_key)).first() is not None:
                return  # a retried activity: already applied
            refund = s.get(Refund, p.refund_id)
            if refund is None:
                raise ApplicationError(f"unknown refund {p.refund_id}", type="UnknownRefund", non_retryable=True)
            # lock order everywhere: payment row, then refund row
            payment = s.exec(select(Payment).where(Payment.id == refund.payment_id).with_for_update()).one()
            refund = s.exec(select(Refund).where(Refund.id == p.refund_id).with_for_update()).one()
            s.refresh(refund)
            apply_status(s, refund, payment, p.status.value)
            refund.waiting_for = p.waiting_for
            refund.route = p.route.value
            refund.current_serial = p.serial
            refund.serials_used = p.serials_used
            refund.failure_code = p.failure_code
            refund.failure_message = p.failure_message
            refund.updated_at = now
            if p.parked:
                channel = s.get(RefundChannel, refund.channel)
                refund.next_check_at = sweep_next_check(backoff_of(channel), 0, now)
                refund.checks_done = 0
            elif p.status != RefundStatus.PROCESSING or p.event == "sending":
                refund.next_check_at = None
            if p.status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.REJECTED):
                refund.finished_at = refund.finished_at or now
            else:
                refund.finished_at = None
            s.add(refund)
            if p.serial_record is not None:
                _upsert_serial(s, p.serial_record, now)
            for i, note in enumerate(p.notes):
                s.add(RefundEvent(refund_id=p.refund_id, at=now, kind=note, status=p.status.value,
                                  key=f"{p.event_key}/n{i}"))
            s.add(RefundEvent(refund_id=p.refund_id, at=now, kind=p.event, status=p.status.value, actor=p.actor,
                              reason=p.reason, statement_ref=p.statement_ref, detail=p.detail, key=p.event_key))
            s.commit()
        log.info("refund progress", refund_id=p.refund_id, status=p.status.value, refund_event=p.event,
                 serial=p.serial, actor=p.actor, workflow_id=activity.info().workflow_id)

    @activity.defn(name=contract.REPAIR_REFUNDS)
    async def repair_refunds(self) -> dict:
        """The repair pass (services/refunds.py): refunds stored without a running workflow get it started."""
        if self.client is None:
            raise ApplicationError("the repair pass needs a Temporal client", type="NoClient", non_retryable=True)
        grace = timedelta(seconds=get_settings().repair_grace_s)
        return (await repair_refunds(self.engine, self.client, grace)).model_dump()

    @activity.defn(name=contract.RECORD_SERIAL)
    def record_refund_serial(self, r: SerialRecord) -> None:
        with Session(self.engine) as s:
            _upsert_serial(s, r, utcnow())
            s.commit()

    @activity.defn(name=contract.TRANSLATE_CODE)
    def translate_channel_code(self, channel: str, raw_code: str) -> Translation:
        with Session(self.engine) as s:
            rows = ops_mappings(s, channel)
        mapping, known = translate(channel, raw_code, rows)
        return Translation(mapping=mapping, known=known)

    # ---- the channel -----------------------------------------------------------------------------

    @activity.defn(name=contract.SEND_REFUND)
    async def send_refund(self, req: SendRequest) -> ChannelAnswer:
        """One request with this serial. Never retried by Temporal: an unclear outcome is UNKNOWN, settled by query."""
        log.info("refund request", refund_id=req.refund_id, serial=req.serial, route=req.route.value,
                 channel=req.channel, amount_fen=req.amount_fen, workflow_id=activity.info().workflow_id)
        try:
            if req.route == RefundRoute.CHANNEL:
                return await self.gateway.refund(req.channel, req.serial, req.refund_id, req.payment_id, req.amount_fen)
            if req.route == RefundRoute.PAYOUT:
                return await self.gateway.payout(req.channel, req.serial, req.refund_id, req.amount_fen, req.card)
            if req.route == RefundRoute.WALLET:
                return await asyncio.to_thread(self._credit_wallet, req)
        except PeerRejected as err:
            raise ApplicationError(str(err), type="PeerRejected", non_retryable=True) from err
        raise ApplicationError(f"route {req.route.value} has no sender", type="PeerRejected", non_retryable=True)

    def _credit_wallet(self, req: SendRequest) -> ChannelAnswer:
        if not req.wallet_id:
            raise ApplicationError("no wallet to credit", type="PeerRejected", non_retryable=True)
        with Session(self.engine) as s:
            if s.get(WalletCredit, req.serial) is None:
                s.add(WalletCredit(serial=req.serial, refund_id=req.refund_id, wallet_id=req.wallet_id,
                                   amount_fen=req.amount_fen))
                s.commit()
        return ChannelAnswer(state=ChannelState.SUCCESS, serial=req.serial, channel_serial=f"wallet:{req.wallet_id}",
                             amount_fen=req.amount_fen)

    @activity.defn(name=contract.QUERY_REFUND)
    async def query_refund(self, req: QueryRequest) -> ChannelAnswer:
        try:
            if req.route == RefundRoute.PAYOUT:
                return await self.gateway.query_payout(req.channel, req.serial)
            if req.route == RefundRoute.WALLET:
                return await asyncio.to_thread(self._wallet_answer, req.serial)
            return await self.gateway.query(req.channel, req.serial)
        except PeerUnavailable as err:
            raise ApplicationError(str(err), type="PeerUnavailable") from err
        except PeerRejected as err:
            raise ApplicationError(str(err), type="PeerRejected", non_retryable=True) from err

    def _wallet_answer(self, serial: str) -> ChannelAnswer:
        with Session(self.engine) as s:
            credit = s.get(WalletCredit, serial)
        if credit is None:
            return ChannelAnswer(state=ChannelState.NOT_FOUND, serial=serial)
        return ChannelAnswer(state=ChannelState.SUCCESS, serial=serial, amount_fen=credit.amount_fen,
                             channel_serial=f"wallet:{credit.wallet_id}")

    # ---- the merchant ------------------------------------------------------------------------------

    @activity.defn(name=contract.NOTIFY_MERCHANT)
    async def notify_merchant(self, req: NotifyRequest) -> None:
        """Signed POST to the merchant's callback URL; raises until a 2xx acknowledges it (Temporal retries)."""
        refund, merchant = await asyncio.to_thread(self._refund_and_merchant, req.refund_id)
        if not refund.callback_url:
            return
        payload = {"refund_id": refund.id, "merchant_refund_no": refund.merchant_refund_no,
                   "payment_id": refund.payment_id, "status": req.status.value, "amount_fen": refund.amount_fen,
                   "fee_back_fen": refund.fee_back_fen,
                   "failure_code": refund.failure_code if req.status != RefundStatus.SUCCEEDED else None,
                   "failure_reason": refund.failure_message if req.status != RefundStatus.SUCCEEDED else "",
                   "notification_id": req.event_key}
        await self.notifier.notify(refund.callback_url, merchant.notify_secret, payload)
        await asyncio.to_thread(self._acknowledged, req)
        log.info("merchant notified", refund_id=refund.id, merchant_id=refund.merchant_id, status=req.status.value,
                 attempt=activity.info().attempt)

    def _refund_and_merchant(self, refund_id: str) -> tuple[Refund, Merchant]:
        with Session(self.engine) as s:
            refund = s.get(Refund, refund_id)
            if refund is None:
                raise ApplicationError(f"unknown refund {refund_id}", type="UnknownRefund", non_retryable=True)
            merchant = s.get(Merchant, refund.merchant_id)
            if merchant is None:
                raise ApplicationError(f"unknown merchant {refund.merchant_id}", type="UnknownMerchant", non_retryable=True)
            s.expunge_all()
            return refund, merchant

    def _acknowledged(self, req: NotifyRequest) -> None:
        key = f"{req.event_key}/ack"
        with Session(self.engine) as s:
            if s.exec(select(RefundEvent.id).where(RefundEvent.key == key)).first() is not None:
                return
            refund = s.get(Refund, req.refund_id)
            if refund is not None:
                refund.notified_status = req.status.value
                s.add(refund)
            s.add(RefundEvent(refund_id=req.refund_id, kind="merchant_notified", status=req.status.value,
                              detail=f"attempt {activity.info().attempt}", key=key))
            s.commit()

    # ---- the sweep ---------------------------------------------------------------------------------

    @activity.defn(name=contract.SWEEP_PROCESSING)
    async def sweep_processing_refunds(self, limit: int) -> SweepOutcome:
        """Query back every refund parked at the channel whose next check is due; tell its workflow the answer."""
        due = await asyncio.to_thread(self._due, limit)
        out = SweepOutcome()
        gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

        async def one(refund_id: str, channel: str, serial: str, route: str, backoff: list[int], checks: int) -> None:
            async with gate:
                try:
                    if route == RefundRoute.PAYOUT.value:
                        answer: ChannelAnswer | None = await self.gateway.query_payout(channel, serial)
                    else:
                        answer = await self.gateway.query(channel, serial)
                except (PeerUnavailable, PeerRejected) as err:
                    out.unavailable += 1
                    log.warning("sweep query-back failed", refund_id=refund_id, channel=channel, error=str(err))
                    answer = None
                out.checked += 1
                activity.heartbeat(out.checked)
                final = answer is not None and answer.state not in (ChannelState.PROCESSING, ChannelState.UNKNOWN)
                nxt = sweep_next_check(backoff, checks + 1, utcnow())
                await asyncio.to_thread(self._after_check, refund_id, serial, None if (final or nxt is None) else nxt)
                if final:
                    word = SweepAnswer(serial=serial, answer=answer)
                elif nxt is None:
                    word = SweepAnswer(serial=serial, exhausted=True)
                    out.exhausted += 1
                else:
                    return
                try:
                    await self.client.get_workflow_handle(contract.refund_workflow_id(refund_id)).signal(contract.SWEEP_ANSWER, word)
                    out.signalled += 1
                except RPCError as err:
                    log.warning("sweep could not reach the refund workflow", refund_id=refund_id, error=str(err))

        if self.client is None:
            raise ApplicationError("the sweep needs a Temporal client", type="Misconfigured", non_retryable=True)
        await asyncio.gather(*(one(*row) for row in due))
        log.info("refund sweep", checked=out.checked, signalled=out.signalled, exhausted=out.exhausted,
                 unavailable=out.unavailable)
        return out

    def _due(self, limit: int) -> list[tuple[str, str, str, str, list[int], int]]:
        now = utcnow()
        with Session(self.engine) as s:
            rows = s.exec(select(Refund).where(Refund.status == RefundStatus.PROCESSING.value,
                                               Refund.next_check_at.is_not(None),  # type: ignore[union-attr]
                                               Refund.next_check_at <= now)  # type: ignore[operator]
                          .order_by(Refund.next_check_at).limit(limit)).all()
            channels = {c.id: backoff_of(c) for c in s.exec(select(RefundChannel)).all()}
            return [(r.id, r.channel, r.current_serial or "", r.route, channels.get(r.channel, backoff_of(None)),
                     r.checks_done) for r in rows if r.current_serial]

    def _after_check(self, refund_id: str, serial: str, next_at: datetime | None) -> None:
        with Session(self.engine) as s:
            refund = s.exec(select(Refund).where(Refund.id == refund_id).with_for_update()).one()
            if refund.current_serial != serial:
                return  # the workflow moved on meanwhile
            refund.checks_done += 1
            refund.next_check_at = next_at
            s.add(refund)
            s.commit()

"""Payments, refund requests, ops actions, channels and the error table: the logic the refund routers call.

A refund request reserves its amount against the payment in ONE transaction holding the payment row's
lock (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE from core/db.py serialises
writers), so concurrent partial refunds can never add up to more than was paid. The refund row is
written first (unique merchant refund number = idempotency key), then its workflow is started with
USE_EXISTING, so a retry after a crash between the two only ensures the workflow.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import structlog
from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from core.db import utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from core.settings import get_settings
from core.temporal import live_query
from db.refunds import (
    ChannelErrorMapping,
    ChannelStatement,
    ChannelStatementLine,
    ChannelSwitch,
    Merchant,
    MerchantProduct,
    Payment,
    Refund,
    RefundChannel,
    RefundEvent,
    RefundSerial,
)
from domain.clock import SHANGHAI
from domain.refunds import (
    BUILT_IN_MAPPINGS,
    EXCEPTION_SOURCES,
    ChannelPolicy,
    ErrorMapping,
    FeeMode,
    FeeRule,
    LoadedStatement,
    LoopLimits,
    OverrideRefused,
    PaymentBalance,
    RefundRefused,
    RefundSource,
    RefundStatus,
    SerialWord,
    StatementLine,
    audit_reasons,
    check_statement_day,
    evidence_days,
    force_fail_obstacles,
    force_success_obstacle,
    initial_status,
    parse_backoff,
    parse_statement_ref,
    quote,
    statement_closed,
)
from services.identity import record_repairs
from workflows.refunds import contract
from workflows.refunds.contract import OpsAction, RefundInput, RefundView

log = structlog.get_logger(__name__)





# ---- payments ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewPayment:
    id: str
    merchant_id: str
    merchant_order_no: str
    channel: str
    product: str
    paid_fen: int
    fee_fen: int
    channel_cost_fen: int = 0
    consumer_card_masked: str = ""
    consumer_wallet_id: str | None = None
    paid_at: datetime | None = None
    callback_url: str | None = None  # where the merchant hears of an automatic (exception) refund


@dataclass
class RecordedPayment:
    payment: Payment
    created: bool
    auto_refund: Refund | None = None


def ensure_merchant(session: Session, merchant_id: str, name: str) -> None:
    """The platform's own shop as a merchant (the customers' SIM-order payments): created on first use. It gets no
    callbacks (its refunds are read back by the orders business), so its notify secret is a random one."""
    if session.get(Merchant, merchant_id) is None:
        session.add(Merchant(id=merchant_id, name=name, notify_secret=uuid.uuid4().hex))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()


def record_payment(session: Session, p: NewPayment, now: datetime | None = None) -> RecordedPayment:
    """Store a payment (idempotent on its id). A duplicate payment of the same merchant order, or a payment
    below its own fee, is an exception order: a full refund is requested for it at once."""
    existing = session.get(Payment, p.id)
    if existing is not None:
        if (existing.merchant_id, existing.paid_fen, existing.merchant_order_no) != (p.merchant_id, p.paid_fen, p.merchant_order_no):
            raise Conflict(f"payment {p.id} is already recorded with other details")
        auto = session.exec(select(Refund).where(Refund.payment_id == p.id, col(Refund.source).in_(
            [s.value for s in EXCEPTION_SOURCES]))).first()
        return RecordedPayment(existing, False, auto)
    if session.get(Merchant, p.merchant_id) is None:
        raise Refused(f"unknown merchant {p.merchant_id}")
    if session.get(RefundChannel, p.channel) is None:
        raise Refused(f"unknown channel {p.channel}")
    now = now or utcnow()
    earlier = session.exec(select(Payment.id).where(Payment.merchant_id == p.merchant_id,
                                                    Payment.merchant_order_no == p.merchant_order_no)).first()
    exception = "duplicate_payment" if earlier else ("below_fee" if p.paid_fen < p.fee_fen else None)
    row = Payment(id=p.id, merchant_id=p.merchant_id, merchant_order_no=p.merchant_order_no, channel=p.channel,
                  product=p.product, paid_fen=p.paid_fen, fee_fen=p.fee_fen, channel_cost_fen=p.channel_cost_fen,
                  consumer_card_masked=p.consumer_card_masked, consumer_wallet_id=p.consumer_wallet_id,
                  paid_at=p.paid_at or now, exception=exception)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return record_payment(session, p, now)
    session.refresh(row)
    auto = None
    if exception:
        source = RefundSource.DUPLICATE_PAYMENT if exception == "duplicate_payment" else RefundSource.BELOW_FEE
        why = (f"duplicate payment of merchant order {p.merchant_order_no} (first: {earlier})" if earlier
               else f"paid amount {p.paid_fen} fen is below the fee {p.fee_fen} fen")
        auto, _ = request_refund(session, NewRefund(
            merchant_id=p.merchant_id, merchant_refund_no=f"AUTO-{p.id}", payment_id=p.id, amount_fen=p.paid_fen,
            reason=why, callback_url=p.callback_url, requested_by="system", source=source), now)
        log.info("exception order refunded automatically", payment_id=p.id, merchant_id=p.merchant_id,
                 exception=exception, refund_id=auto.id)
    return RecordedPayment(row, True, auto)


# ---- refund requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRefund:
    merchant_id: str
    merchant_refund_no: str
    payment_id: str
    amount_fen: int
    reason: str
    callback_url: str | None = None
    requested_by: str = ""
    source: RefundSource = RefundSource.MERCHANT


def new_refund_id() -> str:
    return "RF" + uuid.uuid4().hex[:14].upper()


def _by_key(session: Session, merchant_id: str, no: str) -> Refund | None:
    return session.exec(select(Refund).where(Refund.merchant_id == merchant_id, Refund.merchant_refund_no == no)).first()


def _replay(existing: Refund, req: NewRefund) -> tuple[Refund, bool]:
    differs = [n for n, a, b in (("payment_id", existing.payment_id, req.payment_id),
                                 ("amount_fen", existing.amount_fen, req.amount_fen)) if a != b]
    if differs:
        raise Conflict(f"refund number {req.merchant_refund_no} was already used for refund {existing.id} "
                       f"with a different {', '.join(differs)}")
    return existing, False


def balance_of(payment: Payment) -> PaymentBalance:
    """What is committed against the payment row, with its remaining refundable amount and fee."""
    return PaymentBalance(paid_fen=payment.paid_fen, fee_fen=payment.fee_fen, channel_cost_fen=payment.channel_cost_fen,
                          committed_fen=payment.committed_fen, fee_committed_fen=payment.fee_committed_fen,
                          cost_committed_fen=payment.cost_committed_fen)


def policy_of(channel: RefundChannel) -> ChannelPolicy:
    return ChannelPolicy(channel=channel.id, auto_audit=channel.auto_audit, pre_debit=channel.pre_debit,
                         has_refund_api=channel.has_refund_api, auto_audit_limit_fen=channel.auto_audit_limit_fen,
                         cost_rule=FeeRule(mode=FeeMode(channel.cost_mode), fixed_fen=channel.cost_fixed_fen),
                         sweep_backoff_s=parse_backoff(channel.sweep_backoff_s))


def request_refund(session: Session, req: NewRefund, now: datetime | None = None) -> tuple[Refund, bool]:
    """Reserve the amount and write the refund row, or refuse with a reason. (refund, created)."""
    now = now or utcnow()
    existing = _by_key(session, req.merchant_id, req.merchant_refund_no)
    if existing is not None:
        return _replay(existing, req)
    payment = session.exec(select(Payment).where(Payment.id == req.payment_id).with_for_update()).first()
    if payment is None:
        session.rollback()
        raise NotFound(f"unknown payment {req.payment_id}")
    if payment.merchant_id != req.merchant_id:
        session.rollback()
        raise Refused(f"payment {req.payment_id} belongs to another merchant")
    channel = session.get(RefundChannel, payment.channel)
    assert channel is not None  # foreign key
    policy = policy_of(channel)
    if req.source in EXCEPTION_SOURCES:
        fee_rule = FeeRule(mode=FeeMode.PROPORTIONAL)  # a void payment: the whole fee goes back with it
    else:
        product = session.get(MerchantProduct, (payment.merchant_id, payment.product))
        fee_rule = FeeRule(mode=FeeMode(product.fee_mode), fixed_fen=product.fixed_fee_fen) if product else FeeRule(mode=FeeMode.NONE)
    balance = balance_of(payment)
    try:
        q = quote(balance, req.amount_fen, fee_rule, policy.cost_rule)
    except RefundRefused as err:
        session.rollback()
        raise Refused(str(err)) from None
    reasons = audit_reasons(policy, req.amount_fen, payment.paid_at, now, req.source)
    refund = Refund(id=new_refund_id(), merchant_id=req.merchant_id, merchant_refund_no=req.merchant_refund_no,
                    payment_id=payment.id, channel=payment.channel, amount_fen=req.amount_fen,
                    fee_back_fen=q.fee_back_fen, channel_cost_back_fen=q.channel_cost_back_fen,
                    merchant_debit_fen=q.merchant_debit_fen, reason=req.reason, callback_url=req.callback_url,
                    requested_by=req.requested_by or f"merchant:{req.merchant_id}", source=req.source.value,
                    status=initial_status(reasons).value,
                    audit_reasons="\n".join(reasons),
                    waiting_for="audit" if reasons else "the channel", created_at=now, updated_at=now)
    payment.committed_fen = q.after.committed_fen
    payment.fee_committed_fen = q.after.fee_committed_fen
    payment.cost_committed_fen = q.after.cost_committed_fen
    session.add(payment)
    session.add(refund)
    session.add(RefundEvent(refund_id=refund.id, at=now, kind="requested", status=refund.status,
                            actor=refund.requested_by, reason=req.reason,
                            detail=f"amount {q.amount_fen}, fee back {q.fee_back_fen}, channel cost back "
                                   f"{q.channel_cost_back_fen}, remaining after {q.after.remaining_fen}"))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = _by_key(session, req.merchant_id, req.merchant_refund_no)
        if existing is None:
            raise
        return _replay(existing, req)
    session.refresh(refund)
    log.info("refund requested", refund_id=refund.id, payment_id=payment.id, merchant_id=refund.merchant_id,
             amount_fen=refund.amount_fen, fee_back_fen=refund.fee_back_fen, status=refund.status)
    return refund, True


def refund_input(session: Session, refund_id: str) -> RefundInput:
    refund = session.get(Refund, refund_id)
    assert refund is not None
    payment = session.get(Payment, refund.payment_id)
    channel = session.get(RefundChannel, refund.channel)
    assert payment is not None and channel is not None
    settings = get_settings()
    return RefundInput(
        refund_id=refund.id, payment_id=refund.payment_id, merchant_id=refund.merchant_id, channel=refund.channel,
        amount_fen=refund.amount_fen, requested_by=refund.requested_by, source=refund.source,
        audit_reasons=[r for r in refund.audit_reasons.split("\n") if r], pre_debit=channel.pre_debit,
        has_refund_api=channel.has_refund_api, consumer_card_masked=payment.consumer_card_masked,
        consumer_wallet_id=payment.consumer_wallet_id, notify=bool(refund.callback_url),
        reversal_watch_s=channel.reversal_watch_s, send_timeout_s=settings.refund_send_timeout_s,
        limits=LoopLimits(query_backs=[int(x) for x in settings.refund_query_backs_s.split(",") if x.strip()]),
    )


async def ensure_workflow(client: Client, inp: RefundInput) -> None:
    try:
        await client.start_workflow(
            contract.REFUND_WORKFLOW, inp, id=contract.refund_workflow_id(inp.refund_id), task_queue=contract.TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(contract.REFUND_STATUS, initial_status(inp.audit_reasons).value),
                SearchAttributePair(contract.CHANNEL, inp.channel),
                SearchAttributePair(contract.MERCHANT_ID, inp.merchant_id),
            ]),
            memo={"summary": f"refund {inp.refund_id} of payment {inp.payment_id} ({inp.channel}, merchant "
                             f"{inp.merchant_id}) {inp.amount_fen} fen"},
            static_summary=contract.refund_summary(inp),
        )
    except WorkflowAlreadyStartedError:
        return  # REJECT_DUPLICATE: its process already ran to the end


def mark_started(session: Session, refund_ids: list[str], now: datetime | None = None) -> None:
    """Its workflow is known to run (or to have run): the repair pass leaves the refund alone."""
    if refund_ids:
        session.exec(update(Refund).where(col(Refund.id).in_(refund_ids), col(Refund.process_started_at).is_(None))
                     .values(process_started_at=now or utcnow()))
        session.commit()


class RefundRepairReport(BaseModel):
    processes_started: int = 0
    failed: int = 0


async def repair_refunds(engine: Engine, client: Client, grace: timedelta, now: datetime | None = None,
                         limit: int = 500) -> RefundRepairReport:
    """A crash between storing a refund (its amount reserved) and starting its workflow leaves the amount
    reserved with nothing moving it: start the workflow (idempotent), rows written more than `grace` ago."""
    before = (now or utcnow()) - grace

    def unstarted() -> list[RefundInput]:
        with Session(engine) as s:
            ids = s.exec(select(Refund.id).where(col(Refund.process_started_at).is_(None), Refund.created_at < before)
                         .order_by(col(Refund.created_at)).limit(limit)).all()
            return [refund_input(s, rid) for rid in ids]

    report, started = RefundRepairReport(), []
    for inp in await anyio.to_thread.run_sync(unstarted):
        try:
            await ensure_workflow(client, inp)
        except Exception as err:  # noqa: BLE001 - the next pass tries again
            report.failed += 1
            log.error("refund repair: workflow not started", refund_id=inp.refund_id, error=f"{type(err).__name__}: {err}")
            continue
        started.append(inp.refund_id)
        log.warning("refund repair: workflow started after a lost start", refund_id=inp.refund_id,
                    payment_id=inp.payment_id, amount_fen=inp.amount_fen)

    def stamp() -> None:
        with Session(engine) as s:
            record_repairs(s, "repair: refund workflow started", [f"refund_id={r}" for r in started])
            mark_started(s, started)  # commits both

    await anyio.to_thread.run_sync(stamp)
    report.processes_started = len(started)
    if started or report.failed:
        log.warning("refund repair pass", **report.model_dump())
    return report


# ---- reading ------------------------------------------------------------------------------------


@dataclass
class RefundDetail:
    refund: Refund
    serials: list[RefundSerial]
    history: list[RefundEvent]
    payment: Payment


def get_refund(session: Session, refund_id: str) -> RefundDetail:
    refund = session.get(Refund, refund_id)
    if refund is None:
        raise NotFound(f"unknown refund {refund_id}")
    serials = session.exec(select(RefundSerial).where(RefundSerial.refund_id == refund_id)
                           .order_by(col(RefundSerial.created_at), col(RefundSerial.seq))).all()
    history = session.exec(select(RefundEvent).where(RefundEvent.refund_id == refund_id)
                           .order_by(col(RefundEvent.at), col(RefundEvent.id))).all()
    payment = session.get(Payment, refund.payment_id)
    assert payment is not None
    return RefundDetail(refund, list(serials), list(history), payment)


@dataclass(frozen=True)
class RefundFilter:
    status: str | None = None
    channel: str | None = None
    merchant_id: str | None = None
    payment_id: str | None = None
    source: str | None = None
    failure_code: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def list_refunds(session: Session, f: RefundFilter, limit: int, offset: int) -> tuple[list[Refund], int]:
    conds = [getattr(Refund, name) == value for name, value in (
        ("status", f.status), ("channel", f.channel), ("merchant_id", f.merchant_id), ("payment_id", f.payment_id),
        ("source", f.source), ("failure_code", f.failure_code)) if value]
    if f.created_from:
        conds.append(col(Refund.created_at) >= f.created_from)
    if f.created_to:
        conds.append(col(Refund.created_at) < f.created_to)
    total = session.exec(select(func.count()).select_from(Refund).where(*conds)).one()
    rows = session.exec(select(Refund).where(*conds).order_by(col(Refund.created_at).desc(), col(Refund.id))
                        .limit(limit).offset(offset)).all()
    return list(rows), int(total)


async def live_view(client: Client | None, refund_id: str) -> tuple[RefundView | None, str]:
    """The workflow's own word (loop phase, serial, what it waits for), or (None, why) when it cannot answer."""
    return await live_query(client, contract.refund_workflow_id(refund_id), contract.VIEW, RefundView)


# ---- ops ----------------------------------------------------------------------------------------

UPDATE_ERRORS = {"FourEyes": Forbidden, "StatementRequired": Refused, "InvalidState": Conflict, "Busy": Conflict,
                 "PreDebitChannel": Conflict, "NotPreDebit": Conflict, "SerialStillLive": Conflict}
# Overrides that decide where money went: each needs the channel's own word or a loaded statement line.
EVIDENCED_ACTIONS = ("force_success", "force_fail")


def serial_words(session: Session, refund_id: str) -> list[SerialWord]:
    rows = session.exec(select(RefundSerial).where(RefundSerial.refund_id == refund_id)
                        .order_by(col(RefundSerial.seq))).all()
    return [SerialWord(serial=r.serial, outcome=r.outcome, sends=r.sends,
                       sent_on=r.created_at.astimezone(SHANGHAI).strftime("%Y%m%d"),
                       last_sent_on=r.updated_at.astimezone(SHANGHAI).strftime("%Y%m%d")) for r in rows]


def loaded_statement(session: Session, channel: str, day: str) -> LoadedStatement | None:
    head = session.get(ChannelStatement, (channel, day))
    if head is None:
        return None
    lines = session.exec(select(ChannelStatementLine).where(ChannelStatementLine.channel == channel,
                                                            ChannelStatementLine.day == day)).all()
    return LoadedStatement(channel=channel, day=day, closed=head.closed, lines=[
        StatementLine(serial=x.serial, amount_fen=x.amount_fen, status=x.status) for x in lines])


@dataclass(frozen=True)
class OverrideEvidence:
    statement_ref: str | None  # as checked, normalised
    checked_sends: dict[str, int] | None  # force fail: every serial and its sends as this check saw them


def override_evidence(session: Session, refund_id: str, action: str, statement_ref: str | None) -> OverrideEvidence:
    """Check a force success / force fail against the channel's word and a loaded statement before it reaches
    the workflow (refund rules: an override never frees money that may still move). Returns what the workflow
    re-checks when it applies a force fail: the serials and sends this check saw."""
    if action not in EVIDENCED_ACTIONS:
        return OverrideEvidence(statement_ref, None)
    refund = session.get(Refund, refund_id)
    if refund is None:
        raise NotFound(f"unknown refund {refund_id}")
    if not (statement_ref or "").strip():
        raise Refused("a statement reference (the reconciliation evidence) is required", type="statement_required")
    try:
        ref = parse_statement_ref(statement_ref or "")
        if ref.channel != refund.channel:
            raise OverrideRefused(f"statement {ref} is of channel {ref.channel}; the refund went through "
                                  f"{refund.channel}", "statement_of_other_channel")
        statement = loaded_statement(session, ref.channel, ref.day)
        if statement is None:
            raise OverrideRefused(f"statement {ref.channel}/{ref.day} is not loaded: load it (POST "
                                  f"/refund-channels/{ref.channel}/statements/{ref.day}), then cite it", "statement_not_loaded")
        serials = serial_words(session, refund_id)
        if action == "force_success":
            if why := force_success_obstacle(serials, statement, ref, refund.amount_fen):
                raise OverrideRefused(why, "statement_does_not_show_success")
            return OverrideEvidence(str(ref), None)
        days = sorted({d for one in serials for d in evidence_days(one)})
        if ref.day not in days or (ref.serial is not None and ref.serial not in {x.serial for x in serials}):
            raise OverrideRefused(f"statement {ref} is not about this refund's serials (sent on "
                                  f"{', '.join(sorted({x.sent_on for x in serials})) or 'no day'})",
                                  "statement_of_other_refund")
        statements = {d: st for d in days if (st := loaded_statement(session, refund.channel, d)) is not None}
        if obstacles := force_fail_obstacles(serials, statements):
            raise OverrideRefused("force fail would free money that may still be paid: " + "; ".join(obstacles),
                                  "serial_may_still_pay")
    except OverrideRefused as err:
        raise Conflict(str(err), type=err.type) from None
    return OverrideEvidence(str(ref), {s.serial: s.sends for s in serials})


def statement_day(day: str) -> str:
    """A statement's day as the API takes it: a real yyyymmdd, not in the future (Shanghai)."""
    try:
        when = check_statement_day(day)
    except OverrideRefused as err:
        raise Invalid(str(err), type=err.type) from None
    if when > utcnow().astimezone(SHANGHAI).date():
        raise Invalid(f"{day} has not begun in Shanghai: no statement yet", type="statement_day_in_future")
    return day


def load_statement(session: Session, channel: str, day: str, lines: list[dict], actor: str,
                   now: datetime | None = None) -> LoadedStatement:
    """Store the channel's statement of a day as loaded now (the evidence ops overrides cite). Loading again
    replaces the lines: the channel's latest word about that day wins, and whether the day had closed is
    re-read."""
    now = now or utcnow()
    statement_day(day)
    if session.get(RefundChannel, channel) is None:
        raise NotFound(f"unknown channel {channel}")
    parsed = {}
    for line in lines:
        serial = str(line.get("serial") or "")
        if serial:
            parsed[serial] = ChannelStatementLine(channel=channel, day=day, serial=serial,
                                                  refund_id=line.get("refund_id"),
                                                  amount_fen=int(line.get("amount_fen") or 0),
                                                  status=str(line.get("status")))
    for old in session.exec(select(ChannelStatementLine).where(ChannelStatementLine.channel == channel,
                                                               ChannelStatementLine.day == day)).all():
        session.delete(old)
    session.flush()
    head = session.get(ChannelStatement, (channel, day)) or ChannelStatement(channel=channel, day=day, closed=False,
                                                                             loaded_by=actor)
    head.closed, head.lines, head.loaded_by, head.loaded_at = statement_closed(day, now), len(parsed), actor, now
    session.add(head)
    session.add_all(parsed.values())
    session.commit()
    log.info("channel statement loaded", channel=channel, day=day, lines=len(parsed), closed=head.closed, actor=actor)
    return loaded_statement(session, channel, day)  # type: ignore[return-value]


def refund_status(session: Session, refund_id: str) -> str:
    refund = session.get(Refund, refund_id)
    if refund is None:
        raise NotFound(f"unknown refund {refund_id}")
    return refund.status


async def ops_action(client: Client, refund_id: str, status: str, action: str, body: OpsAction) -> str:
    """Send an ops action to the refund's workflow; its validator's refusal becomes a typed error."""
    if action not in contract.OPS_ACTIONS:
        raise NotFound(f"unknown action {action}; one of {', '.join(contract.OPS_ACTIONS)}")
    handle = client.get_workflow_handle(contract.refund_workflow_id(refund_id))
    try:
        return await handle.execute_update(action, body, result_type=str)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            raise UPDATE_ERRORS.get(cause.type or "", Conflict)(cause.message, type=cause.type or None) from None
        raise Conflict(str(cause)) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise Conflict(f"refund {refund_id} is {status}: its process has finished") from None
        raise


def set_channel(session: Session, channel_id: str, setting: str, value: bool, actor: str, reason: str) -> RefundChannel:
    """Switch a channel's automatic audit (or pre-debit marking), recorded with who and why."""
    if setting not in ("auto_audit", "pre_debit"):
        raise Refused(f"setting {setting} cannot be switched here")
    channel = session.get(RefundChannel, channel_id)
    if channel is None:
        raise NotFound(f"unknown channel {channel_id}")
    setattr(channel, setting, value)
    channel.updated_at = utcnow()
    session.add(channel)
    session.add(ChannelSwitch(channel=channel_id, setting=setting, value=str(value).lower(), actor=actor, reason=reason))
    session.commit()
    session.refresh(channel)
    log.warning("refund channel switched", channel=channel_id, setting=setting, value=value, actor=actor, reason=reason)
    return channel


def channel_switches(session: Session, channel_id: str) -> list[ChannelSwitch]:
    return list(session.exec(select(ChannelSwitch).where(ChannelSwitch.channel == channel_id)
                             .order_by(col(ChannelSwitch.at).desc())).all())


@dataclass
class MappingRow:
    mapping: ErrorMapping
    source: str  # "ops" or "built_in"
    created_by: str | None = None
    created_at: datetime | None = None
    overridden: bool = False


def error_mappings(session: Session, channel: str | None = None) -> list[MappingRow]:
    rows = session.exec(select(ChannelErrorMapping).order_by(col(ChannelErrorMapping.channel),
                                                             col(ChannelErrorMapping.raw_code))).all()
    ops = [MappingRow(ErrorMapping(channel=r.channel, raw_code=r.raw_code, internal_code=r.internal_code,
                                   merchant_message=r.merchant_message, action=r.action, retry_after_s=r.retry_after_s),
                      "ops", r.created_by, r.created_at) for r in rows if channel in (None, r.channel, "*")]
    codes = {m.mapping.raw_code for m in ops}  # a built-in any-channel row is overridden where ops set the code
    built = [MappingRow(m, "built_in", overridden=m.raw_code in codes) for m in BUILT_IN_MAPPINGS]
    return ops + built


def put_error_mapping(session: Session, m: ErrorMapping, actor: str) -> tuple[ChannelErrorMapping, bool]:
    """Add or replace ops' translation of a channel code; effective for the next decline, no deploy."""
    if m.channel != "*" and session.get(RefundChannel, m.channel) is None:
        raise Refused(f"unknown channel {m.channel}")
    row = session.exec(select(ChannelErrorMapping).where(ChannelErrorMapping.channel == m.channel,
                                                         ChannelErrorMapping.raw_code == m.raw_code)).first()
    created = row is None
    row = row or ChannelErrorMapping(channel=m.channel, raw_code=m.raw_code, internal_code="", merchant_message="",
                                     action="", created_by=actor)
    row.internal_code, row.merchant_message = m.internal_code, m.merchant_message
    row.action, row.retry_after_s, row.created_by, row.created_at = m.action.value, m.retry_after_s, actor, utcnow()
    session.add(row)
    session.commit()
    session.refresh(row)
    log.info("error mapping saved", channel=m.channel, raw_code=m.raw_code, action=m.action.value, actor=actor)
    return row, created


def payment_view(session: Session, payment_id: str) -> tuple[Payment, list[Refund]]:
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(f"unknown payment {payment_id}")
    refunds = session.exec(select(Refund).where(Refund.payment_id == payment_id).order_by(col(Refund.created_at))).all()
    return payment, list(refunds)



@dataclass
class ReconLine:
    serial: str
    refund_id: str | None
    amount_fen: int
    statement_status: str
    our_outcome: str | None  # the serial's outcome as we recorded it; None: a serial we never sent
    refund_status: str | None
    disagrees: bool


def reconcile(session: Session, statement_lines: list[dict]) -> list[ReconLine]:
    """Set a channel's daily statement beside our serials: the lines that disagree are the evidence ops use
    to force a refund's outcome (statement success, our refund not succeeded; or the reverse)."""
    serials = [str(line.get("serial")) for line in statement_lines]
    ours = {s.serial: s for s in session.exec(select(RefundSerial).where(col(RefundSerial.serial).in_(serials))).all()}
    refund_ids = {s.refund_id for s in ours.values()}
    refunds = {r.id: r for r in session.exec(select(Refund).where(col(Refund.id).in_(refund_ids))).all()}
    out = []
    for line in statement_lines:
        mine = ours.get(str(line.get("serial")))
        refund = refunds.get(mine.refund_id) if mine else None
        said = str(line.get("status"))
        succeeded = refund is not None and refund.status == RefundStatus.SUCCEEDED.value
        disagrees = mine is None or (said == "success") != (mine.outcome == "success" or succeeded)
        out.append(ReconLine(serial=str(line.get("serial")), refund_id=refund.id if refund else line.get("refund_id"),
                             amount_fen=int(line.get("amount_fen") or 0), statement_status=said,
                             our_outcome=mine.outcome if mine else None,
                             refund_status=refund.status if refund else None, disagrees=disagrees))
    return out


def count_by_status(session: Session) -> dict[str, int]:
    """How many refunds stand at each status (a gauge of /metrics)."""
    rows = session.exec(select(Refund.status, func.count()).group_by(Refund.status)).all()
    return {status: int(n) for status, n in rows}

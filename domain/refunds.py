"""Refund rules (refund rules in docs/domain.md). Pure: no I/O, no Temporal.

- how much of a payment can still be refunded, and how much fee goes back with a refund;
- each channel's own cost rule (what the channel gives back of its cost), kept beside it;
- the translation of a channel's raw error code into an internal code, a merchant-facing message and
  an action;
- how a channel's answer is read (an unclear answer is UNKNOWN, never a failure) and what the refund
  loop does next;
- audit (automatic or manual) and the sweep's per-channel backoff.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.clock import SHANGHAI, require_aware
from domain.money import Fen, ratio_half_up, yuan

# ---- amounts and fees ---------------------------------------------------------------------------


class FeeMode(StrEnum):
    NONE = "none"  # no fee back (the platform keeps its fee)
    PROPORTIONAL = "proportional"  # fee back = refund / paid x fee, rounded half up to the fen
    FIXED = "fixed"  # each refund returns one fixed amount (for fixed-fee pricing)


class FeeRule(BaseModel):
    """How fee comes back on a refund. Used for the merchant product's fee AND for a channel's cost."""

    mode: FeeMode = FeeMode.PROPORTIONAL
    fixed_fen: Fen = Field(default=0, ge=0)


def proportional_half_up(refund_fen: Fen, paid_fen: Fen, fee_fen: Fen) -> Fen:
    """refund / paid x fee, rounded half up to the fen (all operands non-negative integers)."""
    if paid_fen <= 0:
        raise ValueError("a payment of nothing has no proportional fee")
    if refund_fen < 0 or fee_fen < 0:
        raise ValueError("negative refund or fee")
    return ratio_half_up(fee_fen, refund_fen, paid_fen)


def fee_back(rule: FeeRule, paid_fen: Fen, fee_fen: Fen, refund_fen: Fen, already_back_fen: Fen) -> Fen:
    """Fee returned with this refund, capped by the fee not yet returned (never more back than charged).

    `already_back_fen` counts the fee of earlier refunds that succeeded or are still in flight. A leftover
    fen after the last refund is allowed (refund rules 4.3, the 1000.00 / 4.00 example), so there is no true-up.
    """
    remaining_fee = fee_fen - already_back_fen
    if remaining_fee < 0:
        raise ValueError(f"more fee already returned ({already_back_fen}) than charged ({fee_fen})")
    if rule.mode == FeeMode.NONE:
        trial = 0
    elif rule.mode == FeeMode.PROPORTIONAL:
        trial = proportional_half_up(refund_fen, paid_fen, fee_fen)
    else:
        trial = rule.fixed_fen
    return min(trial, remaining_fee)


class PaymentBalance(BaseModel):
    """What is committed against a payment: refunds that succeeded plus refunds in flight."""

    paid_fen: Fen = Field(gt=0)
    fee_fen: Fen = Field(ge=0)
    channel_cost_fen: Fen = Field(default=0, ge=0)
    committed_fen: Fen = Field(default=0, ge=0)
    fee_committed_fen: Fen = Field(default=0, ge=0)
    cost_committed_fen: Fen = Field(default=0, ge=0)

    @property
    def remaining_fen(self) -> Fen:
        """Remaining refundable amount = paid - (refunds succeeded or in flight)."""
        return self.paid_fen - self.committed_fen

    @property
    def remaining_fee_fen(self) -> Fen:
        return self.fee_fen - self.fee_committed_fen


class RefundQuote(BaseModel):
    amount_fen: Fen
    fee_back_fen: Fen
    channel_cost_back_fen: Fen  # what the channel should give back of its own cost (for reconciliation)
    merchant_debit_fen: Fen  # amount - fee back: what leaves the merchant's balance
    after: PaymentBalance


class RefundRefused(ValueError):
    """A refund that cannot be accepted; the message is for the merchant, in plain words."""


def quote(balance: PaymentBalance, amount_fen: Fen, fee_rule: FeeRule, cost_rule: FeeRule) -> RefundQuote:
    """Reserve `amount_fen` against the payment, or refuse it. The caller holds the payment row's lock."""
    if amount_fen <= 0:
        raise RefundRefused("the refund amount must be at least 0.01")
    if amount_fen > balance.remaining_fen:
        raise RefundRefused(
            f"the refund amount {yuan(amount_fen)} exceeds the remaining refundable amount "
            f"{yuan(balance.remaining_fen)} (paid {yuan(balance.paid_fen)}, already refunded or in flight "
            f"{yuan(balance.committed_fen)})"
        )
    fee = fee_back(fee_rule, balance.paid_fen, balance.fee_fen, amount_fen, balance.fee_committed_fen)
    cost = fee_back(cost_rule, balance.paid_fen, balance.channel_cost_fen, amount_fen, balance.cost_committed_fen)
    after = balance.model_copy(update=dict(
        committed_fen=balance.committed_fen + amount_fen,
        fee_committed_fen=balance.fee_committed_fen + fee,
        cost_committed_fen=balance.cost_committed_fen + cost,
    ))
    return RefundQuote(amount_fen=amount_fen, fee_back_fen=fee, channel_cost_back_fen=cost,
                       merchant_debit_fen=amount_fen - fee, after=after)




# ---- refund states ------------------------------------------------------------------------------


class RefundStatus(StrEnum):
    AWAITING_AUDIT = "awaiting_audit"
    PROCESSING = "processing"  # at the channel (or the payout / wallet route): not final yet
    MANUAL_REVIEW = "manual_review"  # ops must decide (unknown code, mismatch, sweep ran out, ...)
    SUCCEEDED = "succeeded"
    REVERSED = "reversed"  # the channel reported failure after success; ops decide what next
    FAILED = "failed"  # failed for good; the amount is refundable again
    REJECTED = "rejected"  # refused at audit; the amount is refundable again


TERMINAL = frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.REJECTED})
RELEASES_AMOUNT = frozenset({RefundStatus.FAILED, RefundStatus.REJECTED})


class RefundRoute(StrEnum):
    CHANNEL = "channel"  # original route: the channel's refund API
    PAYOUT = "payout"  # a transfer to the consumer's card through the channel's payout API
    WALLET = "wallet"  # credit to the consumer's wallet balance with us
    OFFLINE = "offline"  # marked successful without calling the channel (pre-debit channels)


class RefundSource(StrEnum):
    MERCHANT = "merchant"
    OPS = "ops"
    RISK = "risk"
    DUPLICATE_PAYMENT = "exception_duplicate_payment"
    BELOW_FEE = "exception_below_fee"
    ORDER_UNFULFILLED = "order_unfulfilled"  # a SIM order the customer paid for ended before the card was theirs


EXCEPTION_SOURCES = frozenset({RefundSource.DUPLICATE_PAYMENT, RefundSource.BELOW_FEE})  # the platform's own
PEOPLES_SOURCES = frozenset({RefundSource.OPS, RefundSource.RISK})  # a person at the ops console or in risk control


# ---- audit -------------------------------------------------------------------------------------


# How long the sweep waits between query-backs of a refund still processing at a channel, unless the
# channel's own row says otherwise (seconds; the last step repeats).
DEFAULT_SWEEP_BACKOFF_S = (60, 300, 900, 3600, 3 * 3600, 6 * 3600)


def parse_backoff(text: str) -> list[int]:
    """A channel's "60,300,..." setting; empty means the default."""
    steps = [int(x) for x in text.split(",") if x.strip()]
    return steps or list(DEFAULT_SWEEP_BACKOFF_S)


def initial_status(audit_reasons: list[str]) -> RefundStatus:
    """A refund with any reason for a human audit waits for it; any other goes straight to the channel."""
    return RefundStatus.AWAITING_AUDIT if audit_reasons else RefundStatus.PROCESSING


class ChannelPolicy(BaseModel):
    """What the refund process needs to know of a channel (the DB row is the source)."""

    channel: str
    auto_audit: bool = True  # ops can switch it off in an emergency
    pre_debit: bool = False  # the channel debits risky orders itself: manual audit, success without calling it
    has_refund_api: bool = True
    auto_audit_limit_fen: Fen = 5_000_000  # above this a refund "looks risky"
    cost_rule: FeeRule = FeeRule()
    sweep_backoff_s: list[int] = Field(default_factory=lambda: list(DEFAULT_SWEEP_BACKOFF_S))


STALE_PAYMENT = timedelta(days=180)


def audit_reasons(policy: ChannelPolicy, amount_fen: Fen, paid_at: datetime, now: datetime,
                  source: RefundSource) -> list[str]:
    """Why this refund needs a human auditor; empty: it is audited automatically."""
    if source in EXCEPTION_SOURCES or source == RefundSource.ORDER_UNFULFILLED:
        # exception orders refund automatically (duplicate payment, paid below the fee), and so does the payment of
        # an order that ended before the customer had the card: the platform decided it, nobody asked for it
        return []
    reasons = []
    if source in PEOPLES_SOURCES:
        reasons.append(f"asked by {source.value}, not by the merchant: a second person audits it")
    if policy.pre_debit:
        reasons.append("the channel pre-debits risky orders: ops mark the refund successful without calling it")
    if not policy.auto_audit:
        reasons.append("automatic audit is switched off for this channel")
    if amount_fen > policy.auto_audit_limit_fen:
        reasons.append(f"amount above the channel's automatic audit limit {yuan(policy.auto_audit_limit_fen)}")
    if now - paid_at > STALE_PAYMENT:
        reasons.append(f"payment older than {STALE_PAYMENT.days} days")
    return reasons


# ---- channel answers ----------------------------------------------------------------------------


class ChannelState(StrEnum):
    SUCCESS = "success"
    PROCESSING = "processing"  # accepted, not final
    FAILED = "failed"  # a definitive decline, with a code
    NOT_FOUND = "not_found"  # query-back: the channel never accepted this serial
    REVERSED = "reversed"  # query-back: failed after an earlier success
    UNKNOWN = "unknown"  # timeout, 5xx, connection error: we do not know; settle it by query-back


class ChannelAnswer(BaseModel):
    state: ChannelState
    serial: str = ""  # our serial as the channel echoed it
    channel_serial: str | None = None
    amount_fen: Fen | None = None
    raw_code: str | None = None
    raw_message: str | None = None
    detail: str = ""  # transport detail for UNKNOWN answers


def mismatch(answer: ChannelAnswer, serial: str, amount_fen: Fen) -> str | None:
    """An answer that is about another serial or another amount than ours: a human must look."""
    if answer.state in (ChannelState.UNKNOWN, ChannelState.NOT_FOUND):
        return None
    if answer.serial != serial:
        return f"channel answered about serial {answer.serial!r}, we sent {serial!r}"
    if answer.amount_fen is not None and answer.amount_fen != amount_fen:
        return f"channel answered amount {answer.amount_fen}, we asked {amount_fen}"
    return None


# ---- error translation --------------------------------------------------------------------------


class ErrorAction(StrEnum):
    FAIL_FINAL = "fail_final"  # e.g. the card is void: no retry will help
    NEW_SERIAL_RETRY_LATER = "new_serial_retry_later"  # e.g. "too frequent": a new serial after a delay
    MANUAL = "manual"  # a human decides
    PAYOUT_FALLBACK = "payout_fallback"  # pay the consumer by transfer (card) or to the wallet
    RESEND_SAME = "resend_same"  # the channel says it did not take the request: same serial again


ANY_CHANNEL = "*"


class ErrorMapping(BaseModel):
    channel: str = ANY_CHANNEL
    raw_code: str = Field(min_length=1, max_length=64)
    internal_code: str = Field(min_length=1, max_length=64)
    merchant_message: str = Field(min_length=1, max_length=300)
    action: ErrorAction
    retry_after_s: int = Field(default=0, ge=0, le=7 * 24 * 3600)


# Shipped with the code; rows ops add in the database override these (same channel + code).
BUILT_IN_MAPPINGS: tuple[ErrorMapping, ...] = (
    ErrorMapping(raw_code="CARD_VOID", internal_code="card_void", action=ErrorAction.FAIL_FINAL,
                 merchant_message="The consumer's card is void or closed; the money cannot go back to it."),
    ErrorMapping(raw_code="TOO_FREQUENT", internal_code="channel_rate_limited",
                 action=ErrorAction.NEW_SERIAL_RETRY_LATER, retry_after_s=60,
                 merchant_message="The bank asked us to slow down; we retry automatically."),
    ErrorMapping(raw_code="DAILY_VOLUME_LOW", internal_code="channel_daily_volume",
                 action=ErrorAction.NEW_SERIAL_RETRY_LATER, retry_after_s=3600,
                 merchant_message="The channel's takings today are below the refund amount; we retry automatically."),
    ErrorMapping(raw_code="NO_REFUND_API", internal_code="channel_cannot_refund", action=ErrorAction.PAYOUT_FALLBACK,
                 merchant_message="The channel cannot refund this payment; we pay the consumer back by transfer."),
    ErrorMapping(raw_code="SYSTEM_BUSY", internal_code="channel_not_accepted", action=ErrorAction.RESEND_SAME,
                 retry_after_s=30, merchant_message="The channel was busy; we send the refund again."),
    ErrorMapping(raw_code="ACCOUNT_FROZEN", internal_code="consumer_account_frozen", action=ErrorAction.MANUAL,
                 merchant_message="The consumer's account is frozen; our operations team is handling the refund."),
    ErrorMapping(raw_code="REFUND_EXPIRED", internal_code="refund_window_closed", action=ErrorAction.PAYOUT_FALLBACK,
                 merchant_message="The payment is too old for the channel to refund; we pay the consumer back by transfer."),
)

UNKNOWN_CODE = ErrorMapping(
    raw_code="?", internal_code="unknown_channel_code", action=ErrorAction.MANUAL,
    merchant_message="The channel refused the refund for a reason we do not know yet; our operations team is handling it.",
)


def translate(channel: str, raw_code: str | None, ops_rows: list[ErrorMapping]) -> tuple[ErrorMapping, bool]:
    """(mapping, known). Ops rows first, channel-specific before any-channel; unknown -> manual, never a loop."""
    code = (raw_code or "").strip()
    for table in (ops_rows, BUILT_IN_MAPPINGS):
        for wanted in (channel, ANY_CHANNEL):
            for m in table:
                if m.channel == wanted and m.raw_code == code:
                    return m, True
    return UNKNOWN_CODE.model_copy(update={"channel": channel, "raw_code": code or "?"}), False


# ---- the loop's limits and the sweep's backoff --------------------------------------------------


class LoopLimits(BaseModel):
    max_serials: int = 6  # new serials minted after definitive declines before ops must decide
    max_same_resends: int = 5  # resends of one serial the channel never accepted
    query_backs: list[int] = Field(default_factory=lambda: [5, 30, 120])  # seconds, before parking for the sweep
    default_retry_s: int = 60


class Next(StrEnum):
    FINISH_FAILED = "finish_failed"
    NEW_SERIAL = "new_serial"
    RESEND_SAME = "resend_same"
    MANUAL = "manual"
    FALLBACK = "fallback"


def after_decline(mapping: ErrorMapping, serials_used: int, same_resends: int, limits: LoopLimits) -> tuple[Next, int, str]:
    """(what next, delay seconds, why) after a definitive decline translated to `mapping`."""
    a = mapping.action
    if a == ErrorAction.FAIL_FINAL:
        return Next.FINISH_FAILED, 0, mapping.merchant_message
    if a == ErrorAction.PAYOUT_FALLBACK:
        return Next.FALLBACK, 0, mapping.merchant_message
    if a == ErrorAction.NEW_SERIAL_RETRY_LATER:
        if serials_used >= limits.max_serials:
            return Next.MANUAL, 0, f"{serials_used} serials declined ({mapping.internal_code}); ops decide"
        return Next.NEW_SERIAL, mapping.retry_after_s or limits.default_retry_s, mapping.merchant_message
    if a == ErrorAction.RESEND_SAME:
        if same_resends >= limits.max_same_resends:
            return Next.MANUAL, 0, f"serial resent {same_resends} times ({mapping.internal_code}); ops decide"
        return Next.RESEND_SAME, mapping.retry_after_s or limits.default_retry_s, mapping.merchant_message
    return Next.MANUAL, 0, f"{mapping.internal_code}: {mapping.merchant_message}"


def sweep_next_check(backoff_s: list[int], checks_done: int, now: datetime) -> datetime | None:
    """When the sweep asks the channel next about a refund still processing; None: the backoff ran out."""
    if checks_done >= len(backoff_s):
        return None
    return now + timedelta(seconds=backoff_s[checks_done])


# ---- ops overrides: evidence before money is freed (refund rules: "an override never frees money that may still move")


class SerialWord(BaseModel):
    """What we know of one serial: the channel's own last word as recorded, and the Shanghai days it was sent."""

    serial: str
    outcome: str  # RefundSerial.outcome: sending, processing, unknown, not_accepted, failed, reversed, success, mismatch
    sent_on: str  # yyyymmdd, Shanghai day of the serial's first send
    last_sent_on: str = ""  # yyyymmdd of its last send or answer (a "never received" serial is sent again)
    sends: int = 0

# The channel's own words that settle a serial as unable to pay: a definitive decline, a reversal (the money came
# back), or "never received" (query-back found no such serial).
CANNOT_PAY = frozenset({"failed", "reversed", "not_accepted"})


class StatementLine(BaseModel):
    serial: str
    amount_fen: Fen
    status: str  # the channel's word in its statement: success / failed / processing / reversed


class LoadedStatement(BaseModel):
    """A channel's daily statement as loaded and stored; `closed` when its Shanghai day had ended at loading."""

    channel: str
    day: str
    closed: bool
    lines: list[StatementLine] = []


class StatementRef(BaseModel):
    """`<channel>/<yyyymmdd>/<serial>` names one statement line; `<channel>/<yyyymmdd>` the whole day's statement
    (the evidence of absence)."""

    channel: str
    day: str
    serial: str | None = None

    def __str__(self) -> str:
        return f"{self.channel}/{self.day}" + (f"/{self.serial}" if self.serial else "")


class OverrideRefused(ValueError):
    """The evidence does not prove what the override claims (a 409 with this reason)."""

    def __init__(self, reason: str, type: str) -> None:
        super().__init__(reason)
        self.type = type


def parse_statement_ref(text: str) -> StatementRef:
    parts = (text or "").strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise OverrideRefused(f"statement reference {text!r} is not <channel>/<yyyymmdd>[/<serial>] of a loaded "
                              "statement", "statement_ref_malformed")
    check_statement_day(parts[1])
    return StatementRef(channel=parts[0], day=parts[1], serial=parts[2] if len(parts) == 3 else None)


def check_statement_day(day: str) -> date:
    try:
        if len(day) != 8 or not day.isdigit():
            raise ValueError
        return date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        raise OverrideRefused(f"{day!r} is not a day (yyyymmdd)", "statement_day_invalid") from None


def statement_closed(day: str, now: datetime) -> bool:
    """A day's statement is final once its Shanghai day has ended."""
    return check_statement_day(day) < require_aware(now).astimezone(SHANGHAI).date()


def days_from(first: str, last: str) -> list[str]:
    """Every yyyymmdd from first through last, inclusive."""
    day, end = check_statement_day(first), check_statement_day(last)
    out = []
    while day <= end:
        out.append(day.strftime("%Y%m%d"))
        day += timedelta(days=1)
    return out


def evidence_days(s: SerialWord) -> list[str]:
    """The statements that must be loaded (and closed) to prove a serial never reached the channel: a channel's
    statement lists every refund it received that day, so the days it was sent, and the day after (a request
    sent just before midnight is booked on the next day)."""
    last = s.last_sent_on or s.sent_on
    after = (check_statement_day(last) + timedelta(days=1)).strftime("%Y%m%d")
    return days_from(s.sent_on, after)


def force_fail_obstacles(serials: list[SerialWord], statements: dict[str, LoadedStatement]) -> list[str]:
    """Why the refund's reserved amount cannot be freed yet: one line per serial that may still pay.

    A serial is settled by the channel's own last word (CANNOT_PAY), or by the channel's loaded statements (by
    day): a line for it saying failed or reversed; or no line for it in the closed statements of every day it
    was sent and the day after (the channel never received it). A line saying processing or success, a day not
    loaded, or a day loaded before it ended leaves the serial able to pay."""
    obstacles = []
    for s in serials:
        if s.outcome in CANNOT_PAY:
            continue
        days = evidence_days(s)
        said = [(d, line.status) for d in days if (st := statements.get(d))
                for line in st.lines if line.serial == s.serial]
        if any(status in ("failed", "reversed") for _, status in said):
            continue
        if said:
            day, status = said[-1]
            obstacles.append(f"serial {s.serial}: the {day} statement says {status}")
            continue
        missing = [d for d in days if d not in statements]
        open_days = [d for d in days if d in statements and not statements[d].closed]
        if missing or open_days:
            why = (f"statements of {', '.join(missing)} not loaded" if missing else
                   f"statements of {', '.join(open_days)} loaded before their day ended")
            obstacles.append(f"serial {s.serial} is {s.outcome} at the channel and {why}: nothing shows it cannot pay")
    return obstacles


def force_success_obstacle(serials: list[SerialWord], statement: LoadedStatement | None, ref: StatementRef | None,
                           amount_fen: Fen) -> str | None:
    """Success is forced only on a statement line for one of the refund's serials saying success, same amount."""
    if statement is None or ref is None or ref.serial is None:
        return "force success needs a statement line <channel>/<yyyymmdd>/<serial> of a loaded statement"
    if ref.serial not in {s.serial for s in serials}:
        return f"serial {ref.serial} is not a serial of this refund"
    line = next((x for x in statement.lines if x.serial == ref.serial), None)
    if line is None:
        return f"statement {ref.channel}/{ref.day} has no line for serial {ref.serial}"
    if line.status != "success":
        return f"statement line {ref} says {line.status}, not success"
    if line.amount_fen != amount_fen:
        return f"statement line {ref} is {line.amount_fen} fen, the refund {amount_fen} fen"
    return None

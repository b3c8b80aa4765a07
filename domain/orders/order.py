"""The order-to-commission chain as pure rules: facts in, verdict out.

The workflow keeps `OrderFacts` (what carriers and logistics told us, each with the time it
happened and the time we learned it) and asks `evaluate` where the order stands. Because the
verdict depends only on the facts and the clock, duplicate and out-of-order events end in the
same state.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field

from domain.clock import days_after, first_month, settlement_check_point, settlement_month, shanghai_text
from domain.money import Fen

# Carriers report in daily status files: an absence (no activation, no recharge) is concluded only
# once the window has closed AND the carrier has had this long since we learned the previous link.
REPORTING_GRACE = timedelta(days=2)
# "Suspended right after recharge": a suspension starting this soon after the first recharge.
SUSPENDED_AFTER_RECHARGE = timedelta(days=3)


class OrderStatus(StrEnum):
    PLACED = "placed"
    SHIPPED = "shipped"
    DELIVERY_EXCEPTION = "delivery_exception"
    SIGNED = "signed"
    ACTIVATED = "activated"
    AWAITING_CHECK_POINT = "awaiting_check_point"
    CHECKING_IN_NETWORK = "checking_in_network"
    AWAITING_AUDIT = "awaiting_audit"
    SETTLED = "settled"
    FAILED = "failed"


TERMINAL = {OrderStatus.SETTLED, OrderStatus.FAILED}


class FailureReason(StrEnum):
    """One precise code per way an order can miss its commission (settlement rules 1.6)."""

    ORDER_CANCELLED = "order_cancelled"
    DELIVERY_FAILED = "delivery_failed"
    ACTIVATION_TIMEOUT = "activation_timeout"
    ACTIVATION_REMOTE_REJECTED = "activation_remote_rejected"
    IDENTITY_VERIFICATION_FAILED = "identity_verification_failed"
    ACTIVATION_TECHNICAL_FAILURE = "activation_technical_failure"
    RECHARGE_MISSING = "recharge_missing"
    RECHARGE_LATE = "recharge_late"
    RECHARGE_INSUFFICIENT = "recharge_insufficient"
    RECHARGE_WRONG_NUMBER = "recharge_wrong_number"
    SUSPENDED_AFTER_RECHARGE = "suspended_after_recharge"
    SUSPENDED_RISK_CONTROL = "suspended_risk_control"
    SUSPENDED_BY_CARRIER = "suspended_by_carrier"
    CANCELLED_LONG_NON_USE = "cancelled_long_non_use"
    RESTRICTED_VIOLATION = "restricted_violation"
    SUSPENDED_ARREARS = "suspended_arrears"
    INCOMPLETE_ORDER_DATA = "incomplete_order_data"
    CARRIER_SYSTEM_ERROR = "carrier_system_error"
    POLICY_CHANGE = "policy_change"
    AGENT_VIOLATION = "agent_violation"
    # the carrier refused the order at submission (docs/fulfilment.md)
    REAL_NAME_CHECK_FAILED = "real_name_check_failed"
    OUTSIDE_COVERAGE = "outside_coverage"
    NUMBER_UNAVAILABLE = "number_unavailable"
    CARRIER_REFUSED = "carrier_refused"  # a refusal the carrier names with a reason of no code of ours


class EventKind(StrEnum):
    SHIPPED = "shipped"
    DELIVERY = "delivery"
    ACTIVATED = "activated"
    ACTIVATION_FAILED = "activation_failed"
    RECHARGED = "recharged"
    SUSPENDED = "suspended"
    RESTORED = "restored"
    CANCELLED = "cancelled"  # the number is cancelled at the carrier
    ORDER_CANCELLED = "order_cancelled"  # the order is withdrawn before delivery


class DeliveryStatus(StrEnum):
    SIGNED = "signed"
    UNREACHABLE = "unreachable"
    RESCHEDULE = "reschedule"
    REFUSED = "refused"
    WRONG_PHONE = "wrong_phone"
    COURIER_FAULT = "courier_fault"
    REDELIVERY = "redelivery"
    RETURNED = "returned"  # final: parcel back to sender
    IN_TRANSIT = "in_transit"  # courier news with no exception (e.g. the expected arrival date)



class SuspensionMode(StrEnum):
    ONE_WAY = "one_way"  # 单停
    TWO_WAY = "two_way"  # 双停
    CARRIER = "carrier"  # 局停 (carrier / police)
    RISK_CONTROL = "risk_control"  # 风控


class StatusCause(StrEnum):
    """Why a carrier says a number is not (fully) in service."""

    ARREARS = "arrears"
    RISK_CONTROL = "risk_control"
    VIOLATION = "violation"
    LONG_NON_USE = "long_non_use"
    IDENTITY = "identity"
    OTHER = "other"


ACTIVATION_FAILURES = {
    "remote_rejected": FailureReason.ACTIVATION_REMOTE_REJECTED,
    "identity_failed": FailureReason.IDENTITY_VERIFICATION_FAILED,
    "technical_failure": FailureReason.ACTIVATION_TECHNICAL_FAILURE,
}

# The failure detail of an order the carrier's final audit never named (finance lists it as a partial audit).
ABSENT_FROM_AUDIT = "absent from the carrier's final audit"
# Audit rejections carriers send, mapped onto our codes.
AUDIT_REJECTIONS = {
    "incomplete_order_data": FailureReason.INCOMPLETE_ORDER_DATA,
    "carrier_system_error": FailureReason.CARRIER_SYSTEM_ERROR,
    "policy_change": FailureReason.POLICY_CHANGE,
    "agent_violation": FailureReason.AGENT_VIOLATION,
    "not_in_network": FailureReason.SUSPENDED_BY_CARRIER,
}


def cause_to_reason(mode: SuspensionMode | None, cause: StatusCause | None, cancelled: bool) -> FailureReason:
    if cancelled:
        return FailureReason.CANCELLED_LONG_NON_USE if cause in (None, StatusCause.LONG_NON_USE) else _CAUSE[cause]
    if mode == SuspensionMode.RISK_CONTROL or cause == StatusCause.RISK_CONTROL:
        return FailureReason.SUSPENDED_RISK_CONTROL
    return _CAUSE.get(cause, FailureReason.SUSPENDED_BY_CARRIER) if cause else FailureReason.SUSPENDED_BY_CARRIER


_CAUSE = {
    StatusCause.ARREARS: FailureReason.SUSPENDED_ARREARS,
    StatusCause.RISK_CONTROL: FailureReason.SUSPENDED_RISK_CONTROL,
    StatusCause.VIOLATION: FailureReason.RESTRICTED_VIOLATION,
    StatusCause.LONG_NON_USE: FailureReason.CANCELLED_LONG_NON_USE,
    StatusCause.IDENTITY: FailureReason.SUSPENDED_BY_CARRIER,
    StatusCause.OTHER: FailureReason.SUSPENDED_BY_CARRIER,
}


class ProductTerms(BaseModel):
    """The product's windows and pay, copied into the workflow at order time (terms do not drift)."""

    product_id: str
    carrier: str
    activation_window_days: int = Field(ge=1)
    recharge_window_days: int = Field(ge=1)
    min_first_recharge_fen: Fen = Field(ge=0)
    commission_fen: Fen = Field(ge=0)
    parent_override_bp: int = Field(ge=0, le=10_000, default=0)


class OrderEvent(BaseModel):
    """One carrier/logistics event as the order workflow receives it (no personal data)."""

    event_id: str
    order_id: str
    kind: EventKind
    occurred_at: AwareDatetime
    source: str | None = None  # who pushed it: an event is its (source, event id); None in events of older runs
    tracking_no: str | None = None
    delivery_status: DeliveryStatus | None = None
    redelivery_date: str | None = None
    amount_fen: Fen | None = None
    to_msisdn_fingerprint: str | None = None  # keyed (core.crypto); a bare SHA-256 in histories before it
    # Whether the recharged number is the order's, as the API found with the key ring. Events recorded before it
    # carry none and are judged by comparing fingerprints, as then.
    to_msisdn_matches: bool | None = None
    reason: str | None = None  # activation failure reason, or status cause
    mode: SuspensionMode | None = None
    expected_arrival: date | None = None  # the courier's expected arrival date (shipment or delivery news)


class Fact(BaseModel):
    at: AwareDatetime  # when it happened (carrier's timestamp)
    learned_at: AwareDatetime  # when the workflow heard of it
    event_id: str


class RechargeFact(Fact):
    amount_fen: Fen
    right_number: bool


class StatusFact(Fact):
    mode: SuspensionMode | None = None
    cause: StatusCause | None = None


class InNetworkAnswer(BaseModel):
    """The carrier's answer at the check point."""

    in_network: bool
    asked_at: AwareDatetime
    mode: SuspensionMode | None = None
    cause: StatusCause | None = None
    cancelled: bool = False
    carrier_error: str = ""  # the carrier could not answer for this number (e.g. does not know it)


class AuditResult(BaseModel):
    approved: bool
    month: str
    commission_fen: Fen = 0
    reason: FailureReason | None = None
    detail: str = ""


class Submission(BaseModel):
    """The carrier's answer to the order (docs/fulfilment.md): its own order number, or a refusal with its reason."""

    accepted: bool
    at: AwareDatetime
    carrier_order_no: str = ""
    reason: FailureReason | None = None
    detail: str = ""


class OrderFacts(BaseModel):
    seen_event_ids: list[str] = []
    submission: Submission | None = None  # none in orders placed before the carrier submission
    shipped: Fact | None = None
    tracking_no: str | None = None
    signed: Fact | None = None
    delivery_exceptions: list[Fact] = []
    delivery_exception_kinds: list[str] = []
    returned: Fact | None = None
    order_cancelled: Fact | None = None
    activated: Fact | None = None
    activation_failed: Fact | None = None
    activation_failure_reason: FailureReason | None = None
    recharges: list[RechargeFact] = []
    suspensions: list[StatusFact] = []
    restorations: list[StatusFact] = []
    number_cancelled: StatusFact | None = None
    in_network: InNetworkAnswer | None = None
    audit: AuditResult | None = None
    expected_arrival: date | None = None  # the courier's latest word on when the parcel arrives
    logistics_news_learned_at: AwareDatetime | None = None  # when we last heard from the courier after shipment
    delivery_given_up: Fact | None = None  # the rescue found no resolution in time, or the agent gave up

    def accepted_at(self) -> datetime | None:
        """When we learned the carrier accepted the order; a shipment we heard of says so too (orders submitted before
        the carrier submission, or by a carrier that ships without answering)."""
        if self.submission is not None and self.submission.accepted:
            return self.submission.at  # the carrier's order number (docs/fulfilment.md): the acceptance window ends
        return self.shipped.learned_at if self.shipped is not None else None

    def record(self, event: OrderEvent, learned_at: datetime, msisdn_fp: str) -> bool:
        """Fold one event in. False when it is a duplicate (same source and event id) and nothing changes.

        Events of older runs carry no source and are known by their bare id, as they always were: a history
        recorded before sources replays the same; a bare id seen then still stops its resend now."""
        key = f"{event.source}/{event.event_id}" if event.source else event.event_id
        if key in self.seen_event_ids or event.event_id in self.seen_event_ids:
            return False
        self.seen_event_ids.append(key)
        fact = Fact(at=event.occurred_at, learned_at=learned_at, event_id=event.event_id)
        k = event.kind
        if k in (EventKind.SHIPPED, EventKind.DELIVERY):
            arrival = event.expected_arrival or _date(event.redelivery_date)
            if arrival is not None:
                self.expected_arrival = arrival
            self.logistics_news_learned_at = max(learned_at, self.logistics_news_learned_at or learned_at)
        if k == EventKind.SHIPPED:
            self.shipped = _earliest(self.shipped, fact)
            self.tracking_no = self.tracking_no or event.tracking_no
        elif k == EventKind.DELIVERY:
            status = event.delivery_status
            if status == DeliveryStatus.IN_TRANSIT:
                pass  # news, not an exception: the expected arrival and the courier's last word, above
            elif status == DeliveryStatus.SIGNED:
                self.signed = _earliest(self.signed, fact)
            elif status == DeliveryStatus.RETURNED:
                self.returned = _earliest(self.returned, fact)
            elif status is not None:
                self.delivery_exceptions.append(fact)
                self.delivery_exception_kinds.append(status.value)
        elif k == EventKind.ACTIVATED:
            self.activated = _earliest(self.activated, fact)
        elif k == EventKind.ACTIVATION_FAILED:
            self.activation_failed = _earliest(self.activation_failed, fact)
            self.activation_failure_reason = ACTIVATION_FAILURES.get(
                event.reason or "", FailureReason.ACTIVATION_TECHNICAL_FAILURE
            )
        elif k == EventKind.RECHARGED:
            self.recharges.append(
                RechargeFact(
                    **fact.model_dump(),
                    amount_fen=event.amount_fen or 0,
                    right_number=event.to_msisdn_matches if event.to_msisdn_matches is not None
                    else event.to_msisdn_fingerprint in (None, msisdn_fp),
                )
            )
        elif k in (EventKind.SUSPENDED, EventKind.RESTORED, EventKind.CANCELLED):
            status_fact = StatusFact(**fact.model_dump(), mode=event.mode, cause=_cause(event.reason))
            if k == EventKind.SUSPENDED:
                self.suspensions.append(status_fact)
            elif k == EventKind.RESTORED:
                self.restorations.append(status_fact)
            else:
                self.number_cancelled = self.number_cancelled or status_fact
        elif k == EventKind.ORDER_CANCELLED:
            self.order_cancelled = _earliest(self.order_cancelled, fact)
        return True

    def open_delivery_exception(self) -> Fact | None:
        if self.signed or self.returned or not self.delivery_exceptions:
            return None
        return max(self.delivery_exceptions, key=lambda f: f.at)


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _earliest(current: Fact | None, new: Fact) -> Fact:
    return new if current is None or new.at < current.at else current


def _cause(reason: str | None) -> StatusCause | None:
    try:
        return StatusCause(reason) if reason else None
    except ValueError:
        return StatusCause.OTHER


class ConditionState(StrEnum):
    MET = "met"
    FAILED = "failed"
    PENDING = "pending"


class ChecklistItem(BaseModel):
    number: int
    condition: str
    state: ConditionState
    at: AwareDatetime | None = None
    note: str = ""


class Action(StrEnum):
    WAIT = "wait"
    ASK_IN_NETWORK = "ask_in_network"
    DONE = "done"


class Verdict(BaseModel):
    status: OrderStatus
    action: Action
    failure_reason: FailureReason | None = None
    failure_detail: str = ""
    waiting_for: str = ""
    until: AwareDatetime | None = None  # the business deadline shown to people
    wake_at: AwareDatetime | None = None  # when the workflow must look again by itself
    first_month: str | None = None
    settlement_month: str | None = None
    check_point: AwareDatetime | None = None
    checklist: list[ChecklistItem] = []


CONDITIONS = ("ordered and shipped", "signed for", "activated", "first recharge", "in network at check point")


def evaluate(terms: ProductTerms, facts: OrderFacts, now: datetime) -> Verdict:
    """Walk the five conditions in order; the first that is not met decides the verdict."""
    items = [ChecklistItem(number=i + 1, condition=c, state=ConditionState.PENDING) for i, c in enumerate(CONDITIONS)]

    def fail(idx: int | None, reason: FailureReason, detail: str, status_at: datetime | None = None) -> Verdict:
        if idx is not None:
            items[idx].state = ConditionState.FAILED
            items[idx].at = status_at
            items[idx].note = detail
        return Verdict(
            status=OrderStatus.FAILED,
            action=Action.DONE,
            failure_reason=reason,
            failure_detail=detail,
            checklist=items,
            **dates,
        )

    def wait(status: OrderStatus, what: str, until: datetime | None, wake_at: datetime | None = None) -> Verdict:
        return Verdict(
            status=status,
            action=Action.WAIT,
            waiting_for=what,
            until=until,
            wake_at=wake_at if wake_at is not None else until,
            checklist=items,
            **dates,
        )

    def met(idx: int, at: datetime, note: str = "") -> None:
        items[idx].state, items[idx].at, items[idx].note = ConditionState.MET, at, note

    dates: dict = {}
    if facts.activated:
        act = facts.activated.at
        dates = {
            "first_month": first_month(act),
            "settlement_month": settlement_month(act),
            "check_point": settlement_check_point(act),
        }

    # 1. ordered and shipped
    if facts.submission is not None and not facts.submission.accepted:
        sub = facts.submission
        reason = sub.reason or FailureReason.CARRIER_REFUSED
        return fail(0, reason, f"refused by the carrier: {sub.detail or reason.value}", sub.at)
    if facts.order_cancelled and not facts.signed:
        return fail(0, FailureReason.ORDER_CANCELLED, "order withdrawn before delivery", facts.order_cancelled.at)
    if not facts.shipped:
        return wait(OrderStatus.PLACED, "shipment with a tracking number", None)
    met(0, facts.shipped.at, f"tracking {facts.tracking_no}")

    # 2. signed for
    if not facts.signed:
        if facts.returned:
            return fail(1, FailureReason.DELIVERY_FAILED, "parcel returned to sender", facts.returned.at)
        if facts.delivery_given_up:
            return fail(1, FailureReason.DELIVERY_FAILED, "delivery rescue ended without a resolution",
                        facts.delivery_given_up.at)
        exc = facts.open_delivery_exception()
        if exc:
            kind = facts.delivery_exception_kinds[facts.delivery_exceptions.index(exc)]
            items[1].note = f"delivery exception: {kind} (rescue task open)"
            return wait(OrderStatus.DELIVERY_EXCEPTION, "customer contact and redelivery", None)
        return wait(OrderStatus.SHIPPED, "delivery signed for", None)
    met(1, facts.signed.at)

    # 3. activated inside the window
    window_end = days_after(facts.signed.at, terms.activation_window_days)
    if not facts.activated:
        if facts.activation_failed:
            reason = facts.activation_failure_reason or FailureReason.ACTIVATION_TECHNICAL_FAILURE
            return fail(2, reason, f"activation failed: {reason.value}", facts.activation_failed.at)
        give_up = max(window_end, facts.signed.learned_at) + REPORTING_GRACE
        if now >= give_up:
            return fail(2, FailureReason.ACTIVATION_TIMEOUT, f"not activated by {window_end.isoformat()}")
        return wait(OrderStatus.SIGNED, "activation", window_end, give_up)
    act = facts.activated.at
    if act > window_end:
        return fail(2, FailureReason.ACTIVATION_TIMEOUT, f"activated after window end {window_end.isoformat()}", act)
    met(2, act, f"first month {dates['first_month']}")

    # Number cancelled at any point after activation ends the chain at once: it never comes back.
    if facts.number_cancelled:
        c = facts.number_cancelled
        return fail(4, cause_to_reason(c.mode, c.cause, cancelled=True), "number cancelled at the carrier", c.at)

    # 4. first recharge: to this number, at least the minimum, inside the deadline
    deadline = days_after(act, terms.recharge_window_days)
    right = sorted((r for r in facts.recharges if r.right_number), key=lambda r: r.at)
    if not right:
        give_up = max(deadline, facts.activated.learned_at) + REPORTING_GRACE
        if now >= give_up:
            if facts.recharges:
                return fail(3, FailureReason.RECHARGE_WRONG_NUMBER, "recharge went to another number")
            return fail(3, FailureReason.RECHARGE_MISSING, f"no recharge by {deadline.isoformat()}")
        return wait(OrderStatus.ACTIVATED, f"first recharge of at least {terms.min_first_recharge_fen} fen", deadline, give_up)
    first = right[0]
    if first.at > deadline:
        return fail(3, FailureReason.RECHARGE_LATE, f"first recharge after {deadline.isoformat()}", first.at)
    if first.amount_fen < terms.min_first_recharge_fen:
        return fail(
            3,
            FailureReason.RECHARGE_INSUFFICIENT,
            f"first recharge {first.amount_fen} fen < {terms.min_first_recharge_fen} fen",
            first.at,
        )
    for s in facts.suspensions:
        if first.at <= s.at <= first.at + SUSPENDED_AFTER_RECHARGE:
            return fail(3, FailureReason.SUSPENDED_AFTER_RECHARGE, "suspended right after the first recharge", s.at)
    met(3, first.at, f"{first.amount_fen} fen")

    # 5. in network at the end of the next month
    check_point = dates["check_point"]
    if now < check_point:
        return wait(OrderStatus.AWAITING_CHECK_POINT, "check point (end of next month)", check_point)
    answer = facts.in_network
    if answer is None:
        return Verdict(
            status=OrderStatus.CHECKING_IN_NETWORK,
            action=Action.ASK_IN_NETWORK,
            waiting_for="carrier's number status at the check point",
            checklist=items,
            **dates,
        )
    if answer.carrier_error:
        return fail(4, FailureReason.CARRIER_SYSTEM_ERROR, answer.carrier_error, answer.asked_at)
    if not answer.in_network:
        reason = cause_to_reason(answer.mode, answer.cause, answer.cancelled)
        return fail(4, reason, f"not in network at check point ({reason.value})", answer.asked_at)
    met(4, answer.asked_at, "in network")

    # carrier audit of the settlement month
    audit = facts.audit
    if audit is None:
        return wait(OrderStatus.AWAITING_AUDIT, f"carrier audit of {dates['settlement_month']}", None)
    if not audit.approved:
        return fail(None, audit.reason or FailureReason.CARRIER_SYSTEM_ERROR, audit.detail or "rejected by carrier audit")
    return Verdict(status=OrderStatus.SETTLED, action=Action.DONE, checklist=items, **dates)



_MARKS = {ConditionState.MET: "✅", ConditionState.FAILED: "❌", ConditionState.PENDING: "⏳"}


def describe(v: Verdict) -> str:
    """Where the order stands, for people (the Temporal Web UI's current details): the verdict in words, the
    five-condition checklist with a mark and a Shanghai time per link, and what it waits for until when.
    Masked numbers only: nothing here may identify a person."""
    if v.status == OrderStatus.FAILED:
        reason = v.failure_reason.value.replace("_", " ") if v.failure_reason else "failed"
        head = f"**FAILED: {reason}**" + (f" ({v.failure_detail})" if v.failure_detail else "")
    elif v.status == OrderStatus.SETTLED:
        head = f"**SETTLED** in settlement month {v.settlement_month}" if v.settlement_month else "**SETTLED**"
    else:
        head = f"**{v.status.value.replace('_', ' ').upper()}**"
        if v.waiting_for:
            head += f": waiting for {v.waiting_for}" + (f" until {shanghai_text(v.until)}" if v.until else "")
    lines = [head, ""]
    for item in v.checklist:
        when = f" at {shanghai_text(item.at)}" if item.at else ""
        note = f" ({item.note})" if item.note else ""
        lines.append(f"{_MARKS[item.state]} {item.number}. {item.condition}{when}{note}")
    if v.check_point and v.status not in TERMINAL:
        lines += ["", f"check point {shanghai_text(v.check_point)}, settlement month {v.settlement_month}"]
    return "\n".join(lines)

"""Delivery follow-up and rescue as pure rules (settlement rules 1.8, 1.9): what the customer is texted and when,
when the agent is reminded, when an order with no news is stale, how a rescue ends, and the agent's monthly
delivery figures. No Temporal, database or HTTP here: the order workflow and the services ask these functions.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field

from domain.clock import SHANGHAI, require_aware, shanghai_text

# The reminder the day before the expected arrival goes out at this Shanghai hour (the rules say "the day before",
# not when): in the morning, so the agent has the day to call the customer, and well outside the quiet hours.
ARRIVAL_REMINDER_AT = time(10, 0)


class DeliveryTerms(BaseModel):
    """The delivery clocks of one order, copied into its workflow at order time from the settings (like the
    product's terms: a setting changed later applies to new orders, never to one in flight)."""

    acceptance_window_h: int = Field(default=24, ge=1, le=24 * 30)  # placed -> carrier accepted
    shipment_window_h: int = Field(default=72, ge=1, le=24 * 30)  # accepted -> shipped
    logistics_window_h: int = Field(default=72, ge=1, le=24 * 30)  # in transit: no courier news this long
    rescue_give_up_days: int = Field(default=7, ge=1, le=90)  # an open rescue with no resolution -> delivery_failed
    rescue_reminder_h: int = Field(default=24, ge=1, le=24 * 7)  # the agent is reminded of an open rescue this often


class StaleReason(StrEnum):
    NO_CARRIER_ACCEPTANCE = "no_carrier_acceptance"
    NO_SHIPMENT = "no_shipment"
    NO_LOGISTICS_UPDATE = "no_logistics_update"


STALE_WORDS = {
    StaleReason.NO_CARRIER_ACCEPTANCE: "the carrier has not accepted the order",
    StaleReason.NO_SHIPMENT: "the carrier accepted the order but has not shipped it",
    StaleReason.NO_LOGISTICS_UPDATE: "the courier has sent no news of the parcel",
}


class Staleness(BaseModel):
    """Whether an order with no news is stale now, since when (the window's end), and when to look again."""

    reason: StaleReason | None = None
    since: AwareDatetime | None = None
    check_at: AwareDatetime | None = None  # the end of the window that runs now (None: no window runs)


def staleness(*, placed_at: datetime, accepted_at: datetime | None, shipped_learned_at: datetime | None,
              last_logistics_learned_at: datetime | None, delivered: bool, terms: DeliveryTerms,
              now: datetime) -> Staleness:
    """The three windows of "no news" (issue: stale orders), each counted from when WE learned the previous step:
    placed -> accepted, accepted -> shipped, shipped -> any courier news while the parcel is out. A delivered
    (signed, returned) or ended order is never stale here: activation and recharge have their own deadlines."""
    if delivered:
        return Staleness()
    if shipped_learned_at is None:
        if accepted_at is None:
            reason, end = StaleReason.NO_CARRIER_ACCEPTANCE, placed_at + timedelta(hours=terms.acceptance_window_h)
        else:
            reason, end = StaleReason.NO_SHIPMENT, accepted_at + timedelta(hours=terms.shipment_window_h)
    else:
        last = max(shipped_learned_at, last_logistics_learned_at or shipped_learned_at)
        reason, end = StaleReason.NO_LOGISTICS_UPDATE, last + timedelta(hours=terms.logistics_window_h)
    if now >= end:
        return Staleness(reason=reason, since=end, check_at=None)
    return Staleness(check_at=end)


def arrival_reminder_at(expected_arrival: date) -> datetime:
    """The day before the expected arrival, at ARRIVAL_REMINDER_AT Shanghai (settlement rules 1.8)."""
    return datetime.combine(expected_arrival - timedelta(days=1), ARRIVAL_REMINDER_AT, tzinfo=SHANGHAI)


def arrival_reminder_due(expected_arrival: date, now: datetime) -> bool:
    """Remind when the reminder time has come and the arrival day has not begun: a date learned late (the evening
    before) still reminds at once; one learned on the day itself is too late to prepare anyone."""
    local_today = require_aware(now).astimezone(SHANGHAI).date()
    return now >= arrival_reminder_at(expected_arrival) and local_today < expected_arrival


# ---- what people read (masked numbers only: these texts go to inboxes, webhooks and SMS) ----------------


def tracking_sms(order_id: str, courier_tracking_no: str) -> str:
    return (f"Your SIM card (order {order_id}) has shipped, tracking number {courier_tracking_no}. Please keep your "
            "phone at hand for the courier's call and activate the card once you have it.")


def arrival_sms(order_id: str, expected_arrival: date) -> str:
    return (f"Your SIM card (order {order_id}) is expected tomorrow, {expected_arrival.isoformat()}. Please be "
            "available to sign for it, with your ID card.")


def arrival_notice(order_id: str, msisdn_masked: str, expected_arrival: date) -> str:
    return (f"Order {order_id} ({msisdn_masked}) is expected to arrive tomorrow, {expected_arrival.isoformat()}: "
            "remind the customer to be available to sign for it.")


def rescue_opened_notice(order_id: str, msisdn_masked: str, kind: str, give_up_at: datetime) -> str:
    return (f"Delivery exception on order {order_id} ({msisdn_masked}): {kind.replace('_', ' ')}. Contact the "
            f"customer (phone, SMS, WeChat, at different times of day) and record each attempt; without a resolution "
            f"by {shanghai_text(give_up_at)} the delivery fails.")


def rescue_reminder_notice(order_id: str, msisdn_masked: str, kind: str, n: int, give_up_at: datetime) -> str:
    return (f"Reminder {n}: the delivery exception on order {order_id} ({msisdn_masked}, {kind.replace('_', ' ')}) "
            f"is still open; the delivery fails at {shanghai_text(give_up_at)} without a resolution.")


def stale_notice(order_id: str, msisdn_masked: str, reason: StaleReason, since: datetime) -> str:
    return f"Order {order_id} ({msisdn_masked}) has had no news since {shanghai_text(since)}: {STALE_WORDS[reason]}."


def delivery_failed_notice(order_id: str, msisdn_masked: str, days: int) -> str:
    return (f"Order {order_id} ({msisdn_masked}): the delivery rescue found no resolution in {days} days; the "
            "delivery has failed and the order ends without commission (delivery_failed).")


# ---- the rescue task the agent works -----------------------------------------------------------------


class ContactChannel(StrEnum):
    PHONE = "phone"
    SMS = "sms"
    WECHAT = "wechat"


class ContactOutcome(StrEnum):
    """What one attempt to reach the customer gave (settlement rules 1.9 names the cases)."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"
    REFUSED = "refused"
    NEW_DATE_AGREED = "new_date_agreed"  # redelivery appointment or another date, coordinated with the courier
    ADDRESS_CORRECTED = "address_corrected"


class RescueResolution(StrEnum):
    """How the agent closes a rescue task. `redelivery_arranged` and `contact_corrected` stop the reminders and the
    give-up clock of this exception (the courier delivers again; new news opens a new task); `given_up` ends the
    delivery at once as failed (the customer refuses for good, nobody can be reached)."""

    REDELIVERY_ARRANGED = "redelivery_arranged"
    CONTACT_CORRECTED = "contact_corrected"
    GIVEN_UP = "given_up"


class DaySlot(StrEnum):
    MORNING = "morning"  # before 12:00 Shanghai
    AFTERNOON = "afternoon"  # 12:00-18:00
    EVENING = "evening"  # from 18:00


def day_slot(at: datetime) -> DaySlot:
    """The rules ask for attempts at several times of day: the slot an attempt fell in, Shanghai time."""
    h = require_aware(at).astimezone(SHANGHAI).hour
    return DaySlot.MORNING if h < 12 else DaySlot.AFTERNOON if h < 18 else DaySlot.EVENING


# ---- the agent's monthly delivery figures ---------------------------------------------------------------


class AgentKpis(BaseModel):
    """An agent's figures for the orders it placed in one month (Shanghai): each rate over the orders that reached
    the step before, so a month still in progress shows what it has so far (`None`: nothing to divide by)."""

    agent_id: str
    month: str
    placed: int
    shipped: int
    signed: int
    activated: int
    settled: int
    failed: int
    sign_for_rate: float | None = Field(description="signed / shipped, 4 decimals; null when none shipped")
    activation_rate: float | None = Field(description="activated / signed")
    settlement_rate: float | None = Field(description="settled / activated")


def rate(part: int, whole: int) -> float | None:
    """A share to 4 decimals (0.8571 = 85.71 %), rounded half to even by `round`; None when nothing to divide."""
    return round(part / whole, 4) if whole else None

"""The pure delivery rules: stale windows, the day-before reminder, contact slots, rates, courier news in the facts."""

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.orders.delivery import (
    DaySlot,
    DeliveryTerms,
    StaleReason,
    arrival_reminder_at,
    arrival_reminder_due,
    day_slot,
    rate,
    staleness,
)
from domain.orders.order import (
    DeliveryStatus,
    EventKind,
    Fact,
    FailureReason,
    OrderEvent,
    OrderFacts,
    OrderStatus,
    ProductTerms,
    Submission,
    evaluate,
)

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
TERMS = DeliveryTerms(acceptance_window_h=24, shipment_window_h=72, logistics_window_h=48)
H = timedelta(hours=1)


def stale(now, accepted=None, shipped=None, news=None, delivered=False):
    return staleness(placed_at=T0, accepted_at=accepted, shipped_learned_at=shipped, last_logistics_learned_at=news,
                     delivered=delivered, terms=TERMS, now=now)


def test_no_carrier_acceptance_within_its_window():
    assert stale(T0 + 23 * H).reason is None and stale(T0 + 23 * H).check_at == T0 + 24 * H
    s = stale(T0 + 24 * H)
    assert s.reason == StaleReason.NO_CARRIER_ACCEPTANCE and s.since == T0 + 24 * H and s.check_at is None


def test_no_shipment_counts_from_the_acceptance():
    accepted = T0 + 20 * H
    assert stale(T0 + 30 * H, accepted=accepted).reason is None  # past the acceptance window: it was accepted
    assert stale(accepted + 71 * H, accepted=accepted).check_at == accepted + 72 * H
    assert stale(accepted + 72 * H, accepted=accepted).reason == StaleReason.NO_SHIPMENT


def test_no_logistics_update_counts_from_the_last_courier_news():
    shipped = T0 + 10 * H
    assert stale(shipped + 47 * H, accepted=shipped, shipped=shipped).reason is None
    assert stale(shipped + 48 * H, accepted=shipped, shipped=shipped).reason == StaleReason.NO_LOGISTICS_UPDATE
    news = shipped + 40 * H
    s = stale(shipped + 60 * H, accepted=shipped, shipped=shipped, news=news)
    assert s.reason is None and s.check_at == news + 48 * H
    assert stale(T0 + 1000 * H, shipped=shipped, delivered=True).reason is None  # signed/returned/ended: never


def test_the_day_before_reminder():
    arrival = date(2026, 3, 12)
    assert arrival_reminder_at(arrival) == datetime(2026, 3, 11, 2, 0, tzinfo=UTC)  # 10:00 Shanghai the day before
    assert not arrival_reminder_due(arrival, datetime(2026, 3, 11, 1, 59, tzinfo=UTC))
    assert arrival_reminder_due(arrival, datetime(2026, 3, 11, 2, 0, tzinfo=UTC))
    assert arrival_reminder_due(arrival, datetime(2026, 3, 11, 15, 59, tzinfo=UTC))  # 23:59 Shanghai: still before
    assert not arrival_reminder_due(arrival, datetime(2026, 3, 11, 16, 0, tzinfo=UTC))  # the arrival day itself


@pytest.mark.parametrize(("utc_hour", "slot"), [(0, DaySlot.MORNING), (3, DaySlot.MORNING), (4, DaySlot.AFTERNOON),
                                                (9, DaySlot.AFTERNOON), (10, DaySlot.EVENING), (15, DaySlot.EVENING),
                                                (16, DaySlot.MORNING)])
def test_contact_slots_are_shanghai_times(utc_hour, slot):
    assert day_slot(datetime(2026, 3, 10, utc_hour, tzinfo=UTC)) == slot


def test_rates_round_to_four_decimals_and_none_without_a_base():
    assert rate(2, 3) == 0.6667 and rate(1, 3) == 0.3333 and rate(3, 4) == 0.75 and rate(0, 5) == 0.0
    assert rate(0, 0) is None


def ev(n, kind, at, **kw):
    return OrderEvent(event_id=f"e{n}", order_id="O1", kind=kind, occurred_at=at, source="logistics", **kw)


def test_courier_news_sets_the_expected_arrival_and_is_no_exception():
    f = OrderFacts()
    f.record(ev(1, EventKind.SHIPPED, T0, tracking_no="SF1", expected_arrival=date(2026, 3, 12)), T0 + H, "fp")
    assert f.expected_arrival == date(2026, 3, 12) and f.logistics_news_learned_at == T0 + H
    assert f.accepted_at() == T0 + H  # a shipment implies the carrier accepted the order
    f.record(ev(2, EventKind.DELIVERY, T0 + 5 * H, delivery_status=DeliveryStatus.IN_TRANSIT), T0 + 6 * H, "fp")
    assert f.delivery_exceptions == [] and f.logistics_news_learned_at == T0 + 6 * H
    f.record(ev(3, EventKind.DELIVERY, T0 + 7 * H, delivery_status=DeliveryStatus.REDELIVERY,
                redelivery_date="2026-03-14"), T0 + 8 * H, "fp")
    assert f.expected_arrival == date(2026, 3, 14) and len(f.delivery_exceptions) == 1
    accepted = Submission(accepted=True, at=T0 + 2 * H, carrier_order_no="CM1")
    assert OrderFacts(submission=accepted).accepted_at() == T0 + 2 * H
    refused = Submission(accepted=False, at=T0 + 2 * H, reason=FailureReason.OUTSIDE_COVERAGE)
    assert OrderFacts(submission=refused).accepted_at() is None


def test_a_rescue_given_up_fails_the_delivery():
    terms = ProductTerms(product_id="P", carrier="china_mobile", activation_window_days=15, recharge_window_days=30,
                         min_first_recharge_fen=5000, commission_fen=12000)
    f = OrderFacts()
    f.record(ev(1, EventKind.SHIPPED, T0, tracking_no="SF1"), T0, "fp")
    f.record(ev(2, EventKind.DELIVERY, T0 + H, delivery_status=DeliveryStatus.UNREACHABLE), T0 + H, "fp")
    assert evaluate(terms, f, T0 + 2 * H).status == OrderStatus.DELIVERY_EXCEPTION
    f.delivery_given_up = Fact(at=T0 + 7 * 24 * H, learned_at=T0 + 7 * 24 * H, event_id="rescue-give-up")
    v = evaluate(terms, f, T0 + 7 * 24 * H)
    assert v.status == OrderStatus.FAILED and v.failure_reason == FailureReason.DELIVERY_FAILED

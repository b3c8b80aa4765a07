"""The five-condition chain as pure rules, the commission split, and the money rounding."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.crypto import fingerprint as msisdn_fingerprint
from domain.money import share_half_up, yuan
from domain.orders.carrier_events import CarrierEventIn, parse_csv, parse_json_lines
from domain.orders.commission import Beneficiary, commission_lines
from domain.orders.order import REPORTING_GRACE, EventKind, FailureReason, OrderEvent, OrderFacts, OrderStatus, evaluate
from tests.orders.world import MSISDN, TERMS

T0 = datetime(2026, 3, 10, 9, tzinfo=UTC)
FP = msisdn_fingerprint(MSISDN)


def ev(n, kind, days, **kw):
    return OrderEvent(event_id=f"e{n}", order_id="O1", kind=kind, occurred_at=T0 + timedelta(days=days), **kw)


HAPPY = [
    ev(1, "shipped", 0, tracking_no="SF1"),
    ev(2, "delivery", 1, delivery_status="signed"),
    ev(3, "activated", 2),
    ev(4, "recharged", 3, amount_fen=5000, to_msisdn_fingerprint=FP),
]


def facts_of(events, learned=T0):
    f = OrderFacts()
    for e in events:
        f.record(e, learned, FP)
    return f


def test_checklist_walks_the_conditions_with_timestamps():
    v = evaluate(TERMS, facts_of(HAPPY), T0 + timedelta(days=5))
    assert v.status == OrderStatus.AWAITING_CHECK_POINT
    assert [i.at for i in v.checklist[:4]] == [e.occurred_at for e in HAPPY]
    assert v.first_month == "202603" and v.settlement_month == "202604"
    assert v.until == v.check_point


def test_absence_waits_for_the_reporting_grace_after_we_learned_of_signing():
    # signing reported late (learned 20 days after it happened): the carrier still gets the grace to report
    late = T0 + timedelta(days=20)
    facts = facts_of(HAPPY[:2], learned=late)
    v = evaluate(TERMS, facts, late)
    assert v.status == OrderStatus.SIGNED and v.wake_at == late + REPORTING_GRACE
    assert evaluate(TERMS, facts, late + REPORTING_GRACE).failure_reason == FailureReason.ACTIVATION_TIMEOUT


def test_activation_on_the_last_second_of_the_window_counts():
    signed = HAPPY[1].occurred_at
    edge = OrderEvent(event_id="e3", order_id="O1", kind="activated",
                      occurred_at=signed + timedelta(days=TERMS.activation_window_days))
    v = evaluate(TERMS, facts_of([HAPPY[0], HAPPY[1], edge]), edge.occurred_at)
    assert v.status == OrderStatus.ACTIVATED
    later = edge.model_copy(update={"occurred_at": edge.occurred_at + timedelta(seconds=1)})
    assert evaluate(TERMS, facts_of([HAPPY[0], HAPPY[1], later]), T0).failure_reason == FailureReason.ACTIVATION_TIMEOUT


def test_a_later_right_recharge_does_not_rescue_an_insufficient_first_one():
    small = ev(4, "recharged", 3, amount_fen=100, to_msisdn_fingerprint=FP)
    big = ev(5, "recharged", 4, amount_fen=10000, to_msisdn_fingerprint=FP)
    v = evaluate(TERMS, facts_of([*HAPPY[:3], big, small]), T0 + timedelta(days=5))
    assert v.failure_reason == FailureReason.RECHARGE_INSUFFICIENT


def test_restored_suspension_before_the_check_point_is_no_failure():
    events = [*HAPPY, ev(5, "suspended", 10, mode="one_way", reason="arrears"), ev(6, "restored", 11)]
    v = evaluate(TERMS, facts_of(events), T0 + timedelta(days=12))
    assert v.status == OrderStatus.AWAITING_CHECK_POINT


event_lists = st.permutations(HAPPY).flatmap(
    lambda perm: st.lists(st.sampled_from(perm), max_size=4).map(lambda dup: list(perm) + dup)
)


@given(event_lists, st.randoms())
def test_any_order_and_any_duplicates_give_the_same_verdict(events, rnd):
    rnd.shuffle(events)
    now = T0 + timedelta(days=6)
    assert evaluate(TERMS, facts_of(events), now) == evaluate(TERMS, facts_of(HAPPY), now)


def test_duplicate_event_id_is_recognised():
    f = OrderFacts()
    assert f.record(HAPPY[0], T0, FP) is True
    assert f.record(HAPPY[0], T0, FP) is False
    assert f.seen_event_ids == ["e1"]


@pytest.mark.parametrize("amount, bp, expected", [(12000, 1000, 1200), (105, 500, 5), (110, 500, 6), (1, 5000, 1),
                                                   (0, 1000, 0), (12345, 0, 0), (12345, 10000, 12345)])
def test_share_rounds_half_up_to_the_fen(amount, bp, expected):
    assert share_half_up(amount, bp) == expected


@given(st.integers(0, 10**10), st.integers(0, 10_000))
def test_share_is_within_half_a_fen_of_the_exact_value(amount, bp):
    got = share_half_up(amount, bp)
    exact_times_2 = amount * bp * 2
    assert abs(got * 20_000 - exact_times_2) <= 10_000


def test_yuan_display_is_exact():
    assert yuan(12345) == "123.45" and yuan(5) == "0.05" and yuan(-250) == "-2.50"


def test_commission_goes_to_the_agent_and_one_parent_only():
    lines = commission_lines("O1", "A2", "A1", 12000, 1000)
    assert [(ln.agent_id, ln.role, ln.amount_fen) for ln in lines] == [
        ("A2", Beneficiary.AGENT, 12000),
        ("A1", Beneficiary.PARENT_OVERRIDE, 1200),
    ]
    assert len(commission_lines("O1", "A2", None, 12000, 1000)) == 1
    assert len(commission_lines("O1", "A2", "A1", 12000, 0)) == 1


def test_wire_events_are_validated_per_kind():
    lines = list(parse_json_lines(
        '{"event_id":"x1","order_id":"O1","kind":"shipped","occurred_at":"2026-03-01T10:00:00+08:00","tracking_no":"SF1"}\n'
        '{"event_id":"x2","order_id":"O1","kind":"shipped","occurred_at":"2026-03-01T10:00:00+08:00"}\n'
        '{"event_id":"x3","order_id":"O1","kind":"activated","occurred_at":"2026-03-01T10:00:00"}\n'
        'not json\n'
    ))
    assert lines[0].event and not lines[0].error
    assert "needs tracking_no" in lines[1].error
    assert "timezone" in lines[2].error
    assert lines[3].error and lines[3].line == 4


def test_csv_status_file_and_its_header():
    body = "event_id,order_id,kind,occurred_at,amount_fen,to_msisdn\nr1,O1,recharged,2026-03-02T10:00:00+08:00,5000,13800138000\n"
    (line,) = list(parse_csv(body))
    assert line.event.amount_fen == 5000
    oe = line.event.to_order_event(FP, True)
    assert oe.to_msisdn_fingerprint == FP and oe.to_msisdn_matches and "13800138000" not in oe.model_dump_json()
    assert line.event.to_order_event().to_msisdn_fingerprint is None  # no key ring, no fingerprint
    with pytest.raises(ValueError, match="unknown"):
        list(parse_csv("event_id,nonsense\n1,2\n"))


def test_full_phone_numbers_are_rejected_from_wire_when_malformed():
    with pytest.raises(ValueError):
        CarrierEventIn(event_id="1", order_id="O1", kind="recharged", occurred_at=T0, amount_fen=1, to_msisdn="abc")


def test_random_fuzz_never_crashes_evaluate():
    rnd = random.Random(7)
    kinds = ["shipped", "delivery", "activated", "activation_failed", "recharged", "suspended", "restored", "cancelled"]
    for n in range(300):
        events = []
        for i in range(rnd.randint(0, 8)):
            k = rnd.choice(kinds)
            kw = {"shipped": {"tracking_no": "SF"}, "delivery": {"delivery_status": rnd.choice(["signed", "refused", "returned"])},
                  "recharged": {"amount_fen": rnd.randint(0, 9000), "to_msisdn_fingerprint": FP},
                  "activation_failed": {"reason": "identity_failed"}, "suspended": {"mode": "two_way"}}.get(k, {})
            events.append(ev(f"{n}-{i}", k, rnd.randint(0, 90), **kw))
        v = evaluate(TERMS, facts_of(events), T0 + timedelta(days=rnd.randint(0, 120)))
        assert (v.status == OrderStatus.FAILED) == (v.failure_reason is not None)


def test_an_event_is_its_source_and_id():
    facts = OrderFacts()
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    shipped = OrderEvent(event_id="E1", order_id="O1", kind=EventKind.SHIPPED, occurred_at=at, tracking_no="SF1",
                         source="china_mobile")
    signed = OrderEvent(event_id="E1", order_id="O1", kind=EventKind.DELIVERY, occurred_at=at,
                        delivery_status="signed", source="logistics")
    assert facts.record(shipped, at, FP) and facts.record(signed, at, FP)  # the same id from two senders: both
    assert not facts.record(shipped, at, FP)  # the carrier's resend
    assert facts.signed is not None and facts.shipped is not None
    legacy = OrderFacts()  # an order of an older run knew events by bare id: a resend is still recognised
    assert legacy.record(shipped.model_copy(update={"source": None}), at, FP)
    assert not legacy.record(shipped, at, FP)


def test_a_recharge_is_judged_by_what_the_api_found_and_old_events_by_their_fingerprints():
    base = HAPPY[:3]
    facts = OrderFacts()
    for e in base:
        facts.record(e, T0, FP)
    facts.record(ev(4, "recharged", 3, amount_fen=5000, to_msisdn_fingerprint="k9.other", to_msisdn_matches=True), T0, FP)
    facts.record(ev(5, "recharged", 3, amount_fen=5000, to_msisdn_fingerprint=FP, to_msisdn_matches=False), T0, FP)
    facts.record(ev(6, "recharged", 3, amount_fen=5000, to_msisdn_fingerprint="0123456789abcdef"), T0, FP)
    facts.record(ev(7, "recharged", 3, amount_fen=5000, to_msisdn_fingerprint=FP), T0, FP)
    assert [r.right_number for r in facts.recharges] == [True, False, False, True]

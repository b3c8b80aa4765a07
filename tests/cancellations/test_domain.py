"""Account cancellation rules: the early-termination amount, the pre-check, the clock (cooling-off, reminders)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.cancellations import (
    AccountFacts,
    Channel,
    ClearVia,
    ContractFact,
    DeviceFact,
    FamilyPlanFact,
    ObstacleKind,
    State,
    ValueAddedFact,
    apply_clear,
    apply_confirm,
    apply_precheck,
    appointment_reminder_at,
    check_clear,
    check_confirm,
    check_withdraw,
    cooling_off_end,
    days_added,
    early_termination,
    open_case,
    precheck,
    remaining_months,
)
from domain.clock import SHANGHAI

NOW = datetime(2026, 12, 15, 10, 0, tzinfo=SHANGHAI)


def contract(subsidy: int = 120_000, term: int = 24, ends: date = date(2027, 3, 31)) -> ContractFact:
    return ContractFact(contract_id="K1", name="128 plan", subsidy_fen=subsidy, term_months=term, ends_on=ends)


def test_remaining_months_count_the_months_after_this_one():
    assert remaining_months(date(2027, 3, 31), NOW) == 3  # Jan, Feb, Mar: "3 months left on the contract"
    assert remaining_months(date(2026, 12, 31), NOW) == 0  # ends this month: billed with this month's bill
    # Shanghai decides the month: 31 Dec 17:00 UTC is already 1 January in Shanghai
    assert remaining_months(date(2027, 3, 31), datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) == 2


def test_early_termination_is_subsidy_times_remaining_over_term_half_up_and_explained():
    amount, why = early_termination(contract(), NOW)
    assert amount == 15_000  # 1200.00 x 3 / 24 = 150.00
    assert "1200.00 x 3 / 24 = 150.00 yuan" in why and "half up" in why
    # 100.01 x 1 / 24 = 4.16708.. -> 4.17; 100.00 x 1 / 8 = 12.50 exactly; 0.05 x 1 / 2 = 0.025 -> 0.03 (half up)
    assert early_termination(contract(10_001, 24, date(2027, 1, 31)), NOW)[0] == 417
    assert early_termination(contract(10_000, 8, date(2027, 1, 31)), NOW)[0] == 1_250
    assert early_termination(contract(5, 2, date(2027, 1, 31)), NOW)[0] == 3


@given(subsidy=st.integers(0, 10_000_000), term=st.integers(1, 60), left=st.integers(0, 80))
def test_early_termination_never_exceeds_the_subsidy_and_grows_with_the_months_left(subsidy, term, left):
    year, month = divmod(12 * 2026 + 11 + left, 12)
    ends = date(year, month + 1, 28)
    amount, _ = early_termination(contract(subsidy, term, ends), NOW)
    assert 0 <= amount <= subsidy
    if left >= term:
        assert amount == subsidy
    if left:
        year2, month2 = divmod(12 * 2026 + 11 + left - 1, 12)
        shorter, _ = early_termination(contract(subsidy, term, date(year2, month2 + 1, 28)), NOW)
        assert shorter <= amount


def test_precheck_gives_one_item_per_obstacle_with_reason_amount_and_how_to_clear():
    facts = AccountFacts(
        contracts=[contract(), contract(ends=date(2026, 11, 30)).model_copy(update={"contract_id": "OLD"})],
        balance_fen=4_650, devices=[DeviceFact(device_id="IMEI-1", name="phone")],
        family_plans=[FamilyPlanFact(plan_id="F1", name="family", owner=True, members=2)],
        value_added=[ValueAddedFact(service_id="V1", name="video member", monthly_fee_fen=99)])
    items = precheck(facts, NOW)
    assert [o.kind for o in items] == [ObstacleKind.CONTRACT, ObstacleKind.BALANCE, ObstacleKind.DEVICE,
                                       ObstacleKind.FAMILY_PLAN, ObstacleKind.VALUE_ADDED]  # the expired contract is none
    assert [o.amount_fen for o in items] == [15_000, 4_650, None, None, None]
    assert all(o.reason and o.how_to_clear for o in items)
    assert "0.99 yuan a month" in items[4].reason and "2 member(s)" in items[3].reason
    assert precheck(AccountFacts(balance_fen=-500), NOW) == []  # a credit is refunded, no obstacle


def _case():
    return open_case("X1", "china_mobile", "138****5678", Channel.SERVICE_HALL, "clerk", NOW, documents_checked=True)


def test_recheck_clears_what_the_carrier_no_longer_reports_and_flags_what_is_new():
    case = _case()
    apply_precheck(case, precheck(AccountFacts(balance_fen=100, devices=[DeviceFact(device_id="D", name="pad")]), NOW), NOW)
    assert case.state == State.TODO and len(case.todo) == 2
    assert check_confirm(case).type == "NotEligible"
    assert check_clear(case, "device:D", ClearVia.EVIDENCE, " ").type == "EvidenceMissing"
    assert check_clear(case, "nope", ClearVia.CARRIER, "").type == "UnknownItem"
    apply_clear(case, "device:D", NOW, "clerk", ClearVia.EVIDENCE, "pad received")
    later = NOW + timedelta(days=2)
    new = apply_precheck(case, precheck(AccountFacts(value_added=[ValueAddedFact(service_id="V", name="music",
                                                                                 monthly_fee_fen=500)]), later), later)
    assert [o.kind for o in new] == [ObstacleKind.VALUE_ADDED] and case.ineligible_again
    balance = next(o for o in case.obstacles if o.kind == ObstacleKind.BALANCE)
    assert balance.cleared_by == "carrier" and days_added(balance.found_at, balance.cleared_at) == 2.0
    assert case.state == State.TODO


def test_cooling_off_is_72_clock_hours_and_withdrawal_ends_with_it():
    case = _case()
    apply_precheck(case, [], NOW)
    assert case.state == State.READY and check_confirm(case) is None
    apply_confirm(case, NOW, "clerk")
    assert case.cooling_off_until == cooling_off_end(NOW) == NOW + timedelta(hours=72)
    assert check_withdraw(case, NOW + timedelta(hours=71, minutes=59)) is None
    assert check_withdraw(case, NOW + timedelta(hours=72)).type == "CoolingOffOver"
    with pytest.raises(ValueError):
        cooling_off_end(datetime(2026, 12, 1, 10, 0))  # naive


@pytest.mark.parametrize(("appointment", "now", "expected"), [
    (datetime(2026, 12, 20, 10, 0, tzinfo=SHANGHAI), NOW, datetime(2026, 12, 17, 10, 0, tzinfo=SHANGHAI)),
    # 3 days before falls in the quiet hours: 07:00
    (datetime(2026, 12, 20, 6, 30, tzinfo=SHANGHAI), NOW, datetime(2026, 12, 17, 7, 0, tzinfo=SHANGHAI)),
    (datetime(2026, 12, 20, 23, 0, tzinfo=SHANGHAI), NOW, datetime(2026, 12, 18, 7, 0, tzinfo=SHANGHAI)),
    # booked less than 3 days ahead: at once
    (datetime(2026, 12, 16, 15, 0, tzinfo=SHANGHAI), NOW, NOW),
    # booked at 23:00 for 07:30 next morning: 07:00, still before the appointment
    (datetime(2026, 12, 16, 7, 30, tzinfo=SHANGHAI), datetime(2026, 12, 15, 23, 0, tzinfo=SHANGHAI),
     datetime(2026, 12, 16, 7, 0, tzinfo=SHANGHAI)),
    # booked at 23:00 for 06:50: no allowed minute before it
    (datetime(2026, 12, 16, 6, 50, tzinfo=SHANGHAI), datetime(2026, 12, 15, 23, 0, tzinfo=SHANGHAI), None),
    (NOW - timedelta(hours=1), NOW, None),
])
def test_appointment_reminder_three_days_before_outside_quiet_hours(appointment, now, expected):
    got = appointment_reminder_at(appointment, now)
    assert got == expected
    if got is not None:
        local = got.astimezone(SHANGHAI).time()
        assert time(7) <= local < time(22)


def test_evidence_outlives_a_lagging_carrier_but_a_renewed_service_comes_back():
    case = _case()
    facts = AccountFacts(devices=[DeviceFact(device_id="D", name="phone")],
                         value_added=[ValueAddedFact(service_id="V", name="music", monthly_fee_fen=500)])
    apply_precheck(case, precheck(facts, NOW), NOW)
    apply_clear(case, "device:D", NOW, "clerk", ClearVia.EVIDENCE, "device received, receipt R1")
    apply_clear(case, "value_added:V", NOW, "clerk", ClearVia.CARRIER, reference="CLR-1")
    later = NOW + timedelta(hours=1)
    new = apply_precheck(case, precheck(facts, later), later)  # the carrier still shows both
    assert [o.item_id for o in new] == ["value_added:V#2"] and case.state == State.TODO

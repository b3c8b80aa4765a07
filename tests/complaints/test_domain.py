"""Complaint rules: level, repeat, deadlines (clock hours and working days), quiet hours, ticket life."""

import dataclasses
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.complaints.complaint import hold_in_quiet_hours
from domain.clock import SHANGHAI
from domain.complaints.complaint import (
    ComplaintFacts,
    ComplaintType,
    Customer,
    Department,
    Level,
    PriorComplaint,
    ReplyRecord,
    Source,
    Stage,
    SurveyAnswer,
    Tick,
    apply_accept,
    apply_overdue,
    apply_reply,
    apply_transfer,
    check_accept,
    check_findings,
    check_reply,
    check_transfer,
    classify,
    customer_sms_time,
    due_ticks,
    due_time,
    is_repeat,
    next_wake,
    open_case,
    read_survey_answer,
    schedule,
    set_due,
)
from domain.workdays import (
    ESTIMATE_VERSION,
    PACKAGE_VERSION,
    CalendarError,
    WorkCalendar,
    YearSchedule,
    add_working_time,
    next_year_check,
    schedule_from_days,
    working_time_between,
)

CAL = WorkCalendar()


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


# ---- level --------------------------------------------------------------------------------------


@pytest.mark.parametrize("source,customer,ctype,multi,level", [
    (Source.MINISTRY_FORWARDED, Customer.STANDARD, ComplaintType.BILLING, False, Level.REGULATOR),
    (Source.GROUP_FORWARDED, Customer.VIP, ComplaintType.BILLING, False, Level.REGULATOR),
    (Source.PROVINCIAL_ADMIN_FORWARDED, Customer.STANDARD, ComplaintType.MMS, False, Level.REGULATOR),
    (Source.MEDIA, Customer.STANDARD, ComplaintType.NETWORK_COVERAGE, False, Level.L1),
    (Source.CONSUMER_ASSOCIATION, Customer.STANDARD, ComplaintType.BILLING, False, Level.L1),
    (Source.COMM_ADMIN, Customer.STANDARD, ComplaintType.BILLING, False, Level.L1),
    (Source.GROUP_WEBSITE, Customer.STANDARD, ComplaintType.BILLING, False, Level.L1),
    (Source.HOTLINE, Customer.VIP, ComplaintType.INTERNATIONAL_ROAMING, False, Level.L1),
    (Source.HOTLINE, Customer.PREMIUM, ComplaintType.INTERNATIONAL_ROAMING, False, Level.L4),
    (Source.COUNTER, Customer.STANDARD, ComplaintType.OTHER_ORGANISATION, True, Level.L4),
    (Source.HOTLINE, Customer.PREMIUM, ComplaintType.BILLING, False, Level.L2),
    (Source.HOTLINE, Customer.STANDARD, ComplaintType.BILLING, True, Level.L2),
    (Source.HOTLINE, Customer.STANDARD, ComplaintType.BILLING, False, Level.L3),
    (Source.ONLINE, Customer.STANDARD, ComplaintType.MMS, False, Level.L3),
])
def test_level_from_source_customer_and_type(source, customer, ctype, multi, level):
    decision = classify(source, customer, ctype, multi)
    assert decision.level == level
    assert decision.reasons and all(r.strip() for r in decision.reasons)


def test_level_reason_names_the_rule():
    assert "VIP" in classify(Source.HOTLINE, Customer.VIP, ComplaintType.BILLING).reasons[0]
    assert "5 working days" in classify(Source.MINISTRY_FORWARDED, Customer.STANDARD, ComplaintType.BILLING).reasons[0]


# ---- repeat -------------------------------------------------------------------------------------


def _prior(cid, fp, ctype, at):
    return PriorComplaint(complaint_id=cid, msisdn_fingerprint=fp, ctype=ctype, received_at=at)


def test_repeat_same_number_same_type_within_30_days():
    now = sh(2026, 5, 31, 12)
    earlier = [
        _prior("C1", "fp", ComplaintType.BILLING, now - timedelta(days=30)),  # exactly 30 days: still a repeat
        _prior("C2", "fp", ComplaintType.MMS, now - timedelta(days=1)),  # other type
        _prior("C3", "other", ComplaintType.BILLING, now - timedelta(days=1)),  # other number
        _prior("C4", "fp", ComplaintType.BILLING, now - timedelta(days=30, seconds=1)),  # too old
    ]
    assert is_repeat("fp", ComplaintType.BILLING, now, earlier).complaint_id == "C1"
    assert is_repeat("fp", ComplaintType.BILLING, now, earlier[1:]) is None
    later = [*earlier, _prior("C5", "fp", ComplaintType.BILLING, now - timedelta(days=2))]
    assert is_repeat("fp", ComplaintType.BILLING, now, later).complaint_id == "C5"  # the latest one
    assert is_repeat("fp", ComplaintType.BILLING, now, [_prior("C6", "fp", ComplaintType.BILLING, now)]) is None


# ---- clock-hour deadlines -----------------------------------------------------------------------


@pytest.mark.parametrize("level,hours", [(Level.L1, 8), (Level.L2, 24), (Level.L3, 48), (Level.L4, 168)])
def test_clock_hour_deadlines_run_through_nights_and_holidays(level, hours):
    start = sh(2026, 9, 30, 23, 59)  # eve of National Day: holidays change nothing for clock hours
    full = due_time(level, False, start, CAL)
    half = due_time(level, True, start, CAL)
    assert full.due_at == start + timedelta(hours=hours)
    assert half.due_at == start + timedelta(hours=hours) / 2
    assert not full.working_days and full.calendar_version is None and not full.fallback
    assert half.halved and "halved" in half.limit


# ---- working-day deadlines ----------------------------------------------------------------------


def test_regulator_deadline_across_spring_festival_with_make_up_saturday():
    # 2026: Sat 14 Feb is a make-up working day; 15-23 Feb rest (Spring Festival); 24 Feb work again.
    start = sh(2026, 2, 13, 10)
    due = due_time(Level.REGULATOR, False, start, CAL)
    # 13 Feb 14 h + 14 Feb 24 h + 24, 25, 26 Feb 72 h = 110 h; 10 more on 27 Feb.
    assert due.due_at == sh(2026, 2, 27, 10)
    assert due.calendar_version == f"2026:{PACKAGE_VERSION}" and not due.fallback
    halved = due_time(Level.REGULATOR, True, start, CAL)
    assert halved.due_at == sh(2026, 2, 24, 22)  # 60 working hours: 14 + 24 + 22
    assert halved.limit == "2.5 working days (halved: repeat)"


def test_regulator_deadline_received_2359_on_the_eve_of_national_day():
    # 2026: 1-7 Oct rest, Sat 10 Oct is a make-up working day, Sun 11 Oct rest.
    start = sh(2026, 9, 30, 23, 59)
    due = due_time(Level.REGULATOR, False, start, CAL)
    # 1 minute on 30 Sep; 8, 9, 10 (make-up Sat), 12 Oct full days; 23 h 59 min of 13 Oct.
    assert due.due_at == sh(2026, 10, 13, 23, 59)
    assert working_time_between(start, due.due_at, CAL) == timedelta(days=5)


def test_received_on_a_rest_day_starts_at_the_next_working_day_make_up_sunday_included():
    # Sat 19 Sep 2026 is a rest day; Sun 20 Sep is a make-up working day (National Day).
    due = due_time(Level.REGULATOR, False, sh(2026, 9, 19, 15), CAL)
    # 20, 21, 22, 23, 24 Sep full days (25 Sep is the Mid-Autumn holiday)
    assert due.due_at == sh(2026, 9, 25, 0, 0)


def test_year_without_schedule_falls_back_visibly_and_a_loaded_schedule_overrides():
    start = sh(2026, 12, 30, 9)
    due = due_time(Level.REGULATOR, False, start, CAL)
    assert due.fallback
    assert due.calendar_version == f"2026:{PACKAGE_VERSION};2027:{ESTIMATE_VERSION}"
    assert "WARNING" in due.explanation
    # weekday estimate: 30, 31 Dec (39 h), Fri 1 Jan, Mon 4, Tue 5 (111 h), 9 h of Wed 6 Jan
    assert due.due_at == sh(2027, 1, 6, 9)

    official = schedule_from_days(2027, [date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)],
                                  [date(2027, 1, 9)], version="ops-2027-r1")
    loaded = WorkCalendar(loaded={2027: official})
    due2 = due_time(Level.REGULATOR, False, start, loaded)
    assert not due2.fallback and due2.calendar_version == f"2026:{PACKAGE_VERSION};2027:ops-2027-r1"
    assert due2.due_at == sh(2027, 1, 7, 9)  # 1 Jan is a holiday now: one working day later


def test_a_loaded_schedule_overrides_the_package_too():
    start = sh(2026, 6, 1, 12)  # Monday
    extra = YearSchedule(year=2026, holidays=frozenset({date(2026, 6, 2)}), version="ops-2026-r1")
    assert due_time(Level.REGULATOR, False, start, WorkCalendar(loaded={2026: extra})).due_at == sh(2026, 6, 9, 12)
    assert due_time(Level.REGULATOR, False, start, CAL).due_at == sh(2026, 6, 8, 12)


def test_schedules_that_cannot_be_right_are_refused():
    with pytest.raises(CalendarError, match="another year"):
        YearSchedule(year=2027, holidays=frozenset({date(2026, 12, 31)}))
    with pytest.raises(CalendarError, match="both"):
        YearSchedule(year=2027, holidays=frozenset({date(2027, 1, 1)}), workdays=frozenset({date(2027, 1, 1)}))
    with pytest.raises(CalendarError, match="Saturdays or Sundays"):
        YearSchedule(year=2027, workdays=frozenset({date(2027, 1, 4)}))


def test_daily_check_warns_from_1_december_about_next_year():
    assert next_year_check(date(2026, 11, 30), {}) == []
    [warning] = next_year_check(date(2026, 12, 1), {})
    assert "2027" in warning
    official = schedule_from_days(2027, [date(2027, 1, 1)], [], "ops-2027-r1")
    assert next_year_check(date(2026, 12, 1), {2027: official}) == []
    assert len(next_year_check(date(2027, 3, 1), {})) == 1  # the current year itself on the estimate


starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 6, 30), timezones=st.just(SHANGHAI))
amounts = st.integers(min_value=0, max_value=10 * 24 * 60).map(lambda m: timedelta(minutes=m))


@settings(max_examples=300, deadline=None)
@given(start=starts, amount=amounts)
def test_working_time_added_is_exactly_the_working_time_between(start, amount):
    result = add_working_time(start, amount, CAL)
    assert result.at >= start
    assert working_time_between(start, result.at, CAL) == amount
    if amount > timedelta(0):
        # the due instant is inside a working day or at the midnight that ends one
        local = result.at.astimezone(SHANGHAI)
        day = local.date() - timedelta(days=1) if local.time() == time(0) else local.date()
        assert CAL.is_workday(day)


@settings(max_examples=200, deadline=None)
@given(start=starts)
def test_halving_a_working_day_deadline_halves_the_working_time(start):
    full = due_time(Level.REGULATOR, False, start, CAL)
    half = due_time(Level.REGULATOR, True, start, CAL)
    assert start < half.due_at <= full.due_at
    assert working_time_between(start, half.due_at, CAL) * 2 == working_time_between(start, full.due_at, CAL)
    assert working_time_between(start, full.due_at, CAL) == timedelta(days=5)
    # at least 5 calendar days: never earlier than 5 x 24 clock hours (rest days only stretch it)
    assert full.due_at - start >= timedelta(days=5)


@settings(max_examples=200, deadline=None)
@given(start=starts, a=amounts, b=amounts)
def test_more_working_time_never_ends_earlier(start, a, b):
    lo, hi = sorted((a, b))
    assert add_working_time(start, lo, CAL).at <= add_working_time(start, hi, CAL).at


@settings(max_examples=200, deadline=None)
@given(start=starts, level=st.sampled_from([Level.L1, Level.L2, Level.L3, Level.L4]))
def test_halving_clock_hours_is_exact(start, level):
    full, half = due_time(level, False, start, CAL), due_time(level, True, start, CAL)
    assert (half.due_at - start) * 2 == full.due_at - start


# ---- quiet hours --------------------------------------------------------------------------------


@pytest.mark.parametrize("at,expected", [
    (sh(2026, 3, 1, 21, 59), sh(2026, 3, 1, 21, 59)),
    (sh(2026, 3, 1, 22, 0), sh(2026, 3, 2, 7, 0)),
    (sh(2026, 3, 1, 23, 59), sh(2026, 3, 2, 7, 0)),
    (sh(2026, 3, 2, 0, 0), sh(2026, 3, 2, 7, 0)),
    (sh(2026, 3, 2, 6, 59, 59), sh(2026, 3, 2, 7, 0)),
    (sh(2026, 3, 2, 7, 0), sh(2026, 3, 2, 7, 0)),
])
def test_no_customer_sms_between_22_and_7(at, expected):
    assert customer_sms_time(at) == expected


@given(at=starts)
def test_customer_sms_time_is_the_first_allowed_instant(at):
    out = customer_sms_time(at)
    local = out.astimezone(SHANGHAI).time()
    assert out >= at and time(7) <= local < time(22)
    assert out - at <= timedelta(hours=9)
    if time(7) <= at.astimezone(SHANGHAI).time() < time(22):
        assert out == at


# ---- the ticket ---------------------------------------------------------------------------------


def _case(level=Level.L3, received=sh(2026, 3, 2, 10)):
    facts = ComplaintFacts(complaint_id="C1", msisdn_masked="138****0000", msisdn_fingerprint="fp",
                           source=Source.HOTLINE, customer=Customer.STANDARD, ctype=ComplaintType.BILLING,
                           receiving_department=Department.COMPLAINT_DESK, received_at=received)
    return open_case(facts, classify(Source.HOTLINE, Customer.STANDARD, ComplaintType.BILLING),
                     due_time(level, False, received, CAL))


def test_transfers_flow_one_way():
    case = _case()
    assert check_transfer(case, Department.BILLING, Department.NETWORK).type == "NotHandlingDepartment"
    assert check_transfer(case, Department.COMPLAINT_DESK, Department.COMPLAINT_DESK).type == "TransferToSelf"
    assert check_transfer(case, Department.COMPLAINT_DESK, Department.BILLING) is None
    apply_transfer(case, Department.BILLING)
    assert case.stage == Stage.AWAITING_DEPARTMENT and case.handling_department == Department.BILLING
    assert check_transfer(case, Department.BILLING, Department.COMPLAINT_DESK).type == "TransferBack"
    assert check_transfer(case, Department.BILLING, Department.NETWORK) is None
    apply_transfer(case, Department.NETWORK)
    for back in (Department.BILLING, Department.COMPLAINT_DESK):
        refusal = check_transfer(case, Department.NETWORK, back)
        assert refusal.type == "TransferBack" and "complaint_desk -> billing -> network" in refusal.reason


def test_department_must_accept_before_findings_and_reply():
    case = _case()
    assert check_findings(case, Department.COMPLAINT_DESK, "x").type == "NotAccepted"
    assert check_accept(case, Department.BILLING).type == "NotHandlingDepartment"
    assert check_accept(case, Department.COMPLAINT_DESK) is None
    apply_accept(case)
    assert check_accept(case, Department.COMPLAINT_DESK).type == "AlreadyAccepted"
    assert check_findings(case, Department.COMPLAINT_DESK, "  ").type == "EmptyFindings"


@pytest.mark.parametrize("findings,handling,reply,ok", [
    ("charged twice on 3 May", "refunded 2 x 5.00", "we returned 10.00 to your account", True),
    ("", "refunded", "we returned it", False),
    ("found", "", "we returned it", False),
    ("found", "refunded", " ", False),
    ("found", "已转相关部门处理", "您的问题正在处理", False),
    ("found", "refunded", "transferred to another department", False),
    ("found", "Forwarded to the network team", "we are on it", False),
])
def test_a_reply_needs_three_elements_and_is_not_a_transfer(findings, handling, reply, ok):
    case = _case()
    apply_accept(case)
    refusal = check_reply(case, Department.COMPLAINT_DESK, findings, handling, reply)
    assert (refusal is None) == ok
    if not ok:
        assert refusal.type == "UnqualifiedReply"


def test_clock_events_of_a_ticket():
    received = sh(2026, 3, 2, 21, 30)  # 48 h later is 21:30; level 3 due at the same instant
    case = _case(received=received)
    assert next_wake(case) == received + timedelta(hours=47)  # handler warned an hour before the due time
    assert due_ticks(case, received + timedelta(hours=47)) == [Tick.WARN_HANDLER]
    case.warned_for_due = case.due.due_at
    assert due_ticks(case, received + timedelta(hours=48)) == [Tick.HANDLED_SMS, Tick.OVERDUE]
    apply_overdue(case)
    case.handled_sms_sent = True
    assert case.public_state() == "overdue"
    assert next_wake(case) == case.due.due_at  # the first supervision notice, at once
    # late at night: the 48 h SMS waits for 07:00
    late = _case(received=sh(2026, 3, 2, 23, 0))
    late.due = late.due.model_copy(update={"due_at": sh(2026, 3, 10)})
    assert schedule(late)[Tick.HANDLED_SMS] == sh(2026, 3, 5, 7, 0)


def test_moving_the_due_time_out_clears_overdue_and_is_recorded():
    case = _case()
    apply_overdue(case)
    later = due_time(Level.L4, False, case.facts.received_at, CAL)
    change = set_due(case, later, case.due.due_at + timedelta(hours=1), "level corrected")
    assert change.old_due_at == case.facts.received_at + timedelta(hours=48)
    assert change.new_due_at == later.due_at and not case.overdue and case.late_cycles == 0
    assert set_due(case, later, case.due.due_at, "same again") is None


def test_a_late_reply_counts_as_not_on_time():
    case = _case()
    apply_accept(case)
    apply_reply(case, ReplyRecord(department=Department.COMPLAINT_DESK, actor="u", findings="f", handling="h",
                                  reply_to_customer="r", at=case.due.due_at + timedelta(minutes=1), on_time=False))
    assert case.on_time is False and case.stage == Stage.AWAITING_CUSTOMER


@pytest.mark.parametrize("text,answer", [
    ("1", SurveyAnswer.SATISFIED), ("满意", SurveyAnswer.SATISFIED), ("2", SurveyAnswer.DISSATISFIED),
    ("不满意", SurveyAnswer.DISSATISFIED), (" dissatisfied!", SurveyAnswer.DISSATISFIED), ("hello", None), ("", None),
])
def test_survey_answers(text, answer):
    assert read_survey_answer(text) == answer


def test_an_sms_attempt_scheduled_in_the_night_is_put_off_until_seven():
    def attempt_at(local: datetime, attempt: int = 2):
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, current_attempt_scheduled_time=local, attempt=attempt)
        return env.run(hold_in_quiet_hours)

    assert attempt_at(datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)) is None  # daytime retry: goes out
    assert attempt_at(datetime(2026, 11, 26, 23, 30, tzinfo=SHANGHAI), attempt=1) is None  # the workflow chose it
    with pytest.raises(ApplicationError) as held:
        attempt_at(datetime(2026, 11, 26, 23, 30, tzinfo=SHANGHAI))  # a retry at night
    assert held.value.type == "QuietHours" and held.value.next_retry_delay == timedelta(hours=7, minutes=30)

"""Date rules: first month, check point, settlement month. Asia/Shanghai, whatever zone the input uses."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.clock import (
    SHANGHAI,
    first_month,
    month_bounds,
    previous_month,
    require_aware,
    settlement_check_point,
    settlement_month,
)

UTC = UTC


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "activated, first, check_point, month",
    [
        (sh(2026, 1, 15, 10), "202601", sh(2026, 3, 1), "202602"),  # through February
        (sh(2026, 12, 31, 23, 59, 59), "202612", sh(2027, 2, 1), "202701"),  # last second of the year
        (sh(2027, 1, 1, 0, 0, 0), "202701", sh(2027, 3, 1), "202702"),  # first second of the year
        (sh(2026, 11, 30, 12), "202611", sh(2027, 1, 1), "202612"),  # check point across year end
        (sh(2028, 2, 29, 8), "202802", sh(2028, 4, 1), "202803"),  # leap day
        (sh(2026, 1, 31, 23, 59, 59), "202601", sh(2026, 3, 1), "202602"),  # last second of a month
    ],
)
def test_first_month_and_check_point(activated, first, check_point, month):
    assert first_month(activated) == first
    assert settlement_check_point(activated) == check_point
    assert settlement_month(activated) == month


def test_month_is_shanghai_not_utc():
    # 2026-01-31 16:30 UTC is already 1 February 00:30 in Shanghai
    at = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)
    assert first_month(at) == "202602"
    assert settlement_check_point(at) == sh(2026, 4, 1)
    # and one second before Shanghai midnight it is still January
    assert first_month(datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC)) == "202601"


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        first_month(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        require_aware(datetime(2026, 1, 1))


def test_month_bounds_and_previous_month():
    assert month_bounds("202612") == (sh(2026, 12, 1), sh(2027, 1, 1))
    assert previous_month(sh(2027, 1, 3, 2)) == "202612"
    for bad in ("2026-1", "202613", "abcdef", "20261"):
        with pytest.raises(ValueError):
            month_bounds(bad)


instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 1), timezones=st.just(UTC))


@given(instants)
def test_check_point_is_the_start_of_the_month_after_next(at):
    cp = settlement_check_point(at)
    local = at.astimezone(SHANGHAI)
    assert cp.tzinfo is not None and cp.astimezone(SHANGHAI).day == 1 and cp.astimezone(SHANGHAI).hour == 0
    months_between = (cp.year - local.year) * 12 + cp.month - local.month
    assert months_between == 2
    # the whole next month lies between activation and the check point
    start, end = month_bounds(settlement_month(at))
    assert at < start and end == cp
    assert timedelta(days=28) < cp - at <= timedelta(days=62)


@given(instants)
def test_first_month_contains_the_activation(at):
    start, end = month_bounds(first_month(at))
    assert start <= at < end
    assert settlement_month(at) == first_month(end)

"""Calendar rules of the business. Every month boundary is Asia/Shanghai, whatever the server's zone."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def require_aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed: {at!r}")
    return at


def shanghai_text(at: datetime) -> str:
    """How people read an instant: the Shanghai wall clock, to the minute ("2026-03-01 00:00 Shanghai")."""
    return require_aware(at).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") + " Shanghai"


def _month_start(year: int, month: int) -> datetime:
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=SHANGHAI)


def first_month(activated_at: datetime) -> str:
    """The natural month (yyyymm, Shanghai) in which the card was activated, whatever the order date."""
    local = require_aware(activated_at).astimezone(SHANGHAI)
    return f"{local.year:04d}{local.month:02d}"


def settlement_month(activated_at: datetime) -> str:
    """The month whose end is the check point: the month after the first month (yyyymm)."""
    local = require_aware(activated_at).astimezone(SHANGHAI)
    nxt = _month_start(local.year, local.month + 1)
    return f"{nxt.year:04d}{nxt.month:02d}"


def settlement_check_point(activated_at: datetime) -> datetime:
    """End of the NEXT month after activation: the first instant of the month after next, Shanghai.

    The number must still be in network at this instant (condition 5).
    """
    local = require_aware(activated_at).astimezone(SHANGHAI)
    return _month_start(local.year, local.month + 2)


def month_bounds(yyyymm: str) -> tuple[datetime, datetime]:
    """[start, end) of a yyyymm month in Shanghai."""
    if len(yyyymm) != 6 or not yyyymm.isdigit() or not 1 <= int(yyyymm[4:]) <= 12:
        raise ValueError(f"month must be yyyymm, got {yyyymm!r}")
    year, month = int(yyyymm[:4]), int(yyyymm[4:])
    return _month_start(year, month), _month_start(year, month + 1)


def previous_month(at: datetime) -> str:
    local = require_aware(at).astimezone(SHANGHAI)
    prev = _month_start(local.year, local.month - 1)
    return f"{prev.year:04d}{prev.month:02d}"


def days_after(at: datetime, days: int) -> datetime:
    """A window of N days is N x 24 clock hours after the starting event."""
    return require_aware(at) + timedelta(days=days)


def months_before(at: datetime, months: int) -> datetime:
    """The same wall-clock instant `months` calendar months earlier, Shanghai; the day is clamped to the
    month's end (31 May -> 31 Mar for 2 months; 30 Apr -> 28/29 Feb). "In the last 2 months" = since this."""
    local = require_aware(at).astimezone(SHANGHAI)
    first = _month_start(local.year, local.month - months)
    last_day = (_month_start(first.year, first.month + 1) - timedelta(days=1)).day
    return local.replace(year=first.year, month=first.month, day=min(local.day, last_day))


# Quiet hours: no care SMS reaches a customer 22:00-07:00 Shanghai (complaint procedure 8.0; account
# cancellation 1.6 reminders follow the same rule).
QUIET_FROM, QUIET_UNTIL = time(22, 0), time(7, 0)


def customer_sms_time(at: datetime) -> datetime:
    """When a care SMS wanted at `at` may go out: at once, unless 22:00-07:00 Shanghai, then 07:00 (complaint procedure 8.0, account cancellation 1.6)."""
    local = require_aware(at).astimezone(SHANGHAI)
    if local.time() >= QUIET_FROM:
        return datetime.combine(local.date() + timedelta(days=1), QUIET_UNTIL, tzinfo=SHANGHAI)
    if local.time() < QUIET_UNTIL:
        return datetime.combine(local.date(), QUIET_UNTIL, tzinfo=SHANGHAI)
    return at

"""Chinese statutory working days (Asia/Shanghai) and working-time arithmetic. Pure: no I/O.

Where a day's status comes from, in this order:

1. an official schedule ops loaded for that year (`YearSchedule`, kept in the database and handed
   in by the caller: the State Council publishes next year's schedule each November);
2. the maintained PyPI package `chinesecalendar` (module `chinese_calendar`), for the years it ships;
3. otherwise an ESTIMATE: Monday to Friday work, Saturday and Sunday rest, no holidays and no
   make-up days known. It never crashes and never hides: every result built on it says
   `fallback=True` and names the estimate in its calendar version.

Why the estimate errs the safe way for deadlines: an unknown holiday counted as a working day makes a
working-day deadline EARLIER than the official one, so a ticket is never reported on time by mistake.
(An unknown make-up Saturday would make it later; make-up days sit next to the holidays they pay for,
so a window holding one almost always holds the longer holiday too. The ticket shows the flag anyway.)

Working time: a working day counts as 24 working hours from its 00:00 to 24:00 Shanghai; every moment
of a rest day counts zero. "N working days after t" is the instant at which N x 24 working hours have
passed since t. So halving is exact (2.5 working days = 60 working hours), a complaint received at
23:59 on the eve of a holiday has used one working minute of its first day, and a complaint received on
a rest day starts its clock at 00:00 of the next working day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import chinese_calendar
from chinese_calendar import constants as _cc

from domain.clock import SHANGHAI, require_aware

PACKAGE_VERSION = f"chinesecalendar-{chinese_calendar.__version__}"
ESTIMATE_VERSION = "estimate-weekdays-v1"
PACKAGE_FIRST_YEAR = min(_cc.holidays).year
PACKAGE_LAST_YEAR = max(_cc.holidays).year
MAX_SCAN_DAYS = 3 * 366  # a deadline is never further than this; guards against an all-rest schedule


class CalendarError(ValueError):
    """A schedule that cannot be right (a date outside its year, a day both holiday and working day)."""


@dataclass(frozen=True)
class YearSchedule:
    """One year's official schedule as published: the weekday holidays and the make-up working weekend days.

    Days not listed follow the week: Monday-Friday work, Saturday-Sunday rest.
    """

    year: int
    holidays: frozenset[date] = frozenset()  # rest days that would otherwise be working days (weekday holidays)
    workdays: frozenset[date] = frozenset()  # working days that would otherwise be rest days (make-up weekends)
    version: str = ""
    official: bool = True

    def __post_init__(self) -> None:
        stray = sorted(d for d in self.holidays | self.workdays if d.year != self.year)
        if stray:
            raise CalendarError(f"schedule for {self.year} lists days of another year: {', '.join(map(str, stray))}")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise CalendarError(f"days both holiday and working day: {', '.join(map(str, both))}")
        weekend_holidays = sorted(d for d in self.holidays if d.weekday() >= 5)
        if weekend_holidays:
            raise CalendarError(f"holidays on a weekend change nothing; list only weekday holidays: {weekend_holidays}")
        weekday_workdays = sorted(d for d in self.workdays if d.weekday() < 5)
        if weekday_workdays:
            raise CalendarError(f"make-up working days must be Saturdays or Sundays: {weekday_workdays}")

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


def package_schedule(year: int) -> YearSchedule | None:
    """The year as the `chinesecalendar` package knows it, or None if the package does not cover it."""
    if not PACKAGE_FIRST_YEAR <= year <= PACKAGE_LAST_YEAR:
        return None
    holidays = frozenset(d for d in _cc.holidays if d.year == year and d.weekday() < 5)
    workdays = frozenset(d for d in _cc.workdays if d.year == year and d.weekday() >= 5)
    return YearSchedule(year=year, holidays=holidays, workdays=workdays, version=PACKAGE_VERSION, official=True)


def estimate_schedule(year: int) -> YearSchedule:
    return YearSchedule(year=year, version=ESTIMATE_VERSION, official=False)


@dataclass
class WorkCalendar:
    """Ops-loaded schedules override the package; the package overrides the estimate."""

    loaded: dict[int, YearSchedule] = field(default_factory=dict)
    _cache: dict[int, YearSchedule] = field(default_factory=dict, repr=False)

    def schedule(self, year: int) -> YearSchedule:
        found = self._cache.get(year)
        if found is None:
            found = self.loaded.get(year) or package_schedule(year) or estimate_schedule(year)
            self._cache[year] = found
        return found

    def is_workday(self, day: date) -> bool:
        return self.schedule(day.year).is_workday(day)


@dataclass(frozen=True)
class WorkingTimeResult:
    at: datetime
    calendar_version: str  # "2026:chinesecalendar-1.11.0" or "2026:...;2027:estimate-weekdays-v1"
    fallback: bool  # some day on the way came from the estimate


def _version(schedules: Iterable[YearSchedule]) -> tuple[str, bool]:
    by_year = {s.year: s for s in schedules}
    text = ";".join(f"{y}:{by_year[y].version}" for y in sorted(by_year))
    return text, any(not s.official for s in by_year.values())


def add_working_time(start: datetime, amount: timedelta, calendar: WorkCalendar) -> WorkingTimeResult:
    """The instant at which `amount` of working time has passed since `start` (see the module doc)."""
    if amount < timedelta(0):
        raise ValueError("working time to add must not be negative")
    cursor = require_aware(start).astimezone(SHANGHAI)
    remaining = amount
    used = [calendar.schedule(cursor.year)]
    if amount == timedelta(0):
        version, fallback = _version(used)
        return WorkingTimeResult(cursor, version, fallback)
    for _ in range(MAX_SCAN_DAYS):
        day = cursor.date()
        next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI)
        schedule = calendar.schedule(day.year)
        if schedule not in used:
            used.append(schedule)
        if schedule.is_workday(day):
            available = next_midnight - cursor
            if remaining <= available:
                version, fallback = _version(used)
                return WorkingTimeResult(cursor + remaining, version, fallback)
            remaining -= available
        cursor = next_midnight
    raise CalendarError(f"no end within {MAX_SCAN_DAYS} days: the loaded schedules leave too few working days")


def working_time_between(start: datetime, end: datetime, calendar: WorkCalendar) -> timedelta:
    """Working time in [start, end): the inverse of `add_working_time` (used by tests and reports)."""
    cursor = require_aware(start).astimezone(SHANGHAI)
    end = require_aware(end).astimezone(SHANGHAI)
    total = timedelta(0)
    while cursor < end:
        next_midnight = datetime.combine(cursor.date() + timedelta(days=1), time(0), tzinfo=SHANGHAI)
        stop = min(end, next_midnight)
        if calendar.is_workday(cursor.date()):
            total += stop - cursor
        cursor = stop
    return total


def schedule_from_days(year: int, holidays: Iterable[date], workdays: Iterable[date], version: str) -> YearSchedule:
    """An official schedule as ops type it: ALL holiday dates (weekends inside a holiday period may be
    listed too, they change nothing) and the make-up working weekend days."""
    hol = frozenset(d for d in holidays if d.weekday() < 5)
    return YearSchedule(year=year, holidays=hol, workdays=frozenset(workdays), version=version, official=True)


def coverage(year: int, loaded: dict[int, YearSchedule]) -> str:
    """'loaded' (ops schedule), 'package' or 'estimate': where the year's working days come from."""
    if year in loaded:
        return "loaded"
    if package_schedule(year) is not None:
        return "package"
    return "estimate"


def next_year_check(today: date, loaded: dict[int, YearSchedule]) -> list[str]:
    """Warnings for the daily calendar check: the current year on an estimate (always), and from
    1 December the next year not covered by an official schedule."""
    warnings = []
    if coverage(today.year, loaded) == "estimate":
        warnings.append(f"no official working-day schedule for {today.year}: deadlines use the weekday estimate; "
                        f"load it with PUT /complaints/calendar/{today.year}")
    if today.month == 12 and coverage(today.year + 1, loaded) == "estimate":
        warnings.append(f"no official working-day schedule for {today.year + 1} yet "
                        f"({PACKAGE_VERSION} covers {PACKAGE_FIRST_YEAR}-{PACKAGE_LAST_YEAR}); "
                        f"load it with PUT /complaints/calendar/{today.year + 1}")
    return warnings

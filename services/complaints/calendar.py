"""Working-day schedules ops load per year (database), merged over the calendar package (domain.workdays)."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from db.complaints import CalendarSchedule, Complaint
from domain.complaints.complaint import HANDLING, Level
from domain.workdays import WorkCalendar, YearSchedule, schedule_from_days


def loaded_schedules(session: Session) -> dict[int, YearSchedule]:
    """The schedule in force for each year ops loaded: its highest revision."""
    latest = select(CalendarSchedule.year, func.max(CalendarSchedule.revision)).group_by(CalendarSchedule.year)
    out = {}
    for year, revision in session.exec(latest).all():
        row = session.exec(select(CalendarSchedule).where(CalendarSchedule.year == year,
                                                          CalendarSchedule.revision == revision)).one()
        out[year] = to_schedule(row)
    return out


def to_schedule(row: CalendarSchedule) -> YearSchedule:
    return schedule_from_days(row.year, [date.fromisoformat(d) for d in json.loads(row.holidays)],
                              [date.fromisoformat(d) for d in json.loads(row.workdays)], version_of(row.year, row.revision))


def version_of(year: int, revision: int) -> str:
    return f"ops-{year}-r{revision}"


def load_calendar(session: Session) -> WorkCalendar:
    return WorkCalendar(loaded=loaded_schedules(session))


def save_schedule(session: Session, year: int, holidays: list[date], workdays: list[date], loaded_by: str,
                  note: str) -> CalendarSchedule:
    """A new revision for the year (the old ones stay: every due time names the revision it used).
    Raises domain.workdays.CalendarError for a schedule that cannot be right."""
    schedule_from_days(year, holidays, workdays, "check")  # validates before anything is written
    current = session.exec(select(func.max(CalendarSchedule.revision)).where(CalendarSchedule.year == year)).one()
    row = CalendarSchedule(year=year, revision=(current or 0) + 1, loaded_by=loaded_by, note=note,
                           holidays=json.dumps(sorted(d.isoformat() for d in set(holidays))),
                           workdays=json.dumps(sorted(d.isoformat() for d in set(workdays))))
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def affected_open_tickets(session: Session, year: int) -> list[str]:
    """Open regulator tickets whose due time walked through `year`: their calendar version names it."""
    open_states = [s.value for s in HANDLING] + ["overdue"]
    rows = session.exec(select(Complaint.id).where(Complaint.level == Level.REGULATOR.value,
                                                   col(Complaint.state).in_(open_states),
                                                   col(Complaint.calendar_version).contains(f"{year}:"))).all()
    return list(rows)

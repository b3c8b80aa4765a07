"""Alerts to ops: one row per event worth a person's look, raised by any business and listed in one place.

Each alert has a key that names its event (an order stale for one reason since one time, a notice never
acknowledged, a missing working-day calendar on one day), so raising it again - a retried activity, the next
pass of a daily check - adds nothing.
"""

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select

from core.db import Aware, utcnow


class OpsAlert(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # names the event: one alert per event
    kind: str = Field(index=True)
    message: str
    at: datetime = Aware(nullable=False, default=utcnow)


def raise_once(session: Session, key: str, kind: str, message: str) -> bool:
    """Add the alert to the session unless one with this key exists; the caller commits. True if it is new."""
    if session.exec(select(OpsAlert.id).where(OpsAlert.key == key)).first() is not None:
        return False
    session.add(OpsAlert(key=key, kind=kind, message=message))
    return True

"""An agent account's suspensions and appeals (agent accounts 1-3 in docs/domain.md): categories, the appeal's
answer deadline and what is due when. Pure: the account workflow and the services both ask these functions."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel


class SuspensionCategory(StrEnum):
    """Why an account is suspended (agent accounts 1.1-1.4); every suspension records one."""

    VIOLATION = "violation"
    ARREARS = "arrears"
    MAINTENANCE = "maintenance"
    OTHER = "other"


class ViolationKind(StrEnum):
    """The violations the rules name (agent accounts 1.1); a violation suspension names one."""

    FAKE_PROMOTION = "fake_promotion"
    FAKE_ORDERS = "fake_orders"


class AppealOutcome(StrEnum):
    """An admin's answer to an appeal (agent accounts 2.6): always one of these, always with a written reply."""

    UPHELD = "upheld"  # the suspension stands
    REINSTATED = "reinstated"


class SuspensionRefused(ValueError):
    """The suspension's details do not fit its category."""


def check_suspension(category: SuspensionCategory, violation_kind: ViolationKind | None,
                     until: datetime | None, now: datetime) -> None:
    """A violation names its kind (agent accounts 1.1) and nothing else does; only a maintenance suspension
    may end by itself at a given time (agent accounts 2.4), and that time lies ahead."""
    if category == SuspensionCategory.VIOLATION and violation_kind is None:
        raise SuspensionRefused("a violation suspension names its kind (fake_promotion or fake_orders)")
    if category != SuspensionCategory.VIOLATION and violation_kind is not None:
        raise SuspensionRefused(f"only a violation names a violation kind, not {category.value}")
    if until is not None and category != SuspensionCategory.MAINTENANCE:
        raise SuspensionRefused("only a maintenance suspension ends by itself at a given time")
    if until is not None and until <= now:
        raise SuspensionRefused("the end of a maintenance suspension lies in the future")


class AppealClock(BaseModel):
    """When an open appeal's admin is reminded and when the appeal is escalated as late (agent accounts 4.1)."""

    filed_at: AwareDatetime
    remind_at: AwareDatetime
    due_at: AwareDatetime


def appeal_clock(filed_at: datetime, answer_within: timedelta, remind_before: timedelta) -> AppealClock:
    """The answer is due `answer_within` after filing; the reminder goes `remind_before` the due time (never
    before the filing itself)."""
    due = filed_at + answer_within
    return AppealClock(filed_at=filed_at, remind_at=max(filed_at, due - remind_before), due_at=due)

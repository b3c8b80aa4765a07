"""The monthly figures of number suspensions and agent accounts (agent accounts 4.7, suspension rules 1.11): pure
arithmetic over rows, with every rounding explicit."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal


def share_pct(part: int, whole: int) -> Decimal | None:
    """A share in percent, rounded half up to 0.1 (None when there is nothing to share)."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def median_hours(durations_s: Iterable[float]) -> Decimal | None:
    """The median of durations in hours, rounded half up to 0.1 (None without any)."""
    values = list(durations_s)
    if not values:
        return None
    return (Decimal(str(statistics.median(values))) / 3600).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CaseLine:
    agent_id: str
    carrier: str
    kind: str
    suspended_at: datetime
    window_ends_at: datetime
    restored_at: datetime | None


def case_report(cases: Iterable[CaseLine]) -> list[tuple]:
    """Per agent, carrier and kind: cases, restored, restored within the window (count and share), still not
    restored, median hours to restore."""
    groups: dict[tuple[str, str, str], list[CaseLine]] = {}
    for c in cases:
        groups.setdefault((c.agent_id, c.carrier, c.kind), []).append(c)
    rows = []
    for (agent, carrier, kind), items in sorted(groups.items()):
        restored = [c for c in items if c.restored_at is not None]
        in_time = [c for c in restored if c.restored_at <= c.window_ends_at]  # type: ignore[operator]
        rows.append((agent, carrier, kind, len(items), len(restored), len(in_time), share_pct(len(in_time), len(items)),
                     len(items) - len(restored),
                     median_hours((c.restored_at - c.suspended_at).total_seconds() for c in restored)))  # type: ignore[operator]
    return rows


CASE_COLUMNS = ("agent_id", "carrier", "kind", "cases", "restored", "restored_within_window",
                "restored_within_window_pct", "not_restored", "median_hours_to_restore")


@dataclass(frozen=True)
class AppealLine:
    agent_id: str
    outcome: str  # upheld / reinstated / withdrawn / open
    filed_at: datetime
    answered_at: datetime | None
    escalated: bool


def account_report(suspensions: Iterable[tuple[str, str]], appeals: Iterable[AppealLine]) -> list[tuple]:
    """Per agent: suspensions by category, appeals by outcome, escalated appeals, median hours to the answer."""
    cats = ("violation", "arrears", "maintenance", "other")
    outcomes = ("upheld", "reinstated", "withdrawn", "open")
    by_agent: dict[str, dict[str, object]] = {}
    for agent, category in suspensions:
        row = by_agent.setdefault(agent, {})
        row[category] = int(row.get(category, 0)) + 1  # type: ignore[call-overload]
    answer_times: dict[str, list[float]] = {}
    for a in appeals:
        row = by_agent.setdefault(a.agent_id, {})
        row[f"appeal_{a.outcome}"] = int(row.get(f"appeal_{a.outcome}", 0)) + 1  # type: ignore[call-overload]
        row["escalated"] = int(row.get("escalated", 0)) + int(a.escalated)  # type: ignore[call-overload]
        if a.answered_at is not None and a.outcome in ("upheld", "reinstated"):
            answer_times.setdefault(a.agent_id, []).append((a.answered_at - a.filed_at).total_seconds())
    out = []
    for agent in sorted(by_agent):
        row = by_agent[agent]
        out.append((agent, *(int(row.get(c, 0)) for c in cats),  # type: ignore[call-overload]
                    *(int(row.get(f"appeal_{o}", 0)) for o in outcomes),  # type: ignore[call-overload]
                    int(row.get("escalated", 0)), median_hours(answer_times.get(agent, []))))  # type: ignore[call-overload]
    return out


ACCOUNT_COLUMNS = ("agent_id", "suspended_violation", "suspended_arrears", "suspended_maintenance", "suspended_other",
                   "appeals_upheld", "appeals_reinstated", "appeals_withdrawn", "appeals_open", "appeals_escalated",
                   "median_hours_to_answer")

"""Number suspension cases (suspension rules 1.1-1.7 in docs/domain.md): kinds, the recovery window of each,
the steps the agent walks the customer through, and whether a case was restored in time. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel

from domain.orders.order import StatusCause, SuspensionMode


class RiskTrigger(StrEnum):
    """What set off a risk-control hold (suspension rules 1.4)."""

    LOCATION = "location"
    USAGE_PATTERN = "usage_pattern"
    IDENTITY = "identity"
    DEVICE = "device"


# Suspension rules 1.6: suspensions are restored the same day or within 24 h, risk-control holds the same day or
# within 48 h. "The same day" always ends before the 24 h do, so the window is the hours alone.
RECOVERY_WINDOW: dict[SuspensionMode, timedelta] = {
    SuspensionMode.ONE_WAY: timedelta(hours=24),
    SuspensionMode.TWO_WAY: timedelta(hours=24),
    SuspensionMode.CARRIER: timedelta(hours=24),
    SuspensionMode.RISK_CONTROL: timedelta(hours=48),
}
# A carrier that names no mode reported a suspension it did not classify: the 24 h of a suspension hold.
UNCLASSIFIED = SuspensionMode.CARRIER

# Suspension rules 1.5: the one way back for every kind, in the order the agent walks the customer through it.
RECOVERY_STEPS: tuple[str, ...] = (
    "open the carrier's app (China Mobile, Unicom, Telecom or Broadnet)",
    "find the online service and start a chat",
    "ask for a human agent and say the number must be restored",
    "pass the second real-name check with the identity card",
    "wait: restored the same day or within the recovery window",
)

# While a case is open the agent is reminded this often (the rules give no interval: docs/agents.md).
REMIND_EVERY = timedelta(hours=8)


class CaseState(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"  # open past its recovery window (suspension rules 1.7)
    RESTORED = "restored"
    CLOSED_BY_ORDER = "closed_by_order"  # the order ended (check point decided, failed, settled) first


def window_for(mode: SuspensionMode | None) -> timedelta:
    return RECOVERY_WINDOW[mode or UNCLASSIFIED]


def trigger_from_cause(cause: StatusCause | None) -> RiskTrigger | None:
    """The only trigger a carrier's status cause names by itself; the others the customer learns from the carrier."""
    return RiskTrigger.IDENTITY if cause == StatusCause.IDENTITY else None


class CaseFacts(BaseModel):
    """What a case knows and the agent sees (no phone number beyond its masked form)."""

    case_id: str
    order_id: str
    n: int
    agent_id: str
    carrier: str
    msisdn_masked: str
    kind: SuspensionMode
    trigger: RiskTrigger | None = None
    suspended_at: AwareDatetime
    window_ends_at: AwareDatetime
    state: CaseState = CaseState.OPEN
    restored_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    reminders: int = 0
    close_note: str = ""

    @property
    def is_open(self) -> bool:
        return self.state in (CaseState.OPEN, CaseState.OVERDUE)

    @property
    def restored_in_window(self) -> bool | None:
        if self.restored_at is None:
            return None
        return self.restored_at <= self.window_ends_at


def open_case(case_id: str, order_id: str, n: int, agent_id: str, carrier: str, msisdn_masked: str,
              mode: SuspensionMode | None, cause: StatusCause | None, suspended_at: datetime) -> CaseFacts:
    kind = mode or UNCLASSIFIED
    return CaseFacts(case_id=case_id, order_id=order_id, n=n, agent_id=agent_id, carrier=carrier,
                     msisdn_masked=msisdn_masked, kind=kind,
                     trigger=trigger_from_cause(cause) if kind == SuspensionMode.RISK_CONTROL else None,
                     suspended_at=suspended_at, window_ends_at=suspended_at + window_for(kind))

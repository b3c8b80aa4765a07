"""The agents business's contract (agent accounts, maintenance windows, number suspension cases): where the
API, the workflows and the activities agree.

Task queue, workflow types and ids, handler and activity names, and the payloads that cross the workflow
boundary. Ids carry agent, order, case and window ids only, never a phone number; payloads carry the masked
number at most. Names here are recorded in histories: renaming one breaks every open account and case.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel

from domain.agents.account import AppealOutcome, SuspensionCategory, ViolationKind
from domain.agents.suspension_case import CaseFacts, RiskTrigger
from domain.orders.order import StatusCause, SuspensionMode

TASK_QUEUE = "agents"

ACCOUNT_WORKFLOW = "AgentAccount"
MAINTENANCE_WORKFLOW = "MaintenanceWindow"
SUSPENSION_CASE_WORKFLOW = "SuspensionCase"


def account_workflow_id(agent_id: str) -> str:
    return f"agent-{agent_id}"


def maintenance_workflow_id(window_id: int) -> str:
    return f"maintenance-{window_id}"


def suspension_case_id(order_id: str, n: int) -> str:
    """The n-th suspension (1-based, in the order the order workflow learned of them) of an order's number."""
    return f"{order_id}-{n}"


def suspension_case_workflow_id(order_id: str, n: int) -> str:
    return f"suspension-{suspension_case_id(order_id, n)}"


# ---- the agent account ------------------------------------------------------------------------


class AccountEvent(BaseModel):
    """One recorded step of the account (a row of its timeline), as the account workflow hears of it. The
    workflow keeps the clocks these steps start: the appeal's reminder and escalation, a maintenance end."""

    change_id: int
    agent_id: str
    action: str  # suspend / appeal / appeal_answered / reinstate
    at: AwareDatetime
    actor: str
    category: SuspensionCategory | None = None
    violation_kind: ViolationKind | None = None
    suspended_until: AwareDatetime | None = None
    appeal_id: int | None = None
    appeal_remind_at: AwareDatetime | None = None
    appeal_due_at: AwareDatetime | None = None
    outcome: AppealOutcome | None = None
    text: str = ""  # what the agent is told


class AccountStart(BaseModel):
    agent_id: str
    continued: bool = False
    status: str = "active"
    seen_change_ids: list[int] = []
    appeal_id: int | None = None
    appeal_remind_at: AwareDatetime | None = None
    appeal_due_at: AwareDatetime | None = None
    appeal_reminded: bool = False
    appeal_escalated: bool = False
    suspended_until: AwareDatetime | None = None
    suspension_change_id: int | None = None


class AccountView(BaseModel):
    agent_id: str
    status: str
    appeal_id: int | None
    appeal_due_at: AwareDatetime | None
    appeal_reminded: bool
    appeal_escalated: bool
    suspended_until: AwareDatetime | None
    events_seen: int


class AccountStep(BaseModel):
    """A step the workflow's clock took: recorded on the timeline once per key."""

    key: str
    agent_id: str
    action: str  # appeal_reminder / appeal_escalated / maintenance_over
    appeal_id: int | None = None
    suspension_change_id: int | None = None
    reason: str


class Notice(BaseModel):
    key: str  # also the notice's unique key: a retry writes one notice
    agent_id: str  # empty: every agent
    kind: str
    text: str


# ---- maintenance windows ----------------------------------------------------------------------


class MaintenanceStart(BaseModel):
    window_id: int
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    message: str


class MaintenanceChange(BaseModel):
    """An admin moved or cancelled the window."""

    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    cancelled: bool = False
    actor: str = ""


class MaintenanceState(BaseModel):
    window_id: int
    state: str


# ---- number suspension cases ------------------------------------------------------------------


class CaseStart(BaseModel):
    order_id: str
    n: int
    agent_id: str
    carrier: str
    msisdn_masked: str
    mode: SuspensionMode | None = None
    cause: StatusCause | None = None
    suspended_at: AwareDatetime  # the carrier's timestamp of the suspension


class CaseRestored(BaseModel):
    event_id: str
    restored_at: AwareDatetime  # the carrier's timestamp


class CaseOrderDecided(BaseModel):
    order_status: str
    note: str = ""


class CaseNews(BaseModel):
    """What an order tells its open cases: the number restored, or the order ended."""

    workflow_ids: list[str]
    restored: CaseRestored | None = None
    decided: CaseOrderDecided | None = None


class CaseTrigger(BaseModel):
    """The risk-control trigger, once the customer learned it from the carrier."""

    trigger: RiskTrigger
    actor: str


class CaseRecord(BaseModel):
    case: CaseFacts
    event: str  # opened / reminded / overdue / restored / closed / trigger


# Account workflow handlers
ACCOUNT_EVENT = "account_event"
ACCOUNT_VIEW = "view"
# Maintenance workflow handlers
MAINTENANCE_CHANGE = "change"
# Suspension case handlers
CASE_RESTORED = "restored"
CASE_ORDER_DECIDED = "order_decided"
CASE_TRIGGER = "trigger"
CASE_VIEW = "view"

# Activities
RECORD_ACCOUNT_STEP = "record_account_step"
LIFT_MAINTENANCE_SUSPENSION = "lift_maintenance_suspension"
NOTIFY_AGENT = "notify_agent"
RECORD_MAINTENANCE_STATE = "record_maintenance_state"
RECORD_SUSPENSION_CASE = "record_suspension_case"

# No search attributes: the namespace's Keyword slots are taken (docs/architecture.md); ops filter accounts,
# windows and cases in the database the workflows project to.
SEARCH_ATTRIBUTES: tuple = ()

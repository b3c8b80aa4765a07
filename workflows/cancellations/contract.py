"""The cancellations business's contract: where the API, the workflow and the activities agree.

Task queue, workflow type and id, handler and activity names, search attributes, payloads. No full phone
number anywhere here: the workflow knows the cancellation id and the masked number; the activities read the
full number from the cancellation's row when they speak to the carrier or the SMS gateway. Names here are
recorded in histories: renaming one breaks every open cancellation.
"""

from pydantic import AwareDatetime, BaseModel, Field
from temporalio.common import SearchAttributeKey

from domain.cancellations import (
    AccountFacts,
    Case,
    ClearAction,
    ClearVia,
    FollowUpOutcome,
    Obstacle,
    ProgressEntry,
)


class CancellationStart(BaseModel):
    case: Case


class CancellationRecord(BaseModel):
    """What the cancellation's row should now say, and the progress entries to append (keyed by seq)."""

    case: Case
    progress: list[ProgressEntry] = []


class PrecheckRequest(BaseModel):
    cancellation_id: str
    carrier: str
    round: int  # 1 for the first pre-check, 2... for re-checks


class PrecheckAnswer(BaseModel):
    facts: AccountFacts
    asked_at: AwareDatetime


class ClearAtCarrier(BaseModel):
    cancellation_id: str
    carrier: str
    item_id: str
    action: ClearAction


class CancelAtCarrier(BaseModel):
    cancellation_id: str
    carrier: str


class CarrierOutcome(BaseModel):
    done: bool
    reference: str = ""
    reason: str = ""  # the carrier's refusal, in its words


class ReminderSms(BaseModel):
    message_id: str  # also the gateway's idempotency key
    cancellation_id: str
    text: str


class FollowUpTask(BaseModel):
    cancellation_id: str
    due_at: AwareDatetime


class Quarantine(BaseModel):
    cancellation_id: str
    since: AwareDatetime


# ---- updates (each refused with a typed ApplicationError when the domain says no) --------------


class Actor(BaseModel):
    actor: str = Field(min_length=1, max_length=128)  # the clerk's id, or "self_service:<client>"


class ClearRequest(Actor):
    item_id: str = Field(min_length=1, max_length=200)
    via: ClearVia
    evidence: str = Field(default="", max_length=2000)


class DocumentsRequest(Actor):
    note: str = Field(default="", max_length=2000)


class AppointmentRequest(Actor):
    at: AwareDatetime
    hall: str = Field(min_length=1, max_length=200)


class WithdrawRequest(Actor):
    reason: str = Field(default="", max_length=2000)


class FollowUpRequest(Actor):
    outcome: FollowUpOutcome
    note: str = Field(default="", max_length=2000)


class CancellationView(BaseModel):
    """The query answer: the case, its to-do list and what its clock waits for next."""

    case: Case
    todo: list[Obstacle]
    next_wake: AwareDatetime | None
    waiting_for: list[str]


TASK_QUEUE = "cancellations"
CANCELLATION_WORKFLOW = "Cancellation"


def cancellation_workflow_id(cancellation_id: str) -> str:
    return f"cancellation-{cancellation_id}"


# Workflow handlers: the view query, and the updates (one per action of the API)
VIEW = "view"


class Update:
    CLEAR_ITEM = "clear_item"
    REVIEW_DOCUMENTS = "review_documents"
    BOOK_APPOINTMENT = "book_appointment"
    CONFIRM = "confirm"
    WITHDRAW = "withdraw"
    RECORD_FOLLOW_UP = "record_follow_up"


# Activities
RECORD_CANCELLATION = "record_cancellation"
PRECHECK_AT_CARRIER = "precheck_at_carrier"
CLEAR_AT_CARRIER = "clear_at_carrier"
CANCEL_AT_CARRIER = "cancel_at_carrier"
SEND_REMINDER_SMS = "send_cancellation_reminder"
OPEN_FOLLOW_UP_TASK = "open_follow_up_task"
QUARANTINE_NUMBER = "quarantine_number"

# Search attributes (never personal data: they bypass the payload codec). A one-element KeywordList, because
# SQL visibility indexes at most 10 Keyword attributes per namespace and the project uses them all;
# `CancellationState = "cooling_off"` filters it exactly like a Keyword. The carrier is the orders' `Carrier`.
CANCELLATION_STATE = SearchAttributeKey.for_keyword_list("CancellationState")
SEARCH_ATTRIBUTES = (CANCELLATION_STATE,)

"""The orders business's contract: where the API, the workflows and the activities agree.

Task queue, workflow types and ids, handler and activity names, search attributes, and the payloads that
cross the workflow boundary (inputs, signals, queries, activity arguments). Names here are recorded in
histories: renaming one breaks every running order.
"""

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field
from temporalio.common import SearchAttributeKey

from domain.money import yuan
from domain.orders.carriers import carrier_name
from domain.orders.delivery import DeliveryTerms, StaleReason
from domain.orders.order import AuditResult, OrderEvent, OrderFacts, ProductTerms, Verdict


class RescueState(BaseModel):
    """The delivery rescue of the open exception, as the workflow keeps it (carried across continue-as-new)."""

    exception_event_id: str
    kind: str
    opened_at: AwareDatetime
    give_up_at: AwareDatetime
    reminders: int = 0
    next_reminder_at: AwareDatetime
    closed: str = ""  # the agent's resolution, once closed through the API
    tasks: list[str] = []  # the exception event ids with a task in this rescue (a new exception: a new task)


class FollowUpState(BaseModel):
    """The delivery follow-up already done: the SMS sent and reminders given, so a new run repeats none."""

    tracking_sms_sent: bool = False
    arrival_reminded: list[str] = []  # ISO dates of the expected arrivals already reminded
    stale_reason: StaleReason | None = None
    stale_since: AwareDatetime | None = None
    rescues_done: list[str] = []  # exception event ids whose rescue ended


class OrderCarry(BaseModel):
    """Everything a run knows that its next run must know (continue-as-new): the facts with every seen event id,
    the open rescue, the follow-up done, the published state and the suspension cases."""

    facts: OrderFacts
    rescue: RescueState | None = None
    follow_up: FollowUpState = FollowUpState()
    published: tuple[str, str, str | None] | None = None  # (status, waiting for, failure reason) the row last said
    cases: list[str] = []
    cases_closed: list[str] = []
    runs: int = 1


class OrderInput(BaseModel):
    order_id: str
    agent_id: str
    carrier: str
    terms: ProductTerms
    msisdn_masked: str
    msisdn_fingerprint: str
    placed_at: AwareDatetime
    # The delivery clocks (stale windows, rescue give-up), from the settings at order time; orders started
    # before them get the defaults when their workflow reads them.
    delivery: DeliveryTerms = DeliveryTerms()
    # What a run that continued as new hands on (None on the first run): docs/delivery.md, "Continue-as-new".
    carried: OrderCarry | None = None
    history_limit: int = Field(default=1000, ge=40, le=40_000)  # continue as new past this many history events


class OrderEvents(BaseModel):
    """One push's events for one order, in the order the push carried them: one signal per order per push
    instead of one per event (each event keeps its identity; the workflow folds and dedupes them one by one)."""

    events: list[OrderEvent]


class OrderProgress(BaseModel):
    """What the order projection in the database should now say; a settled order also brings its commission."""

    order_id: str
    verdict: Verdict
    agent_id: str = ""
    carrier: str = ""
    commission_fen: int | None = None
    parent_override_bp: int = 0
    tracking_no: str | None = None  # the courier's, for the tracking table (None from runs before it)
    carrier_accepted_at: AwareDatetime | None = None


class OrderView(BaseModel):
    """The query answer: the five-condition checklist, what it waits for and until when."""

    order_id: str
    verdict: Verdict
    facts: OrderFacts
    events_seen: int
    rescue: RescueState | None = None  # the open delivery rescue (orders since the delivery follow-up)
    follow_up: FollowUpState | None = None


class SubmitRequest(BaseModel):
    """Submit the order to its carrier (docs/fulfilment.md); the activity reads the customer from the database."""

    order_id: str
    carrier: str


class OrderRefundRequest(BaseModel):
    """The order ended before the customer had the card: its payment, if any, goes back (refund engine)."""

    order_id: str
    status: str
    failure_reason: str | None = None


class InNetworkRequest(BaseModel):
    carrier: str
    order_id: str
    at: datetime


class RescueRequest(BaseModel):
    order_id: str
    agent_id: str
    exception_event_id: str
    kind: str
    msisdn_masked: str = ""  # the fields below come from runs since the delivery rescue (none before)
    give_up_at: AwareDatetime | None = None


class RescueReminder(BaseModel):
    order_id: str
    agent_id: str
    exception_event_id: str
    n: int  # the n-th reminder of this task: the notice's key
    text: str


class RescueClosed(BaseModel):
    """The agent closed a rescue task through the API (signal `rescue_closed`)."""

    exception_event_id: str
    resolution: str  # domain.orders.delivery.RescueResolution
    by: str


class DeliverySmsRequest(BaseModel):
    message_id: str  # also the gateway's idempotency key: a retry texts once
    order_id: str
    kind: str  # tracking / arrival
    text: str


class StaleFlag(BaseModel):
    order_id: str
    agent_id: str
    msisdn_masked: str
    reason: StaleReason | None  # None: the order has news again
    since: AwareDatetime | None = None


class SettlementInput(BaseModel):
    carrier: str
    month: str  # yyyymm: the month whose end is the check point of the orders in this batch
    page_token: str | None = None
    pages_applied: int = 0
    settled: int = 0
    failed: int = 0


class AuditPageRequest(BaseModel):
    carrier: str
    month: str
    page_token: str | None = None


class AuditPageOutcome(BaseModel):
    """What one page of the carrier's audit did; the rows themselves never enter the batch history."""

    ready: bool
    next_page_token: str | None = None
    settled: int = 0
    failed: int = 0


class BatchRef(BaseModel):
    carrier: str
    month: str

    @property
    def batch_id(self) -> str:
        return settlement_workflow_id(self.carrier, self.month)


class BatchSummary(BaseModel):
    batch_id: str
    pages: int
    settled: int
    failed: int
    unaudited: int
    statements: int
    paid_fen: int
    held_fen: int
    exceptions: int = 0  # payouts the bank refused or never answered: finance's (workflows/finance)
    exceptions_fen: int = 0


__all__ = ["AuditResult"]


TASK_QUEUE = "orders"

ORDER_WORKFLOW = "OrderSettlement"
SETTLEMENT_WORKFLOW = "CarrierSettlement"
KICKOFF_WORKFLOW = "SettlementKickoff"


def order_workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


def settlement_workflow_id(carrier: str, month: str) -> str:
    """One batch per carrier and month: the id is also the batch's row id."""
    return f"settlement-{carrier}-{month}"


def kickoff_workflow_id(carrier: str) -> str:
    return f"settlement-kickoff-{carrier}"


def settlement_schedule_id(carrier: str) -> str:
    return f"settlement-schedule-{carrier}"


# Order workflow handlers
CARRIER_EVENT = "carrier_event"  # one event a signal: what the API sent before CARRIER_EVENTS; kept for those histories
CARRIER_EVENTS = "carrier_events"  # an OrderEvents: the order's events of one push
AUDIT_RESULT = "audit_result"
CHECKLIST = "checklist"
RESCUE_CLOSED = "rescue_closed"
# Settlement batch handler
PROGRESS = "progress"

# Activities
RECORD_ORDER_PROGRESS = "record_order_progress"
ASK_IN_NETWORK = "ask_in_network"
OPEN_RESCUE_TASK = "open_rescue_task"
REMIND_RESCUE = "remind_rescue"
RESOLVE_RESCUE = "resolve_rescue"
SUBMIT_ORDER = "submit_order"
REFUND_ORDER = "refund_order"
# Number suspension cases live in the agents business (its contract has the payloads); the order opens and tells them
OPEN_SUSPENSION_CASE = "open_suspension_case"
TELL_SUSPENSION_CASES = "tell_suspension_cases"
# Delivery follow-up (settlement rules 1.8, 1.9; patch `delivery-follow-up` of the order workflow)
SEND_DELIVERY_SMS = "send_delivery_sms"
NOTIFY_AGENT_OF_ORDER = "notify_agent_of_order"
REMIND_RESCUE_TASK = "remind_rescue_task"
RECORD_STALENESS = "record_staleness"

OPEN_BATCH = "open_batch"
SETTLE_AUDIT_PAGE = "settle_audit_page"
FAIL_UNAUDITED_ORDERS = "fail_unaudited_orders"
WAIT_FOR_AUDITED_ORDERS = "wait_for_audited_orders"
BUILD_STATEMENTS = "build_statements"
PAY_AGENTS = "pay_agents"
CLOSE_BATCH = "close_batch"

# Search attributes ops filter on (never personal data: they bypass the payload codec)
ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CARRIER = SearchAttributeKey.for_keyword("Carrier")
AGENT_ID = SearchAttributeKey.for_keyword("AgentId")
SETTLEMENT_MONTH = SearchAttributeKey.for_keyword("SettlementMonth")
FAILURE_REASON = SearchAttributeKey.for_keyword("FailureReason")
# True while the order has had no news within a delivery window (a Bool: the Keyword slots are full)
ORDER_STALE = SearchAttributeKey.for_bool("OrderStale")
SEARCH_ATTRIBUTES = (ORDER_STATUS, CARRIER, AGENT_ID, SETTLEMENT_MONTH, FAILURE_REASON, ORDER_STALE)
FILTERED = (ORDER_STATUS, SETTLEMENT_MONTH, FAILURE_REASON)  # what the order workflow itself keeps up to date


# The repair pass (services/orders/repair.py): a Schedule runs it; its result counts what it healed
REPAIR_WORKFLOW = "OrderRepair"
REPAIR_WORKFLOW_ID = "order-repair"
REPAIR_SCHEDULE_ID = "order-repair-schedule"
REPAIR_ORDERS = "repair_orders"


# ---- static summaries: each workflow's one-liner in the Temporal Web UI, set when it starts. Plain text that
# anyone with Web UI access reads (and not covered by payload encoding): masked numbers only, never a name.


def order_summary(inp: OrderInput) -> str:
    return (f"Order {inp.order_id}: {carrier_name(inp.carrier)} {inp.terms.product_id} card {inp.msisdn_masked} "
            f"by agent {inp.agent_id}, commission {yuan(inp.terms.commission_fen)} if all five conditions hold")


def settlement_summary(carrier: str, month: str) -> str:
    return f"Settlement of {carrier_name(carrier)} for {month[:4]}-{month[4:]}: audit, statements, payouts"


def kickoff_summary(carrier: str) -> str:
    return f"Monthly kick-off: opens last month's settlement batch of {carrier_name(carrier)}"

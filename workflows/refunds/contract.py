"""The refunds business's contract: where the API, the workflows and the activities agree.

Task queue, workflow types and ids, handler and activity names, search attributes, and the payloads that
cross the refund workflow's boundary. No personal data: the card is masked. Names here are recorded in
histories: renaming one breaks every running refund.
"""

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributeKey

from domain.money import yuan
from domain.refunds import ChannelAnswer, ErrorMapping, LoopLimits, RefundRoute, RefundStatus


class RefundCarry(BaseModel):
    """The loop's state, carried across continue-as-new."""

    status: RefundStatus
    phase: str
    route: RefundRoute = RefundRoute.CHANNEL
    serial: str | None = None
    serials_used: int = 0
    same_resends: int = 0
    sends_of_serial: int = 0
    delay_s: int = 0
    manual_reason: str = ""
    failure_code: str | None = None
    failure_message: str = ""
    after_wait: str = "new_serial"
    retry_serials: int = 0
    query_i: int = 0
    waiting_for: str = ""
    serial_outcomes: dict[str, str] = {}  # every serial of this refund and its last outcome (the Web UI's details)


class RefundInput(BaseModel):
    refund_id: str
    payment_id: str
    merchant_id: str
    channel: str
    amount_fen: int
    requested_by: str
    source: str
    audit_reasons: list[str] = []
    pre_debit: bool = False
    has_refund_api: bool = True
    consumer_card_masked: str = ""
    consumer_wallet_id: str | None = None
    notify: bool = True  # the merchant gave a callback URL
    limits: LoopLimits = LoopLimits()
    send_timeout_s: int = 20  # > the gateway's own timeout: a worker crash mid-send surfaces as a timeout
    reversal_watch_s: int = 24 * 3600  # after success, one more query-back this much later
    rounds_per_run: int = 100  # loop steps before continuing as new (the history stays small)
    carry: RefundCarry | None = None


class OpsAction(BaseModel):
    actor: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=3, max_length=500)
    statement_ref: str | None = Field(default=None, max_length=128)
    # force fail: every serial of the refund and its sends as the API's evidence check saw them; the workflow
    # refuses when its serial has been sent again since (the check is then stale)
    checked_sends: dict[str, int] | None = None


class RefundProgress(BaseModel):
    """What the refund row and its history should now say."""

    refund_id: str
    status: RefundStatus
    event: str  # what happened, e.g. "sent", "auto_approved", "force_success"
    event_key: str  # idempotency of the history line across activity retries
    waiting_for: str = ""
    route: RefundRoute = RefundRoute.CHANNEL
    serial: str | None = None
    serials_used: int = 0
    failure_code: str | None = None
    failure_message: str = ""
    actor: str = "system"
    reason: str = ""
    statement_ref: str | None = None
    detail: str = ""
    parked: bool = False  # processing at the channel: the sweep takes over the query-backs
    serial_record: "SerialRecord | None" = None  # a serial's outcome written in the same transaction
    notes: list[str] = []  # history lines that precede this one (e.g. "auto_approved"), same transaction


class SerialRecord(BaseModel):
    refund_id: str
    serial: str
    seq: int
    route: RefundRoute
    sends: int
    outcome: str
    answer: ChannelAnswer | None = None


RefundProgress.model_rebuild()


class SendRequest(BaseModel):
    route: RefundRoute
    channel: str
    serial: str
    refund_id: str
    payment_id: str
    amount_fen: int
    card: str = ""
    wallet_id: str | None = None


class QueryRequest(BaseModel):
    route: RefundRoute
    channel: str
    serial: str


class Translation(BaseModel):
    mapping: ErrorMapping
    known: bool


class NotifyRequest(BaseModel):
    refund_id: str
    status: RefundStatus
    event_key: str


class SweepAnswer(BaseModel):
    """The sweep's word about a refund parked at the channel."""

    serial: str
    answer: ChannelAnswer | None = None
    exhausted: bool = False  # the channel's backoff ran out: the refund goes to the manual queue


class SweepOutcome(BaseModel):
    checked: int = 0
    signalled: int = 0
    exhausted: int = 0
    unavailable: int = 0


class RefundView(BaseModel):
    refund_id: str
    status: RefundStatus
    phase: str
    route: RefundRoute
    serial: str | None
    serials_used: int
    waiting_for: str
    manual_reason: str


TASK_QUEUE = "refunds"

REFUND_WORKFLOW = "Refund"
SWEEP_WORKFLOW = "RefundSweep"
SWEEP_WORKFLOW_ID = "refund-sweep"
SWEEP_SCHEDULE_ID = "refund-sweep-schedule"


def refund_workflow_id(refund_id: str) -> str:
    return f"refund-{refund_id}"


# Refund workflow handlers: ops actions are updates named as the API's paths
OPS_ACTIONS = ("approve", "reject", "force_success", "force_fail", "mark_succeeded_offline", "retry_new_serial")
SWEEP_ANSWER = "sweep_answer"
VIEW = "view"

# Activities
RECORD_REFUND_PROGRESS = "record_refund_progress"
RECORD_SERIAL = "record_refund_serial"
SEND_REFUND = "send_refund"
QUERY_REFUND = "query_refund"
TRANSLATE_CODE = "translate_channel_code"
NOTIFY_MERCHANT = "notify_merchant"
SWEEP_PROCESSING = "sweep_processing_refunds"

# Search attributes ops filter on (never personal data: they bypass the payload codec)
REFUND_STATUS = SearchAttributeKey.for_keyword("RefundStatus")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
MERCHANT_ID = SearchAttributeKey.for_keyword("MerchantId")
SEARCH_ATTRIBUTES = (REFUND_STATUS, CHANNEL, MERCHANT_ID)

# The repair pass (services/refunds.py repair_refunds): a Schedule runs it; its result counts what it healed
REPAIR_WORKFLOW = "RefundRepair"
REPAIR_WORKFLOW_ID = "refund-repair"
REPAIR_SCHEDULE_ID = "refund-repair-schedule"
REPAIR_REFUNDS = "repair_refunds"


# ---- static summaries: each workflow's one-liner in the Temporal Web UI, set when it starts. Plain text that
# anyone with Web UI access reads (and not covered by payload encoding): ids and masked numbers only.


def refund_summary(inp: RefundInput) -> str:
    audit = "audited by a person" if inp.audit_reasons else "audited automatically"
    return (f"Refund {inp.refund_id}: {yuan(inp.amount_fen)} yuan of payment {inp.payment_id} back through "
            f"{inp.channel} for merchant {inp.merchant_id}, {audit}")


SWEEP_SUMMARY = "Refund sweep: asks the channels again about refunds still processing there, on their backoff"

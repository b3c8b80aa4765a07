"""The complaints business's contract (complaint desk and fee returns): where the API, the workflows and
the activities agree.

Task queue, workflow types and ids, handler and activity names, search attributes, and the payloads of the
complaint and fee-return workflows (input, updates, activity arguments). No full phone numbers. Names here
are recorded in histories: renaming one breaks every open ticket.
"""

from pydantic import AwareDatetime, BaseModel, Field
from temporalio.common import SearchAttributeKey

from domain.clock import shanghai_text
from domain.complaints.complaint import Case, ComplaintType, Customer, Department, DueDecision, Level, SurveyAnswer
from domain.money import yuan


class ComplaintStart(BaseModel):
    case: Case
    continued: bool = False  # carried over by continue-as-new


class CaseEvent(BaseModel):
    key: str  # "<complaint>:<seq>": a retried recording activity writes each event once
    at: AwareDatetime
    kind: str
    department: Department | None = None
    actor: str = ""
    detail: str = ""


class ComplaintRecord(BaseModel):
    """What the complaint projection should now say, and the events to append."""

    case: Case
    events: list[CaseEvent] = []


class DueRequest(BaseModel):
    complaint_id: str
    level: Level
    repeat: bool
    start: AwareDatetime


class SmsRequest(BaseModel):
    message_id: str  # also the gateway's idempotency key
    complaint_id: str
    kind: str  # handled / survey
    text: str


class NoticeRequest(BaseModel):
    key: str
    complaint_id: str
    kind: str  # handler_warning / supervision / crisis_report
    to_department: Department
    cc_department: Department | None = None
    text: str


# ---- updates (each refused with a typed ApplicationError when the domain says no) ----------------


class DepartmentAction(BaseModel):
    department: Department
    actor: str = Field(min_length=1, max_length=64)


class TransferRequest(DepartmentAction):
    to: Department
    note: str = Field(default="", max_length=2000)


class FindingsRequest(DepartmentAction):
    text: str = Field(max_length=5000)


class ReplyRequest(DepartmentAction):
    findings: str = Field(default="", max_length=5000)  # may be empty if findings were added before
    handling: str = Field(max_length=5000)
    reply_to_customer: str = Field(max_length=5000)


class AcceptanceRequest(BaseModel):
    accepted: bool
    actor: str = Field(min_length=1, max_length=64)
    note: str = Field(default="", max_length=2000)


class EscalateRequest(BaseModel):
    actor: str = Field(min_length=1, max_length=64)
    reason: str = Field(max_length=2000)


class LevelCorrection(BaseModel):
    """A fact found late: the customer is VIP/premium, or the complaint repeats an earlier one."""

    actor: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=2000)
    customer: Customer | None = None
    repeat_of: str | None = None
    ctype: ComplaintType | None = None


class SurveyReply(BaseModel):
    message_id: str
    answer: SurveyAnswer
    received_at: AwareDatetime


class RecomputeDue(BaseModel):
    reason: str


class ComplaintView(BaseModel):
    """The query answer: the ticket, its public state and what its clock waits for next."""

    case: Case
    state: str
    next_wake: AwareDatetime | None
    waiting_for: list[str]


__all__ = ["DueDecision"]


class FeeReturnCredit(BaseModel):
    """An approved (and, above 100 yuan, audited) fee return to credit: ids and amount only."""

    fee_return_id: str
    complaint_id: str
    amount_fen: int


class NoticeDelivery(BaseModel):
    """One department notice to deliver until its addressee acknowledges it (the daily rule)."""

    notice_id: int
    complaint_id: str
    kind: str
    repeat_every_s: int = 24 * 3600
    max_deliveries: int = 30


class DeliverNotice(BaseModel):
    notice_id: int
    delivery: int  # 1 = first delivery (addressee, copy, receiving department); then repeats to the addressee
    final: bool = False  # the last one the rule allows: ops are alerted if it stays unacknowledged


class NoticeDelivered(BaseModel):
    acknowledged: bool = False
    summary: str = ""


class CreditResolved(BaseModel):
    """An operator's decision on a credit the billing system refused; the workflow records it, then acts."""

    fee_return_id: str = ""
    resolution: str  # domain.complaints.fee_return.CreditResolution: retry / cancel
    actor: str
    reason: str = ""


class CreditFailure(BaseModel):
    fee_return_id: str
    reason: str


TASK_QUEUE = "complaints"

COMPLAINT_WORKFLOW = "Complaint"
FEE_RETURN_WORKFLOW = "FeeReturnCredit"
CALENDAR_CHECK_WORKFLOW = "WorkingDayCalendarCheck"
CALENDAR_CHECK_WORKFLOW_ID = "working-day-calendar-check"
CALENDAR_CHECK_SCHEDULE_ID = "working-day-calendar-check"
NOTICE_WORKFLOW = "ComplaintNoticeDelivery"


def complaint_workflow_id(complaint_id: str) -> str:
    return f"complaint-{complaint_id}"


def fee_return_workflow_id(fee_return_id: str) -> str:
    return f"fee-return-{fee_return_id}"


def notice_workflow_id(notice_id: int) -> str:
    return f"complaint-notice-{notice_id}"


# Complaint workflow handlers (department and ops actions are updates named as the API's paths)
RECOMPUTE_DUE = "recompute_due"
VIEW = "view"
# Fee-return workflow handlers
PROGRESS = "progress"
RESOLVE_CREDIT = "resolve_credit"  # signal: retry or cancel a refused credit
# Notice workflow handler
ACKNOWLEDGED = "acknowledged"  # signal: the addressee acknowledged (the row says who and when)

# Activities
RECORD_COMPLAINT = "record_complaint"
COMPUTE_DUE = "compute_complaint_due"
SEND_CUSTOMER_SMS = "send_customer_sms"
NOTIFY_DEPARTMENT = "notify_department"
CHECK_CALENDAR = "check_working_day_calendar"

CREDIT_FEE_RETURN = "credit_fee_return"
SMS_FEE_RETURN_CREDITED = "sms_fee_return_credited"
RECORD_CREDIT_FAILURE = "record_fee_return_credit_failure"
RECORD_CREDIT_RESOLUTION = "record_fee_return_credit_resolution"
DELIVER_NOTICE = "deliver_complaint_notice"

# Search attributes ops filter on (never personal data: they bypass the payload codec)
COMPLAINT_LEVEL = SearchAttributeKey.for_keyword("ComplaintLevel")
# A list holding the one handling department: SQL visibility (and the dev server) allow 10 Keyword attributes and
# the project has 11; `Department = "billing"` filters a one-element KeywordList exactly like a Keyword.
DEPARTMENT = SearchAttributeKey.for_keyword_list("Department")
DUE_AT = SearchAttributeKey.for_datetime("DueAt")  # a real datetime: `DueAt < "..."`
COMPLAINT_STATE = SearchAttributeKey.for_keyword("ComplaintState")
SEARCH_ATTRIBUTES = (COMPLAINT_LEVEL, DEPARTMENT, DUE_AT, COMPLAINT_STATE)


# ---- static summaries: each workflow's one-liner in the Temporal Web UI, set when it starts. Plain text that
# anyone with Web UI access reads (and not covered by payload encoding): masked numbers only, never a name.


def complaint_summary(case: Case) -> str:
    f = case.facts
    return (f"Complaint {f.complaint_id}: level {case.level.value} {f.ctype.value} about {f.msisdn_masked}, "
            f"received by {f.receiving_department.value}, first due {shanghai_text(case.due.due_at)}")


def fee_return_summary(credit: FeeReturnCredit) -> str:
    return (f"Fee return {credit.fee_return_id}: credit {yuan(credit.amount_fen)} yuan for complaint "
            f"{credit.complaint_id}, then tell the customer by SMS")


CALENDAR_CHECK_SUMMARY = "Daily check: is next year's working-day schedule loaded (complaint due times depend on it)"

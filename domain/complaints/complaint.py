"""The complaint desk's rules (the complaint procedure in docs/domain.md). Pure: no I/O, no Temporal.

- `classify`: level 1-4 or regulator from source, customer and type, with the reasons ops read.
- `is_repeat`: same number (fingerprint), same type, within 30 days.
- `due_time`: clock hours for levels 1-4 (through nights and holidays), working time for regulator
  complaints (domain.workdays), halved for repeats.
- `customer_sms_time`: care messages never reach a customer between 22:00 and 07:00 Shanghai.
- `Case` and the `check_*` / `apply_*` functions: the ticket's life (one-way transfers, three-element
  replies, acceptance, survey, reopen) and its clock (48 h SMS, handler warning, overdue, daily notices).
  The workflow holds a `Case` and calls these; a `check_*` returns a `Refusal` the workflow turns into a
  typed ApplicationError in its update validators.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel

from domain.clock import QUIET_FROM, QUIET_UNTIL, SHANGHAI, customer_sms_time, require_aware  # noqa: F401 - quiet hours live in the clock
from domain.workdays import WorkCalendar, add_working_time

REPEAT_WINDOW = timedelta(days=30)
HANDLED_SMS_AFTER = timedelta(hours=48)  # "not replied within 48 h: SMS that it is being handled"
WARN_BEFORE_DUE = timedelta(hours=1)
SUPERVISION_EVERY = timedelta(hours=24)
# The complaint procedure does not say how long these last; our choices (docs/complaints.md):
ACCEPTANCE_WAIT = timedelta(hours=72)  # no acceptance recorded 72 h after the reply: archived, flagged
SURVEY_WINDOW = timedelta(hours=72)  # a "dissatisfied" answer counts within 72 h of the survey SMS


class Level(StrEnum):
    L1 = "1"
    L2 = "2"
    L3 = "3"
    L4 = "4"
    REGULATOR = "regulator"


class Source(StrEnum):
    """Where the complaint came in (complaint procedure 4.3, 6.1)."""

    HOTLINE = "hotline"  # 10086
    COUNTER = "counter"  # 营业厅
    CUSTOMER_MANAGER = "customer_manager"  # 客户经理
    ONLINE = "online"  # 网上营业厅, e-mail to the manager
    LETTER = "letter"  # 来函
    MEDIA = "media"  # provincial or higher media (省级以上媒体)
    GROUP_WEBSITE = "group_website"  # 集团网站
    COMM_ADMIN = "comm_admin"  # a communications administration's public channel (通管局)
    CONSUMER_ASSOCIATION = "consumer_association"  # 消费者协会
    MINISTRY_FORWARDED = "ministry_forwarded"  # 工信部转办
    GROUP_FORWARDED = "group_forwarded"  # 集团公司转办
    PROVINCIAL_ADMIN_FORWARDED = "provincial_admin_forwarded"  # 省通信管理局转办


REGULATOR_SOURCES = {Source.MINISTRY_FORWARDED, Source.GROUP_FORWARDED, Source.PROVINCIAL_ADMIN_FORWARDED}
LEVEL1_SOURCES = {Source.MEDIA, Source.GROUP_WEBSITE, Source.COMM_ADMIN, Source.CONSUMER_ASSOCIATION}
# Special channels (complaint procedure 6.1) among our sources: the ministry, the group (its fax), the administration,
# the consumer association, the group website, letters. The others 6.1 names (the provincial market regulator,
# company leaders, assistance forms, supervision lines) are flagged at registration.
SPECIAL_CHANNEL_SOURCES = REGULATOR_SOURCES | {Source.COMM_ADMIN, Source.CONSUMER_ASSOCIATION, Source.GROUP_WEBSITE,
                                               Source.LETTER}


def is_special_channel(source: Source, flagged: bool = False) -> bool:
    """Special-channel complaints are escalated or urgent: archived with their documents, answered in writing (6.2)."""
    return flagged or source in SPECIAL_CHANNEL_SOURCES


class Customer(StrEnum):
    VIP = "vip"  # 全球通VIP and important group customers
    PREMIUM = "premium"  # 全球通 (premium brand), not VIP
    STANDARD = "standard"  # other brands


class ComplaintType(StrEnum):
    BILLING = "billing"
    SERVICE_ATTITUDE = "service_attitude"
    BUSINESS_HANDLING = "business_handling"
    UNINFORMED_SUBSCRIPTION = "uninformed_subscription"  # 不知情定制
    VALUE_ADDED = "value_added"  # SP / 梦网
    MMS = "mms"  # 彩信
    NETWORK_COVERAGE = "network_coverage"
    INTERCONNECTION = "interconnection"  # 互联互通 (other carriers)
    INTERNATIONAL_ROAMING = "international_roaming"
    OTHER_ORGANISATION = "other_organisation"  # needs other carriers, signed banks
    OTHER = "other"


LEVEL4_TYPES = {ComplaintType.NETWORK_COVERAGE, ComplaintType.INTERCONNECTION, ComplaintType.INTERNATIONAL_ROAMING,
                ComplaintType.OTHER_ORGANISATION}


class Department(StrEnum):
    """Who handles tickets (complaint procedure 2.0, 3.1-3.4). The market department is copied on every supervision notice."""

    COMPLAINT_DESK = "complaint_desk"  # 10086投诉组
    MARKET = "market"  # 市场部
    BILLING = "billing"  # 计费业务中心
    NETWORK = "network"  # 网络部
    DATA = "data"  # 数据部
    ENTERPRISE = "enterprise"  # 集团客户部
    GENERAL_OFFICE = "general_office"  # 综合部
    BRANCH_SHUNQING = "branch_shunqing"  # 县(市、区)分公司
    BRANCH_GAOPING = "branch_gaoping"
    BRANCH_JIALING = "branch_jialing"


SUPERVISION_COPY = Department.MARKET


class Stage(StrEnum):
    AWAITING_DEPARTMENT = "awaiting_department"  # sent to a department that has not accepted it yet
    IN_HANDLING = "in_handling"
    AWAITING_CUSTOMER = "awaiting_customer"  # replied; the customer's acceptance is asked
    SURVEY = "survey"  # archived; the satisfaction survey SMS is (about to be) out
    CLOSED = "closed"


HANDLING = {Stage.AWAITING_DEPARTMENT, Stage.IN_HANDLING}


class Outcome(StrEnum):
    SATISFIED = "satisfied"
    SILENT = "silent"  # no answer within the survey window: archived as not dissatisfied


# ---- level --------------------------------------------------------------------------------------


class LevelDecision(BaseModel):
    level: Level
    reasons: list[str]


def classify(source: Source, customer: Customer, ctype: ComplaintType, multi_department: bool = False) -> LevelDecision:
    """The most specific rule wins, in this order (complaint procedure 4.3.1 and 4.3.6):

    1. forwarded by the ministry, the group or the provincial administration -> regulator;
    2. provincial+ media, group website, communications administration, consumer association -> 1;
    3. VIP customer -> 1;
    4. needs other carriers/banks, network coverage, interconnection, international roaming -> 4
       (its 7 days are a maximum: the work depends on outside parties);
    5. premium-brand customer, or needs several departments or regions -> 2;
    6. other brands, MMS and everything else -> 3.
    """
    if source in REGULATOR_SOURCES:
        return LevelDecision(level=Level.REGULATOR, reasons=[
            f"source {source.value} is a regulator forwarding: written reply within 5 working days (complaint procedure 4.3.1)"])
    if source in LEVEL1_SOURCES:
        return LevelDecision(level=Level.L1, reasons=[f"source {source.value} is a public channel: level 1 (complaint procedure 4.3.6)"])
    if customer == Customer.VIP:
        return LevelDecision(level=Level.L1, reasons=["VIP customer: level 1 (complaint procedure 4.3.2)"])
    if ctype in LEVEL4_TYPES:
        return LevelDecision(level=Level.L4, reasons=[
            f"type {ctype.value} needs outside parties or the network: level 4, at most 7 days (complaint procedure 4.3.6)"])
    if customer == Customer.PREMIUM:
        return LevelDecision(level=Level.L2, reasons=["premium-brand customer: level 2 (complaint procedure 4.3.3)"])
    if multi_department:
        return LevelDecision(level=Level.L2, reasons=["needs several departments or regions: level 2 (complaint procedure 4.3.6)"])
    why = "MMS complaint" if ctype == ComplaintType.MMS else "standard-brand customer"
    return LevelDecision(level=Level.L3, reasons=[f"{why}: level 3 (complaint procedure 4.3.4)"])


# ---- repeat -------------------------------------------------------------------------------------


class PriorComplaint(BaseModel):
    complaint_id: str
    msisdn_fingerprint: str
    ctype: ComplaintType
    received_at: AwareDatetime


def is_repeat(fingerprint: str, ctype: ComplaintType, received_at: datetime,
              earlier: list[PriorComplaint]) -> PriorComplaint | None:
    """The latest earlier complaint of the same number and type received within the 30 days before."""
    received_at = require_aware(received_at)
    hits = [p for p in earlier
            if p.msisdn_fingerprint == fingerprint and p.ctype == ctype
            and received_at - REPEAT_WINDOW <= p.received_at < received_at]
    return max(hits, key=lambda p: p.received_at) if hits else None


# ---- due time -----------------------------------------------------------------------------------

CLOCK_LIMITS = {Level.L1: timedelta(hours=8), Level.L2: timedelta(hours=24), Level.L3: timedelta(hours=48),
                Level.L4: timedelta(days=7)}
REGULATOR_WORKING_DAYS = 5


class DueDecision(BaseModel):
    due_at: AwareDatetime
    started_at: AwareDatetime
    limit: str  # "8 clock hours", "2.5 working days (halved: repeat)"
    working_days: bool
    halved: bool
    calendar_version: str | None = None  # only for working-day deadlines
    fallback: bool = False  # a day on the way came from the weekday estimate
    explanation: str


def _fmt_hours(d: timedelta) -> str:
    hours = d / timedelta(hours=1)
    return f"{hours:g} clock hours"


def due_time(level: Level, repeat: bool, start: datetime, calendar: WorkCalendar) -> DueDecision:
    start = require_aware(start)
    if level == Level.REGULATOR:
        amount = timedelta(days=REGULATOR_WORKING_DAYS)  # N working days = N x 24 working hours
        if repeat:
            amount /= 2
        days = amount / timedelta(days=1)
        result = add_working_time(start, amount, calendar)
        limit = f"{days:g} working days" + (" (halved: repeat)" if repeat else "")
        text = (f"{limit} from {start.astimezone(SHANGHAI).isoformat()}: working days of the Chinese statutory "
                f"calendar ({result.calendar_version}), make-up weekend days included, holidays skipped")
        if result.fallback:
            text += "; WARNING: a year on the way has no official schedule yet, weekday estimate used"
        return DueDecision(due_at=result.at, started_at=start, limit=limit, working_days=True, halved=repeat,
                           calendar_version=result.calendar_version, fallback=result.fallback, explanation=text)
    amount = CLOCK_LIMITS[level] / 2 if repeat else CLOCK_LIMITS[level]
    limit = _fmt_hours(amount) + (" (halved: repeat)" if repeat else "")
    return DueDecision(due_at=start + amount, started_at=start, limit=limit, working_days=False, halved=repeat,
                       explanation=f"level {level.value}: {limit} from {start.astimezone(SHANGHAI).isoformat()}, "
                                   f"running through nights and holidays")


# ---- quiet hours --------------------------------------------------------------------------------




def care_sms_allowed(kind: str, care_kinds: list[str] | tuple[str, ...], sent_this_month: int, per_month: int) -> bool:
    """The company's care messages (greetings, service notices, surveys) reach a customer at most `per_month` times a
    calendar month (complaint procedure 8.0.2, "in principle at most once a month"). What answers the customer's own
    complaint (the "being handled" SMS, the credit SMS of 5.6.4) is not a care message and is never held."""
    return kind not in care_kinds or sent_this_month < per_month


# ---- the ticket ---------------------------------------------------------------------------------


class ComplaintFacts(BaseModel):
    """What front-line staff registered. No full phone number: the masked form and a fingerprint."""

    complaint_id: str
    msisdn_masked: str
    msisdn_fingerprint: str
    source: Source
    customer: Customer
    ctype: ComplaintType
    multi_department: bool = False
    receiving_department: Department
    received_at: AwareDatetime
    repeat_of: str | None = None


class Finding(BaseModel):
    department: Department
    actor: str
    text: str
    at: AwareDatetime


class ReplyRecord(BaseModel):
    department: Department
    actor: str
    findings: str
    handling: str
    reply_to_customer: str
    at: AwareDatetime
    on_time: bool


class Escalation(BaseModel):
    actor: str
    reason: str
    at: AwareDatetime


class DueChange(BaseModel):
    at: AwareDatetime
    reason: str
    old_due_at: AwareDatetime | None
    new_due_at: AwareDatetime
    old_calendar_version: str | None
    new_calendar_version: str | None


class Case(BaseModel):
    facts: ComplaintFacts
    level: Level
    level_reasons: list[str]
    repeat: bool
    due: DueDecision
    due_changes: list[DueChange] = []
    stage: Stage = Stage.AWAITING_DEPARTMENT
    handling_department: Department
    chain: list[Department]  # every department the ticket has been with, in order
    findings: list[Finding] = []
    replies: list[ReplyRecord] = []
    cycle: int = 1  # 1 + number of reopenings
    cycle_started_at: AwareDatetime
    handled_sms_sent: bool = False
    warned_for_due: AwareDatetime | None = None
    overdue: bool = False
    late_cycles: int = 0
    next_notice_at: AwareDatetime | None = None
    supervision_notices: int = 0
    escalations: list[Escalation] = []
    replied_at: AwareDatetime | None = None
    archived_at: AwareDatetime | None = None
    acceptance: str | None = None  # accepted / not_accepted / not_recorded
    survey_send_at: AwareDatetime | None = None
    survey_sent_at: AwareDatetime | None = None
    survey_closes_at: AwareDatetime | None = None
    outcome: Outcome | None = None
    closed_at: AwareDatetime | None = None
    event_seq: int = 0  # events recorded so far (their keys stay unique across continue-as-new)

    @property
    def handling_open(self) -> bool:
        return self.stage in HANDLING

    @property
    def on_time(self) -> bool | None:
        if self.late_cycles:
            return False
        return True if self.replies else None

    def public_state(self) -> str:
        """The ComplaintState search attribute: the stage, or `overdue` while an overdue ticket is in handling."""
        return "overdue" if self.overdue and self.handling_open else self.stage.value


def open_case(facts: ComplaintFacts, level: LevelDecision, due: DueDecision) -> Case:
    return Case(facts=facts, level=level.level, level_reasons=level.reasons, repeat=facts.repeat_of is not None,
                due=due, handling_department=facts.receiving_department, chain=[facts.receiving_department],
                cycle_started_at=facts.received_at)


# ---- actions and their refusals -----------------------------------------------------------------


class Refusal(BaseModel):
    type: str  # the ApplicationError type the API maps to a 4xx
    reason: str


def _refuse(kind: str, reason: str) -> Refusal:
    return Refusal(type=kind, reason=reason)


def _not_handler(case: Case, department: Department) -> Refusal | None:
    if not case.handling_open:
        return _refuse("WrongStage", f"handling is closed (stage {case.stage.value})")
    if department != case.handling_department:
        return _refuse("NotHandlingDepartment",
                       f"the ticket is with {case.handling_department.value}, not {department.value}")
    return None


def check_accept(case: Case, department: Department) -> Refusal | None:
    if r := _not_handler(case, department):
        return r
    if case.stage != Stage.AWAITING_DEPARTMENT:
        return _refuse("AlreadyAccepted", f"{department.value} has accepted the ticket already")
    return None


def check_transfer(case: Case, department: Department, to: Department) -> Refusal | None:
    if r := _not_handler(case, department):
        return r
    if to == department:
        return _refuse("TransferToSelf", "a ticket cannot be transferred to the department that holds it")
    if to in case.chain:
        return _refuse("TransferBack", f"one-way flow: the ticket has already been with {to.value} "
                                       f"(chain {' -> '.join(d.value for d in case.chain)}); it cannot go back")
    return None


def check_findings(case: Case, department: Department, text: str) -> Refusal | None:
    if r := _not_handler(case, department):
        return r
    if case.stage != Stage.IN_HANDLING:
        return _refuse("NotAccepted", f"{department.value} must accept the ticket before working on it")
    if not text.strip():
        return _refuse("EmptyFindings", "findings must not be empty")
    return None


# "Transferred to the relevant department" and the like are no reply (complaint procedure 4.2.2.4, 4.6.1).
_NOT_A_REPLY = re.compile(
    r"(已|已经)?(转|转派|转交|派)(至|到|给)?(其他|相关|别的)?(部门|单位)|transferr?ed to|forwarded to|passed (on )?to|"
    r"another department|other department|relevant department",
    re.IGNORECASE,
)


def check_reply(case: Case, department: Department, findings: str, handling: str, reply_to_customer: str) -> Refusal | None:
    """A reply closes the handling only with all three elements: findings, handling, reply to the customer."""
    if r := _not_handler(case, department):
        return r
    if case.stage != Stage.IN_HANDLING:
        return _refuse("NotAccepted", f"{department.value} must accept the ticket before replying")
    missing = [name for name, text in (("findings", findings or _latest_findings(case, department)),
                                       ("handling", handling), ("reply to the customer", reply_to_customer))
               if not (text or "").strip()]
    if missing:
        return _refuse("UnqualifiedReply", f"a reply needs findings, handling and a reply to the customer; "
                                           f"missing: {', '.join(missing)}")
    for name, text in (("handling", handling), ("reply to the customer", reply_to_customer)):
        if _NOT_A_REPLY.search(text):
            return _refuse("UnqualifiedReply", f"'{text.strip()[:60]}' in {name} is a transfer, not a reply: "
                                               f"transfer the ticket instead, or say what was done")
    return None


WRITTEN_REPLY_ELEMENTS = ("process", "background", "measures", "customer_acceptance")


def check_written_reply(special_channel: bool, elements: dict[str, str]) -> Refusal | None:
    """A special channel's written reply has four elements: the whole process, the background, the measures and the
    customer's acceptance (complaint procedure 6.2.2.2); "transferred" is no measure (4.2.2.4)."""
    if not special_channel:
        return _refuse("NotSpecialChannel", "a written reply is kept for special-channel complaints (complaint "
                                            "procedure 6.1); this ticket did not come through one")
    missing = [name for name in WRITTEN_REPLY_ELEMENTS if not (elements.get(name) or "").strip()]
    if missing:
        return _refuse("UnqualifiedReply", f"a written reply needs the process, the background, the measures and the "
                                           f"customer's acceptance; missing: {', '.join(missing)}")
    if _NOT_A_REPLY.search(elements["measures"]):
        return _refuse("UnqualifiedReply", "'transferred to another department' is not a measure: say what was done")
    return None


def _latest_findings(case: Case, department: Department) -> str:
    own = [f.text for f in case.findings if f.department == department and f.at >= case.cycle_started_at]
    return "\n".join(own)


def check_acceptance(case: Case) -> Refusal | None:
    if case.stage != Stage.AWAITING_CUSTOMER:
        return _refuse("WrongStage", f"the customer's acceptance is asked after a reply; stage is {case.stage.value}")
    return None


def check_escalate(case: Case, reason: str) -> Refusal | None:
    if case.stage == Stage.CLOSED:
        return _refuse("WrongStage", "the ticket is closed")
    if not reason.strip():
        return _refuse("EmptyReason", "a crisis report needs a reason")
    return None


def check_survey_answer(case: Case, now: datetime) -> Refusal | None:
    if case.stage != Stage.SURVEY or case.survey_sent_at is None:
        return _refuse("NoSurveyOpen", f"no survey is open for this ticket (stage {case.stage.value})")
    if case.survey_closes_at is not None and now > case.survey_closes_at:
        return _refuse("SurveyClosed", "the survey window has closed")
    return None


# ---- transitions (called after a check passed) --------------------------------------------------


def apply_accept(case: Case) -> None:
    case.stage = Stage.IN_HANDLING


def apply_transfer(case: Case, to: Department) -> None:
    case.handling_department = to
    case.chain.append(to)
    case.stage = Stage.AWAITING_DEPARTMENT


def apply_reply(case: Case, reply: ReplyRecord) -> None:
    case.replies.append(reply)
    if not reply.on_time and not case.overdue:
        case.late_cycles += 1  # replied after the due time, before the overdue timer fired
    case.stage = Stage.AWAITING_CUSTOMER
    case.replied_at = reply.at
    case.overdue = False
    case.next_notice_at = None


def apply_acceptance(case: Case, accepted: bool | None, now: datetime) -> None:
    """Accepted (or not recorded in time): archive and plan the survey SMS. Not accepted: see the workflow."""
    case.acceptance = "accepted" if accepted else "not_recorded" if accepted is None else "not_accepted"
    case.stage = Stage.SURVEY
    case.archived_at = now
    case.survey_send_at = customer_sms_time(now)


def start_cycle(case: Case, now: datetime, due: DueDecision) -> None:
    """Back to the last handling department with a fresh deadline (dissatisfied, or not accepted)."""
    case.cycle += 1
    case.cycle_started_at = now
    case.stage = Stage.AWAITING_DEPARTMENT
    case.due = due
    case.handled_sms_sent = False
    case.warned_for_due = None
    case.overdue = False
    case.next_notice_at = None
    case.survey_send_at = case.survey_sent_at = case.survey_closes_at = None
    case.archived_at = None


def set_due(case: Case, due: DueDecision, now: datetime, reason: str) -> DueChange | None:
    """A recomputed due time (schedule loaded or corrected, level corrected). Returns the change, if any."""
    old = case.due
    if old.due_at == due.due_at and old.calendar_version == due.calendar_version and old.limit == due.limit:
        return None
    change = DueChange(at=now, reason=reason, old_due_at=old.due_at, new_due_at=due.due_at,
                       old_calendar_version=old.calendar_version, new_calendar_version=due.calendar_version)
    case.due = due
    case.due_changes.append(change)
    if case.handling_open and now < due.due_at and case.overdue:
        case.overdue = False  # the deadline moved out: not overdue any more; notices stop until it passes again
        case.next_notice_at = None
        case.late_cycles = max(0, case.late_cycles - 1)
    return change


# ---- the clock ----------------------------------------------------------------------------------


class Tick(StrEnum):
    HANDLED_SMS = "handled_sms"
    WARN_HANDLER = "warn_handler"
    OVERDUE = "overdue"
    SUPERVISION_NOTICE = "supervision_notice"
    ARCHIVE_UNANSWERED = "archive_unanswered"  # no acceptance recorded in time
    SEND_SURVEY = "send_survey"
    CLOSE_SILENT = "close_silent"


def _handled_sms_at(case: Case) -> datetime | None:
    if case.handling_open and not case.handled_sms_sent:
        return customer_sms_time(case.cycle_started_at + HANDLED_SMS_AFTER)
    return None


def _warn_at(case: Case) -> datetime | None:
    if case.handling_open and case.warned_for_due != case.due.due_at and not case.overdue:
        return case.due.due_at - WARN_BEFORE_DUE
    return None


def _overdue_at(case: Case) -> datetime | None:
    return case.due.due_at if case.handling_open and not case.overdue else None


def _notice_at(case: Case) -> datetime | None:
    return case.next_notice_at if case.handling_open and case.overdue else None


def schedule(case: Case) -> dict[Tick, datetime]:
    """Every clock event the ticket is waiting for, with its instant."""
    plan = {
        Tick.HANDLED_SMS: _handled_sms_at(case),
        Tick.WARN_HANDLER: _warn_at(case),
        Tick.OVERDUE: _overdue_at(case),
        Tick.SUPERVISION_NOTICE: _notice_at(case),
        Tick.ARCHIVE_UNANSWERED: case.replied_at + ACCEPTANCE_WAIT
        if case.stage == Stage.AWAITING_CUSTOMER and case.replied_at else None,
        Tick.SEND_SURVEY: case.survey_send_at if case.stage == Stage.SURVEY and case.survey_sent_at is None else None,
        Tick.CLOSE_SILENT: case.survey_closes_at if case.stage == Stage.SURVEY and case.survey_closes_at else None,
    }
    return {k: v for k, v in plan.items() if v is not None}


def due_ticks(case: Case, now: datetime) -> list[Tick]:
    """The clock events whose instant has come, earliest first (a warning an hour before a due time that
    has itself passed is dropped: the ticket is overdue instead)."""
    plan = schedule(case)
    ticks = sorted((t for t, at in plan.items() if at <= now), key=lambda t: plan[t])
    if Tick.OVERDUE in ticks and Tick.WARN_HANDLER in ticks:
        ticks.remove(Tick.WARN_HANDLER)
    return ticks


def next_wake(case: Case) -> datetime | None:
    plan = schedule(case)
    return min(plan.values()) if plan else None


def apply_overdue(case: Case) -> None:
    case.overdue = True
    case.late_cycles += 1
    case.next_notice_at = case.due.due_at  # the first supervision notice goes out as it turns overdue


def apply_notice_sent(case: Case, now: datetime) -> None:
    """One notice a day: after a pause (worker down for days) the next one is the next daily slot, not a burst."""
    case.supervision_notices += 1
    assert case.next_notice_at is not None
    nxt = case.next_notice_at + SUPERVISION_EVERY
    while nxt <= now:
        nxt += SUPERVISION_EVERY
    case.next_notice_at = nxt


def apply_survey_sent(case: Case, at: datetime) -> None:
    case.survey_sent_at = at
    case.survey_closes_at = at + SURVEY_WINDOW


def apply_close(case: Case, outcome: Outcome, now: datetime) -> None:
    case.stage = Stage.CLOSED
    case.outcome = outcome
    case.closed_at = now


# ---- inbound survey answers ---------------------------------------------------------------------

_DISSATISFIED = re.compile(r"^\s*(2|不满意|dissatisfied|not satisfied|no)\b", re.IGNORECASE)
_SATISFIED = re.compile(r"^\s*(1|满意|satisfied|yes|ok)\b", re.IGNORECASE)


class SurveyAnswer(StrEnum):
    SATISFIED = "satisfied"
    DISSATISFIED = "dissatisfied"


def read_survey_answer(text: str) -> SurveyAnswer | None:
    """The survey SMS asks "reply 1 satisfied, 2 dissatisfied". Anything else is not an answer."""
    t = (text or "").strip()
    if t.startswith("不满意") or _DISSATISFIED.match(t):
        return SurveyAnswer.DISSATISFIED
    if t.startswith("满意") or _SATISFIED.match(t):
        return SurveyAnswer.SATISFIED
    return None


SMS_HANDLED = ("您好,您反映的问题(工单{ref})正在处理中,一旦有结果我们将立即答复您。"
               "Your complaint {ref} is being handled; we will answer as soon as we have a result.")
SMS_SURVEY = ("您好,您的投诉(工单{ref})已处理完毕。请回复1表示满意,回复2表示不满意。"
              "Your complaint {ref} is closed: reply 1 if satisfied, 2 if dissatisfied.")

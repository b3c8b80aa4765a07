"""Account cancellation (account cancellation 1.1-1.9 in docs/domain.md). Pure: no I/O, no Temporal.

- `early_termination`: the amount an unexpired contract costs to end now, in fen, with its explanation;
- `precheck`: the carrier's facts about a number -> eligible, or a to-do list with one item per obstacle
  (reason, amount where there is one, how to clear it);
- `Case` and the `check_*` / `apply_*` functions: the cancellation's life (to-do items cleared, the re-check,
  document review, confirmation, the 72-hour cooling-off, withdrawal, the carrier's cancellation, the
  follow-up call) and its progress "like a parcel" (`Case.progress`);
- the clock: cooling-off end, the appointment reminder 3 days before (quiet hours), the follow-up 48 h after.

The workflow holds a `Case` and calls these; a `check_*` returns a `Refusal` the workflow turns into a typed
ApplicationError in its update validators. No full phone number here: the case carries the masked form.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field

from domain.clock import SHANGHAI, customer_sms_time, require_aware
from domain.money import Fen, ratio_half_up, yuan

COOLING_OFF = timedelta(hours=72)  # account cancellation 1.5
REMINDER_BEFORE = timedelta(days=3)  # account cancellation 1.6
FOLLOW_UP_AFTER = timedelta(hours=48)  # account cancellation 1.6
# Our choices where the source is silent (docs/cancellations.md):
LAPSE_AFTER = timedelta(days=30)  # no step for 30 days before confirmation: the case fails as lapsed
FOLLOW_UP_WAIT = timedelta(days=7)  # a follow-up task without an outcome after 7 days is closed as not reached
QUARANTINE = timedelta(days=90)  # a number of our stock rests 90 days before it may be sold again

DOCUMENTS_TO_BRING = ("the account holder's identity card (original)", "the SIM card",
                      "a contract phone still to return, with its box and charger")
SMS_APPOINTMENT = ("您好,您预约了{at}到营业厅办理销户,请携带:本人身份证原件、SIM卡、未归还的合约机及配件。"
                   "Your cancellation appointment is at {at}. Please bring: {documents}.")


class ObstacleKind(StrEnum):
    CONTRACT = "contract"  # unexpired contract: early-termination amount
    BALANCE = "balance"  # outstanding charges
    DEVICE = "device"  # bound device (contract phone not returned)
    FAMILY_PLAN = "family_plan"  # family or shared plan
    VALUE_ADDED = "value_added"  # active or auto-renewing value-added service


class ClearAction(StrEnum):
    PAY_EARLY_TERMINATION = "pay_early_termination"
    PAY_BALANCE = "pay_balance"
    RETURN_DEVICE = "return_device"
    LEAVE_FAMILY_PLAN = "leave_family_plan"
    CANCEL_SERVICE = "cancel_service"


ACTION_FOR: dict[ObstacleKind, ClearAction] = {
    ObstacleKind.CONTRACT: ClearAction.PAY_EARLY_TERMINATION,
    ObstacleKind.BALANCE: ClearAction.PAY_BALANCE,
    ObstacleKind.DEVICE: ClearAction.RETURN_DEVICE,
    ObstacleKind.FAMILY_PLAN: ClearAction.LEAVE_FAMILY_PLAN,
    ObstacleKind.VALUE_ADDED: ClearAction.CANCEL_SERVICE,
}


class ClearVia(StrEnum):
    CARRIER = "carrier"  # the carrier does it (payment taken, service ended, member removed)
    EVIDENCE = "evidence"  # a clerk saw it done (receipt, returned device) and records the evidence


class Channel(StrEnum):
    SERVICE_HALL = "service_hall"  # a service clerk at the counter
    SELF_SERVICE = "self_service"  # the customer through the self-service app (an API client)


# ---- the carrier's facts ------------------------------------------------------------------------


class ContractFact(BaseModel):
    contract_id: str
    name: str
    subsidy_fen: Fen = Field(ge=0)  # what the contract gave (device or plan subsidy), paid back over its term
    term_months: int = Field(gt=0)
    ends_on: date  # last day of the contract (Shanghai)


class DeviceFact(BaseModel):
    device_id: str
    name: str


class FamilyPlanFact(BaseModel):
    plan_id: str
    name: str
    owner: bool  # the number pays for the plan (the members must move first) or is a member of it
    members: int = Field(default=0, ge=0)


class ValueAddedFact(BaseModel):
    service_id: str
    name: str
    monthly_fee_fen: Fen = Field(ge=0)
    auto_renew: bool = True


class AccountFacts(BaseModel):
    """What the carrier answers to a pre-check (account cancellation 1.1)."""

    contracts: list[ContractFact] = []
    balance_fen: Fen = 0  # outstanding charges; a credit (negative) is refunded on cancellation, no obstacle
    devices: list[DeviceFact] = []
    family_plans: list[FamilyPlanFact] = []
    value_added: list[ValueAddedFact] = []


# ---- the early-termination amount (account cancellation 1.3) -------------------------------------


def remaining_months(ends_on: date, as_of: datetime) -> int:
    """Contract months not yet begun: the months after the current Shanghai month up to the end month. The
    current month is billed in full with the monthly bill, so it is not counted again."""
    today = require_aware(as_of).astimezone(SHANGHAI).date()
    return max(0, (ends_on.year - today.year) * 12 + ends_on.month - today.month)


def early_termination(contract: ContractFact, as_of: datetime) -> tuple[Fen, str]:
    """subsidy x remaining months / term months, rounded half up to the fen, never more than the subsidy;
    and the explanation the customer reads (calculated openly, account cancellation 1.3)."""
    months = min(remaining_months(contract.ends_on, as_of), contract.term_months)
    amount = ratio_half_up(contract.subsidy_fen, months, contract.term_months)
    why = (f"{contract.name}: subsidy {yuan(contract.subsidy_fen)} yuan over {contract.term_months} months; "
           f"{months} month(s) remain after this month (contract ends {contract.ends_on.isoformat()}): "
           f"{yuan(contract.subsidy_fen)} x {months} / {contract.term_months} = {yuan(amount)} yuan, "
           "rounded half up to the fen")
    return amount, why


# ---- the pre-check (account cancellation 1.1, 1.2) ----------------------------------------------


class Obstacle(BaseModel):
    """One to-do item: what stands in the way, why, how much, how to clear it; and when it was found and cleared."""

    item_id: str  # "<kind>:<carrier's id>", stable across re-checks
    kind: ObstacleKind
    title: str
    reason: str
    amount_fen: Fen | None = None
    explanation: str = ""
    how_to_clear: str
    action: ClearAction
    found_at: AwareDatetime
    cleared_at: AwareDatetime | None = None
    cleared_by: str = ""
    cleared_via: ClearVia | None = None
    evidence: str = ""
    reference: str = ""


def precheck(facts: AccountFacts, as_of: datetime) -> list[Obstacle]:
    """Every obstacle the facts show, one to-do item each; empty means eligible."""
    found: list[Obstacle] = []
    for c in facts.contracts:
        if c.ends_on < require_aware(as_of).astimezone(SHANGHAI).date():
            continue  # expired: no obstacle
        amount, why = early_termination(c, as_of)
        found.append(Obstacle(
            item_id=f"contract:{c.contract_id}", kind=ObstacleKind.CONTRACT, title=c.name,
            reason=f"the contract runs until {c.ends_on.isoformat()}", amount_fen=amount, explanation=why,
            how_to_clear=f"pay the early-termination amount of {yuan(amount)} yuan (or wait for the contract to end)",
            action=ClearAction.PAY_EARLY_TERMINATION, found_at=as_of))
    if facts.balance_fen > 0:
        found.append(Obstacle(
            item_id="balance:account", kind=ObstacleKind.BALANCE, title="outstanding charges",
            reason=f"{yuan(facts.balance_fen)} yuan of charges are not paid", amount_fen=facts.balance_fen,
            how_to_clear=f"pay {yuan(facts.balance_fen)} yuan", action=ClearAction.PAY_BALANCE, found_at=as_of))
    for d in facts.devices:
        found.append(Obstacle(
            item_id=f"device:{d.device_id}", kind=ObstacleKind.DEVICE, title=d.name,
            reason="a contract device is bound to the number and not returned",
            how_to_clear="return the device at a service hall", action=ClearAction.RETURN_DEVICE, found_at=as_of))
    for f in facts.family_plans:
        role = (f"the number pays for the plan and {f.members} member(s) are on it" if f.owner
                else "the number is a member of the plan")
        found.append(Obstacle(
            item_id=f"family_plan:{f.plan_id}", kind=ObstacleKind.FAMILY_PLAN, title=f.name, reason=role,
            how_to_clear=("move the members to another paying number, then leave the plan" if f.owner
                          else "leave the family plan"),
            action=ClearAction.LEAVE_FAMILY_PLAN, found_at=as_of))
    for v in facts.value_added:
        renew = "renews automatically" if v.auto_renew else "is active"
        found.append(Obstacle(
            item_id=f"value_added:{v.service_id}", kind=ObstacleKind.VALUE_ADDED, title=v.name,
            reason=f"{v.name} ({yuan(v.monthly_fee_fen)} yuan a month) {renew}", amount_fen=None,
            how_to_clear=f"cancel {v.name}", action=ClearAction.CANCEL_SERVICE, found_at=as_of))
    return found


# ---- the case -----------------------------------------------------------------------------------


class State(StrEnum):
    PRECHECKING = "prechecking"
    TODO = "todo"  # obstacles to clear
    READY = "ready"  # eligible: documents and the customer's confirmation
    COOLING_OFF = "cooling_off"
    CANCELLING = "cancelling"  # the carrier is asked
    CANCELLED = "cancelled"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


FINAL = {State.CANCELLED, State.WITHDRAWN, State.FAILED}


class Step(StrEnum):
    """The parcel-like steps (account cancellation 1.4), in order."""

    APPLICATION = "application"
    DOCUMENT_REVIEW = "document_review"
    EARLY_TERMINATION = "early_termination"  # the pre-check and its amounts
    CONTRACT_HANDLING = "contract_handling"  # the to-do list cleared
    CONFIRMATION = "confirmation"
    COOLING_OFF = "cooling_off"
    CANCELLATION = "cancellation"
    FOLLOW_UP = "follow_up"


class ProgressEntry(BaseModel):
    seq: int
    step: Step
    at: AwareDatetime
    by: str  # who did it: a clerk's id, "self_service:<client>", "carrier", "system"
    what: str


class Appointment(BaseModel):
    at: AwareDatetime
    hall: str
    reminder_at: AwareDatetime | None = None  # when the SMS goes (None: too late for one)
    reminder_sent_at: AwareDatetime | None = None


class FollowUpOutcome(StrEnum):
    REACHED_SATISFIED = "reached_satisfied"
    REACHED_PROBLEM = "reached_problem"  # dissatisfied: a person calls back first (account cancellation 1.6)
    NOT_REACHED = "not_reached"


class Case(BaseModel):
    cancellation_id: str
    carrier: str
    msisdn_masked: str
    channel: Channel
    requested_by: str
    requested_at: AwareDatetime
    from_own_stock: bool = False
    state: State = State.PRECHECKING
    obstacles: list[Obstacle] = []  # every obstacle ever found (cleared ones keep their clearing)
    prechecks: int = 0
    ineligible_again: bool = False  # the last re-check found something new
    documents_reviewed_by: str = ""
    documents_reviewed_at: AwareDatetime | None = None
    confirmed_at: AwareDatetime | None = None
    cooling_off_until: AwareDatetime | None = None
    appointment: Appointment | None = None
    withdrawn_at: AwareDatetime | None = None
    cancelled_at: AwareDatetime | None = None
    carrier_reference: str = ""
    failure_reason: str = ""
    follow_up_due: AwareDatetime | None = None
    follow_up_outcome: FollowUpOutcome | None = None
    follow_up_note: str = ""
    closed: bool = False  # the workflow's work is done (follow-up recorded, or the case ended earlier)
    last_step_at: AwareDatetime
    progress: list[ProgressEntry] = []

    @property
    def todo(self) -> list[Obstacle]:
        return [o for o in self.obstacles if o.cleared_at is None]

    def record(self, step: Step, at: datetime, by: str, what: str) -> ProgressEntry:
        entry = ProgressEntry(seq=len(self.progress) + 1, step=step, at=at, by=by, what=what)
        self.progress.append(entry)
        self.last_step_at = at
        return entry

    def summary(self) -> str:
        """One line for the Web UI's current details and the memo."""
        line = f"{self.state.value}"
        if self.state == State.TODO:
            line += f": {len(self.todo)} to do ({', '.join(o.kind.value for o in self.todo)})"
        if self.state == State.COOLING_OFF and self.cooling_off_until:
            line += f" until {self.cooling_off_until.astimezone(SHANGHAI).strftime('%Y-%m-%d %H:%M')} Shanghai"
        if self.failure_reason:
            line += f" ({self.failure_reason})"
        return line


class Refusal(BaseModel):
    type: str
    reason: str


def open_case(cancellation_id: str, carrier: str, msisdn_masked: str, channel: Channel, requested_by: str,
              at: datetime, from_own_stock: bool = False, documents_checked: bool = False,
              appointment: Appointment | None = None) -> Case:
    case = Case(cancellation_id=cancellation_id, carrier=carrier, msisdn_masked=msisdn_masked, channel=channel,
                requested_by=requested_by, requested_at=at, from_own_stock=from_own_stock, last_step_at=at)
    case.record(Step.APPLICATION, at, requested_by, f"cancellation of {msisdn_masked} requested ({channel.value})")
    if documents_checked:  # only a clerk at the counter sees the originals (checked by the service)
        apply_documents(case, at, requested_by, "documents checked at the counter")
    if appointment is not None:
        apply_appointment(case, appointment, at, requested_by)
    return case


def apply_precheck(case: Case, found: list[Obstacle], at: datetime) -> list[Obstacle]:
    """Merge a pre-check's answer: new obstacles join the to-do list (a re-check that finds one is recorded as
    ineligible again, never ignored); an obstacle the carrier no longer reports is cleared by the carrier; one a
    clerk cleared with evidence stays cleared."""
    case.prechecks += 1
    known = {o.item_id: o for o in case.obstacles}
    seen = {o.item_id for o in found}
    # An item a clerk cleared with evidence stays cleared though the carrier still reports it (its records lag
    # behind a device returned at the counter); one the carrier cleared and reports again is back (renewed).
    new = [o for o in found if o.item_id not in known or (
        known[o.item_id].cleared_at is not None and known[o.item_id].cleared_via == ClearVia.CARRIER)]
    for o in new:
        if o.item_id in known:  # cleared earlier but back (a service renewed itself): a new item
            o.item_id = f"{o.item_id}#{case.prechecks}"
        case.obstacles.append(o)
    for o in case.todo:
        if o.item_id.split("#")[0] not in seen and o not in new:
            o.cleared_at, o.cleared_by, o.cleared_via = at, "carrier", ClearVia.CARRIER
            o.reference = "no longer reported by the carrier's pre-check"
    recheck = case.prechecks > 1
    case.ineligible_again = recheck and bool(new)
    if new:
        total = sum(o.amount_fen or 0 for o in new)
        items = "; ".join(f"{o.kind.value}: {o.title}" + (f" {yuan(o.amount_fen)} yuan" if o.amount_fen else "")
                          for o in new)
        what = (f"{'re-check: ineligible again, new' if recheck else 'pre-check'}: {len(new)} obstacle(s): {items}"
                + (f" (amounts {yuan(total)} yuan)" if total else ""))
        case.record(Step.EARLY_TERMINATION, at, "carrier", what)
        for o in new:
            if o.kind == ObstacleKind.CONTRACT:
                case.record(Step.EARLY_TERMINATION, at, "system", o.explanation)
        case.state = State.TODO
    else:
        case.record(Step.EARLY_TERMINATION if not recheck else Step.CONTRACT_HANDLING, at, "carrier",
                    "re-check: eligible" if recheck else "pre-check: eligible, nothing to clear")
        case.state = State.READY if not case.todo else State.TODO
    return new


def check_clear(case: Case, item_id: str, via: ClearVia, evidence: str) -> Refusal | None:
    if case.state != State.TODO:
        return Refusal(type="WrongState", reason=f"nothing to clear while the cancellation is {case.state.value}")
    item = next((o for o in case.obstacles if o.item_id == item_id), None)
    if item is None:
        return Refusal(type="UnknownItem", reason=f"no to-do item {item_id!r} on this cancellation")
    if item.cleared_at is not None:
        return Refusal(type="AlreadyCleared", reason=f"{item_id} was cleared at {item.cleared_at.isoformat()}")
    if via == ClearVia.EVIDENCE and not evidence.strip():
        return Refusal(type="EvidenceMissing", reason="a clerk clearing an item records the evidence (receipt, device serial)")
    return None


def apply_clear(case: Case, item_id: str, at: datetime, by: str, via: ClearVia, evidence: str = "",
                reference: str = "") -> Obstacle:
    item = next(o for o in case.obstacles if o.item_id == item_id)
    item.cleared_at, item.cleared_by, item.cleared_via = at, by, via
    item.evidence, item.reference = evidence, reference
    how = f"through the carrier ({reference})" if via == ClearVia.CARRIER else f"evidence: {evidence}"
    case.record(Step.CONTRACT_HANDLING, at, by, f"{item.action.value} {item.title} cleared, {how}")
    return item


def check_documents(case: Case) -> Refusal | None:
    if case.state in FINAL:
        return Refusal(type="WrongState", reason=f"the cancellation is {case.state.value}")
    if case.documents_reviewed_at is not None:
        return Refusal(type="AlreadyReviewed", reason=f"documents reviewed by {case.documents_reviewed_by}")
    return None


def apply_documents(case: Case, at: datetime, by: str, note: str) -> None:
    case.documents_reviewed_by, case.documents_reviewed_at = by, at
    case.record(Step.DOCUMENT_REVIEW, at, by, note or "documents reviewed")


def appointment_reminder_at(appointment_at: datetime, now: datetime) -> datetime | None:
    """3 days before the appointment, moved out of the quiet hours; at once (quiet hours respected) if the
    appointment is booked less than 3 days ahead; none if the appointment is past."""
    if require_aware(appointment_at) <= now:
        return None
    wanted = max(appointment_at - REMINDER_BEFORE, now)
    at = customer_sms_time(wanted)
    return at if at < appointment_at else None


def apply_appointment(case: Case, appointment: Appointment, now: datetime, by: str) -> None:
    appointment.reminder_at = appointment_reminder_at(appointment.at, now)
    case.appointment = appointment
    local = appointment.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    case.record(Step.DOCUMENT_REVIEW, now, by, f"appointment at {appointment.hall} on {local} Shanghai"
                + (f"; reminder SMS at {appointment.reminder_at.astimezone(SHANGHAI).strftime('%Y-%m-%d %H:%M')}"
                   if appointment.reminder_at else "; too close for a reminder"))


def check_appointment(case: Case, at: datetime, now: datetime) -> Refusal | None:
    if case.state in FINAL or case.state in (State.COOLING_OFF, State.CANCELLING):
        return Refusal(type="WrongState", reason=f"no appointment while the cancellation is {case.state.value}")
    if require_aware(at) <= now:
        return Refusal(type="AppointmentPast", reason="the appointment must be in the future")
    return None


def appointment_sms(appointment: Appointment) -> str:
    local = appointment.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    return SMS_APPOINTMENT.format(at=f"{local} ({appointment.hall})", documents="; ".join(DOCUMENTS_TO_BRING))


def check_confirm(case: Case) -> Refusal | None:
    if case.state == State.TODO:
        return Refusal(type="NotEligible", reason=f"{len(case.todo)} to-do item(s) open: "
                       + "; ".join(f"{o.item_id} ({o.how_to_clear})" for o in case.todo))
    if case.state != State.READY:
        return Refusal(type="WrongState", reason=f"nothing to confirm while the cancellation is {case.state.value}")
    if case.documents_reviewed_at is None:
        return Refusal(type="DocumentsNotReviewed", reason="a clerk reviews the documents before the confirmation")
    return None


def cooling_off_end(confirmed_at: datetime) -> datetime:
    """72 clock hours after the confirmation (account cancellation 1.5), through nights and holidays."""
    return require_aware(confirmed_at) + COOLING_OFF


def apply_confirm(case: Case, at: datetime, by: str) -> None:
    case.confirmed_at = at
    case.cooling_off_until = cooling_off_end(at)
    case.state = State.COOLING_OFF
    case.record(Step.CONFIRMATION, at, by, "cancellation confirmed by the customer")
    case.record(Step.COOLING_OFF, at, "system", "number kept for 72 hours; the customer may withdraw until "
                f"{case.cooling_off_until.astimezone(SHANGHAI).strftime('%Y-%m-%d %H:%M')} Shanghai")


def check_withdraw(case: Case, now: datetime) -> Refusal | None:
    if case.state in FINAL or case.state == State.CANCELLING:
        return Refusal(type="WrongState", reason=f"too late to withdraw: the cancellation is {case.state.value}")
    if case.cooling_off_until is not None and now >= case.cooling_off_until:
        return Refusal(type="CoolingOffOver", reason="the 72-hour cooling-off has ended")
    return None


def apply_withdraw(case: Case, at: datetime, by: str, reason: str) -> None:
    case.state, case.withdrawn_at, case.closed = State.WITHDRAWN, at, True
    step = Step.COOLING_OFF if case.confirmed_at else Step.APPLICATION
    case.record(step, at, by, "withdrawn by the customer; the number stays active" + (f": {reason}" if reason else ""))


def apply_cooling_off_over(case: Case, at: datetime) -> None:
    case.state = State.CANCELLING
    case.record(Step.COOLING_OFF, at, "system", "cooling-off over; the carrier is asked to cancel the number")


def apply_cancelled(case: Case, at: datetime, reference: str) -> None:
    case.state, case.cancelled_at, case.carrier_reference = State.CANCELLED, at, reference
    case.follow_up_due = at + FOLLOW_UP_AFTER
    case.record(Step.CANCELLATION, at, "carrier", f"number cancelled at the carrier ({reference})")


def apply_failed(case: Case, at: datetime, reason: str, by: str = "system") -> None:
    case.state, case.failure_reason, case.closed = State.FAILED, reason, True
    case.record(Step.CANCELLATION, at, by, f"failed: {reason}")


def lapse_at(case: Case) -> datetime | None:
    """A case not yet confirmed fails 30 days after its last step (nobody cleared, reviewed or confirmed)."""
    if case.state in (State.TODO, State.READY):
        return case.last_step_at + LAPSE_AFTER
    return None


def check_follow_up(case: Case) -> Refusal | None:
    if case.state != State.CANCELLED or case.closed:
        return Refusal(type="WrongState", reason="a follow-up is recorded for a cancelled number, once")
    return None


def apply_follow_up(case: Case, at: datetime, by: str, outcome: FollowUpOutcome, note: str) -> None:
    case.follow_up_outcome, case.follow_up_note, case.closed = outcome, note, True
    extra = "; a person calls back first" if outcome == FollowUpOutcome.REACHED_PROBLEM else ""
    case.record(Step.FOLLOW_UP, at, by, f"follow-up call: {outcome.value}" + (f" ({note})" if note else "") + extra)


def days_added(found_at: datetime, cleared_at: datetime | None, until: datetime | None = None) -> float | None:
    """How many days an obstacle added to its cancellation: found to cleared (or to `until` for one still open),
    in days to one decimal (half to even, Python's round; a report figure, not money)."""
    end = cleared_at or until
    if end is None:
        return None
    return round((end - found_at) / timedelta(days=1), 1)

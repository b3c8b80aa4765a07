"""Fee returns from a complaint: request (rules of domain.complaints.fee_return), tiered approval, audit above 100 yuan,
value-added verification with top-up, and the start of the credit workflow `fee-return-<id>`.

Checks before anything is decided (complaint procedure 5.1, 5.6): the returned number must be the ticket's number; an
earlier return of the same charge (same number and charge month, whatever category either request names) is
shown in a refusal instead of paying the charge back twice; the operator never approves or audits their own return.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from core import crypto
from core.access import Principal
from core.access import Role as AccessRole
from core.db import utcnow
from core.errors import Conflict, Forbidden, IdempotencyConflict, NotFound, TemporalUnavailable
from db.complaints import Complaint, FeeReturn, FeeReturnCharge
from domain.clock import months_before
from domain.complaints.complaint import Customer
from domain.complaints.fee_return import (
    LIVE_STATUSES,
    Category,
    CreditResolution,
    FeeClaim,
    FeeDecision,
    FeeReturnRefused,
    FeeReturnStatus,
    Kind,
    Role,
    approval_tier,
    check_approver,
    check_auditor,
    decide,
    needs_audit,
    top_up,
)
from services.complaints.complaint import InvalidComplaint, UnknownComplaint
from workflows.complaints import contract
from workflows.complaints.contract import CreditResolved, FeeReturnCredit

log = structlog.get_logger(__name__)



class EarlierReturn(Conflict):
    """The same charge was returned before (complaint procedure 5.1)."""


class WrongStatus(Conflict):
    pass


class NotAllowed(Forbidden):
    pass


class UnknownFeeReturn(NotFound):
    pass


@dataclass(frozen=True)
class NewFeeReturn:
    msisdn: str
    category: Category
    charge_month: str
    charged_fen: int
    operator_id: str
    promised_fen: int | None = None
    call_seconds: int | None = None
    monthly_subscription: bool = False
    reason: str = ""


def _status_after_request(amount_fen: int, tier: int) -> str:
    if amount_fen == 0:
        return FeeReturnStatus.NO_RETURN.value
    if tier >= 2:
        return FeeReturnStatus.AWAITING_APPROVAL.value
    return (FeeReturnStatus.AWAITING_AUDIT if needs_audit(amount_fen) else FeeReturnStatus.APPROVED).value


def request(session: Session, complaint_id: str, key: str, req: NewFeeReturn, now: datetime | None = None) -> tuple[FeeReturn, bool]:
    now = now or utcnow()
    complaint = session.get(Complaint, complaint_id)
    if complaint is None:
        raise UnknownComplaint(f"unknown complaint {complaint_id}")
    ring = crypto.key_ring()
    fps = ring.fingerprints(req.msisdn)
    existing = session.exec(select(FeeReturn).where(FeeReturn.idempotency_key == key)).first()
    if existing is not None:
        if (existing.complaint_id, existing.category, existing.msisdn_fingerprint in fps) != (complaint_id, req.category.value, True):
            raise IdempotencyConflict(f"Idempotency-Key already used for fee return {existing.id} with a different body")
        return existing, False
    if not ring.matches(req.msisdn, complaint.msisdn_fingerprint):
        raise InvalidComplaint(f"the number to credit must be the complaint's number ({complaint.msisdn_masked})")
    _refuse_if_returned(session, fps, req.charge_month)
    recent = session.exec(select(func.count()).select_from(FeeReturn).where(
        col(FeeReturn.msisdn_fingerprint).in_(fps), col(FeeReturn.status).in_([s.value for s in LIVE_STATUSES]), FeeReturn.amount_fen > 0,
        FeeReturn.requested_at >= months_before(now, 2))).one()
    try:
        decision = decide(FeeClaim(category=req.category, customer=Customer(complaint.customer), charged_fen=req.charged_fen,
                                   promised_fen=req.promised_fen, call_seconds=req.call_seconds,
                                   monthly_subscription=req.monthly_subscription, returns_in_last_2_months=int(recent)))
    except FeeReturnRefused as err:
        raise InvalidComplaint(str(err)) from None
    return _insert(session, complaint, key, req.category.value, req.charge_month, decision, req.operator_id,
                   req.reason, None, now), True


def _refuse_if_returned(session: Session, fingerprints: list[str], charge_month: str) -> None:
    """`fingerprints`: the number's under every readable key (a claim made before a key rotation still holds)."""
    claims = [c for fp in fingerprints if (c := session.get(FeeReturnCharge, (fp, charge_month)))]
    earlier = session.get(FeeReturn, claims[0].fee_return_id) if claims else None
    if earlier is not None:
        raise EarlierReturn(f"the {charge_month} charge on this number is already being returned: {earlier.id} "
                            f"({earlier.category}, {earlier.status}, {earlier.amount_fen} fen, complaint "
                            f"{earlier.complaint_id}); one charge is returned once, whatever its category")


def _insert(session: Session, complaint: Complaint, key: str, category: str, charge_month: str, decision: FeeDecision,
            operator_id: str, reason: str, top_up_of: str | None, now: datetime) -> FeeReturn:
    tier = approval_tier(decision.amount_fen)
    row = FeeReturn(id="FR" + uuid.uuid4().hex[:12].upper(), idempotency_key=key, complaint_id=complaint.id,
                    msisdn_fingerprint=complaint.msisdn_fingerprint, category=category, charge_month=charge_month,
                    decision=decision.kind.value, wrong_fen=decision.wrong_fen, amount_fen=decision.amount_fen, tier=tier,
                    needs_audit=needs_audit(decision.amount_fen), status=_status_after_request(decision.amount_fen, tier),
                    sp_verification=decision.sp_verification, top_up_of=top_up_of,
                    offer_cancel_subscription=decision.offer_cancel_subscription,
                    reason="; ".join([*decision.reasons, reason] if reason else decision.reasons),
                    operator_id=operator_id, requested_at=now, updated_at=now)
    if row.status == FeeReturnStatus.APPROVED:
        row.approved_at = now
    session.add(row)
    claims = top_up_of is None and row.status in LIVE_STATUSES
    if claims:  # the charge's key: a racing second request for it fails here, in the same commit
        session.flush()
        session.add(FeeReturnCharge(msisdn_fingerprint=row.msisdn_fingerprint, charge_month=charge_month,
                                    fee_return_id=row.id))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        again = session.exec(select(FeeReturn).where(FeeReturn.idempotency_key == key)).first()
        if again is not None:
            return again
        if claims:
            _refuse_if_returned(session, [complaint.msisdn_fingerprint], charge_month)
        raise
    session.refresh(row)
    log.info("fee return requested", fee_return_id=row.id, complaint_id=complaint.id, decision=row.decision,
             amount_fen=row.amount_fen, tier=tier, status=row.status)
    return row


def _get(session: Session, fee_return_id: str) -> FeeReturn:
    row = session.get(FeeReturn, fee_return_id)
    if row is None:
        raise UnknownFeeReturn(f"unknown fee return {fee_return_id}")
    return row


def approve(session: Session, fee_return_id: str, approver_id: str, role: Role) -> FeeReturn:
    row = _get(session, fee_return_id)
    if row.status != FeeReturnStatus.AWAITING_APPROVAL:
        raise WrongStatus(f"fee return {row.id} is {row.status}, not awaiting approval")
    if why := check_approver(row.tier, row.operator_id, approver_id, role):
        raise NotAllowed(why)
    row.approver_id, row.approved_at = approver_id, utcnow()
    row.status = (FeeReturnStatus.AWAITING_AUDIT if row.needs_audit else FeeReturnStatus.APPROVED).value
    return _save(session, row)


def audit(session: Session, fee_return_id: str, auditor_id: str, role: Role, ok: bool, note: str) -> FeeReturn:
    row = _get(session, fee_return_id)
    if row.status != FeeReturnStatus.AWAITING_AUDIT:
        raise WrongStatus(f"fee return {row.id} is {row.status}, not awaiting audit")
    if why := check_auditor(row.operator_id, auditor_id, role, row.approver_id):
        raise NotAllowed(why)
    row.auditor_id, row.audited_at = auditor_id, utcnow()
    row.status = (FeeReturnStatus.APPROVED if ok else FeeReturnStatus.REFUSED).value
    if not ok:
        row.refusal = f"audit by {auditor_id}: {note}"
    return _save(session, row)


def reject(session: Session, fee_return_id: str, actor_id: str, role: Role, reason: str) -> FeeReturn:
    row = _get(session, fee_return_id)
    if row.status != FeeReturnStatus.AWAITING_APPROVAL:
        raise WrongStatus(f"fee return {row.id} is {row.status}, not awaiting approval")
    if why := check_approver(row.tier, row.operator_id, actor_id, role):
        raise NotAllowed(why)
    row.status, row.refusal = FeeReturnStatus.REFUSED.value, f"rejected by {actor_id}: {reason}"
    return _save(session, row)


def verify_value_added(session: Session, fee_return_id: str, actor_id: str, confirmed: bool) -> tuple[FeeReturn, FeeReturn | None]:
    """The later verification of a value-added charge: a confirmed fault adds a top-up return (double in total);
    the customer's normal use changes nothing (the single return is never clawed back)."""
    row = _get(session, fee_return_id)
    if row.status not in LIVE_STATUSES:
        raise WrongStatus(f"fee return {row.id} is {row.status}")
    original = FeeDecision(kind=Kind(row.decision), wrong_fen=row.wrong_fen, amount_fen=row.amount_fen, reasons=[],
                           sp_verification=row.sp_verification)
    try:
        extra = top_up(original, confirmed)
    except FeeReturnRefused as err:
        raise WrongStatus(str(err)) from None
    row.sp_verification = "confirmed" if confirmed else "customer_use"
    _save(session, row)
    if extra is None:
        return row, None
    complaint = session.get(Complaint, row.complaint_id)
    added = _insert(session, complaint, f"{row.id}-top-up", row.category, row.charge_month, extra, actor_id,
                    f"top-up of {row.id}", row.id, utcnow())
    session.refresh(row)  # loaded again after the top-up's commit: the caller may read it after the session closed
    return row, added


def free_charge_if_ended(session: Session, row: FeeReturn) -> None:
    """A return refused or cancelled (nothing credited) frees its charge: it may be asked for again. The caller
    commits, in the same transaction as the status."""
    if row.status not in LIVE_STATUSES:
        claim = session.get(FeeReturnCharge, (row.msisdn_fingerprint, row.charge_month))
        if claim is not None and claim.fee_return_id == row.id:
            session.delete(claim)


def _save(session: Session, row: FeeReturn) -> FeeReturn:
    row.updated_at = utcnow()
    session.add(row)
    free_charge_if_ended(session, row)
    session.commit()
    session.refresh(row)
    log.info("fee return", fee_return_id=row.id, status=row.status, complaint_id=row.complaint_id)
    return row


async def ensure_credit(client: Client, row: FeeReturn) -> bool:
    """Start the credit workflow for an approved return (once: a second start joins or is refused)."""
    if row.status != FeeReturnStatus.APPROVED:
        return False
    try:
        credit = FeeReturnCredit(fee_return_id=row.id, complaint_id=row.complaint_id, amount_fen=row.amount_fen)
        await client.start_workflow(
            contract.FEE_RETURN_WORKFLOW, credit, static_summary=contract.fee_return_summary(credit),
            id=contract.fee_return_workflow_id(row.id), task_queue=contract.TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo={"summary": f"fee return {row.id} {row.decision} {row.amount_fen} fen for complaint {row.complaint_id}"})
    except WorkflowAlreadyStartedError:
        pass
    return True


def check_credit_failed(session: Session, fee_return_id: str) -> FeeReturn:
    row = _get(session, fee_return_id)
    if row.status != FeeReturnStatus.CREDIT_FAILED:
        raise WrongStatus(f"fee return {row.id} is {row.status}; only a credit the billing system refused "
                          "(credit_failed) is retried or cancelled")
    return row


async def resolve_credit(client: Client | None, row: FeeReturn, resolution: CreditResolution, actor: str,
                         reason: str) -> None:
    """Hand the operator's decision to `fee-return-<id>`, which records it (who, when, why) and acts on it."""
    if client is None:
        raise TemporalUnavailable("Temporal is unreachable; nothing was changed, try again")
    try:
        await client.get_workflow_handle(contract.fee_return_workflow_id(row.id)).signal(
            contract.RESOLVE_CREDIT, CreditResolved(fee_return_id=row.id, resolution=resolution.value, actor=actor,
                                                    reason=reason))
    except Exception as err:  # noqa: BLE001 - nothing changed: the operator tries again
        raise TemporalUnavailable(f"the credit of {row.id} could not be reached ({type(err).__name__}); nothing was "
                                  "changed, try again") from None
    log.info("fee return credit resolution sent", fee_return_id=row.id, resolution=resolution.value, actor=actor)


def list_for(session: Session, complaint_id: str) -> list[FeeReturn]:
    return list(session.exec(select(FeeReturn).where(FeeReturn.complaint_id == complaint_id)
                             .order_by(col(FeeReturn.requested_at))).all())


def approval_role(principal: Principal) -> Role:
    """The approval tier the caller's role reaches (complaint procedure 5.2.3): manager, team lead, or none."""
    if principal.roles & {AccessRole.MANAGER, AccessRole.ADMIN}:
        return Role.MANAGER
    if AccessRole.TEAM_LEAD in principal.roles:
        return Role.TEAM_LEAD
    return Role.OPERATOR

"""Fee returns to the customer's phone account from a complaint (complaint procedure 5.0). Pure; amounts in fen.

- double return (5.2.1): the wrongly charged amount x 2. For a receipt mismatch the wrong amount is
  charged - promised; for a wrong plan it is the positive difference between what the applied plan
  charged and what the customer's plan would have charged. Ultra-short calls are calls <= 3 s.
- single return (5.2.2): customer's own cause, interconnection, international roaming, force majeure,
  anything not listed.
- VIP (5.3): system error -> double; system right but the customer insists and the amount is at most
  100 yuan -> single if no fee return in the last 2 months, otherwise none.
- value-added services (5.4): a verifiable fault -> double at once; not verifiable at once -> single
  now, verified later: confirmed fault -> top up by one more time the amount (double in total); the
  customer's normal use -> nothing more, and the single return is never clawed back. A disputed
  monthly subscription is offered cancellation.
- approval tiers, audit above 100 yuan, operator never the auditor or approver (5.1).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from domain.complaints.complaint import Customer
from domain.money import Fen, yuan

AUDIT_ABOVE_FEN = 10_000  # every return above 100 yuan is audited (complaint procedure 3.4.7)
VIP_INSIST_MAX_FEN = 10_000  # "质疑金额在100元以内"
VIP_QUIET_MONTHS = 2
ULTRA_SHORT_MAX_S = 3


class Category(StrEnum):
    ULTRA_SHORT_CALL = "ultra_short_call"
    VOICE_PROMPT = "voice_prompt"
    TARIFF_MISMATCH = "tariff_mismatch"
    RECEIPT_MISMATCH = "receipt_mismatch"
    WRONG_PLAN = "wrong_plan"
    BORDER_ROAMING = "border_roaming"
    CUSTOMER_CAUSE = "customer_cause"
    INTERCONNECTION = "interconnection"
    INTERNATIONAL_ROAMING = "international_roaming"
    FORCE_MAJEURE = "force_majeure"
    OTHER = "other"
    VIP_SYSTEM_ERROR = "vip_system_error"
    VIP_INSISTS = "vip_insists"
    SP_FAULT_VERIFIED = "sp_fault_verified"
    SP_UNVERIFIED = "sp_unverified"


DOUBLE = {Category.ULTRA_SHORT_CALL, Category.VOICE_PROMPT, Category.TARIFF_MISMATCH, Category.RECEIPT_MISMATCH,
          Category.WRONG_PLAN, Category.BORDER_ROAMING, Category.VIP_SYSTEM_ERROR, Category.SP_FAULT_VERIFIED}
SINGLE = {Category.CUSTOMER_CAUSE, Category.INTERCONNECTION, Category.INTERNATIONAL_ROAMING, Category.FORCE_MAJEURE,
          Category.OTHER, Category.SP_UNVERIFIED}
VIP_ONLY = {Category.VIP_SYSTEM_ERROR, Category.VIP_INSISTS}


class Kind(StrEnum):
    DOUBLE = "double"
    SINGLE = "single"
    NONE = "none"
    TOP_UP = "top_up"  # the second half of a value-added double return, after the fault was confirmed


class Role(StrEnum):
    OPERATOR = "operator"
    TEAM_LEAD = "team_lead"
    MANAGER = "manager"
    AUDITOR = "auditor"


class FeeReturnStatus(StrEnum):
    """Where a fee return stands: approved by tier, audited above 100 yuan, then credited (or refused)."""

    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_AUDIT = "awaiting_audit"
    APPROVED = "approved"
    CREDITED = "credited"
    REFUSED = "refused"
    NO_RETURN = "no_return"  # the rules give nothing back
    CREDIT_FAILED = "credit_failed"  # the billing system refused the credit: an operator retries or cancels
    CANCELLED = "cancelled"  # a refused credit an operator gave up (with the reason); nothing was credited


# Returns that count as money given (or about to be) for "an earlier return of the same kind". A refused credit
# still counts until an operator cancels it: a retry may still put the money on the account.
LIVE_STATUSES = (FeeReturnStatus.AWAITING_APPROVAL, FeeReturnStatus.AWAITING_AUDIT, FeeReturnStatus.APPROVED,
                 FeeReturnStatus.CREDITED, FeeReturnStatus.CREDIT_FAILED)


class CreditResolution(StrEnum):
    """What an operator does with a credit the billing system refused."""

    RETRY = "retry"  # ask again (the same credit id: the billing system never books it twice)
    CANCEL = "cancel"  # give up; the customer is told another way, the ticket says why


class FeeReturnRefused(ValueError):
    """The claim cannot be a fee return as stated (a 422 with this reason)."""


class FeeClaim(BaseModel):
    category: Category
    customer: Customer
    charged_fen: Fen  # what the customer was charged for the disputed item
    promised_fen: Fen | None = None  # receipt mismatch: the receipt's amount; wrong plan: the right plan's charge
    call_seconds: int | None = None  # ultra-short calls
    monthly_subscription: bool = False  # value-added: the disputed service is a monthly subscription
    returns_in_last_2_months: int = 0  # the number's fee returns since months_before(now, 2)


class FeeDecision(BaseModel):
    kind: Kind
    wrong_fen: Fen  # the wrongly charged amount
    amount_fen: Fen  # what goes back to the phone account now
    reasons: list[str]
    sp_verification: str | None = None  # "pending" when a value-added fault is still to be verified
    offer_cancel_subscription: bool = False


def decide(claim: FeeClaim) -> FeeDecision:
    c = claim.category
    if claim.charged_fen <= 0:
        raise FeeReturnRefused("the charged amount must be positive (fen)")
    if claim.promised_fen is not None and claim.promised_fen < 0:
        raise FeeReturnRefused("the promised amount must not be negative (fen)")
    if c in VIP_ONLY and claim.customer != Customer.VIP:
        raise FeeReturnRefused(f"{c.value} applies to VIP customers only; this customer is {claim.customer.value}")

    if c in (Category.RECEIPT_MISMATCH, Category.WRONG_PLAN):
        if claim.promised_fen is None:
            raise FeeReturnRefused(f"{c.value} needs promised_fen (what the receipt or the right plan says)")
        wrong = claim.charged_fen - claim.promised_fen
        if wrong <= 0:
            raise FeeReturnRefused(f"nothing was overcharged: charged {yuan(claim.charged_fen)} <= "
                                   f"{yuan(claim.promised_fen)}")
        why = ("receipt mismatch: 2 x (charged - promised)" if c == Category.RECEIPT_MISMATCH
               else "wrong plan applied: 2 x the positive difference")
        return FeeDecision(kind=Kind.DOUBLE, wrong_fen=wrong, amount_fen=2 * wrong,
                           reasons=[f"{why} = 2 x {yuan(wrong)} (complaint procedure 5.2.1.5)"])
    wrong = claim.charged_fen
    if c == Category.ULTRA_SHORT_CALL:
        if claim.call_seconds is None or not 0 <= claim.call_seconds <= ULTRA_SHORT_MAX_S:
            raise FeeReturnRefused(f"an ultra-short call lasts at most {ULTRA_SHORT_MAX_S} s; give call_seconds")
    if c == Category.VIP_INSISTS:
        if wrong > VIP_INSIST_MAX_FEN:
            return FeeDecision(kind=Kind.NONE, wrong_fen=wrong, amount_fen=0, reasons=[
                f"VIP insists on a correct charge above 100 yuan ({yuan(wrong)}): no credit return; "
                f"special cases go through tiered approval (complaint procedure 5.2.3)"])
        if claim.returns_in_last_2_months > 0:
            return FeeDecision(kind=Kind.NONE, wrong_fen=wrong, amount_fen=0, reasons=[
                f"VIP insists, system right, but {claim.returns_in_last_2_months} fee return(s) in the last "
                f"{VIP_QUIET_MONTHS} months: no return (complaint procedure 5.3.2 case 2)"])
        return FeeDecision(kind=Kind.SINGLE, wrong_fen=wrong, amount_fen=wrong, reasons=[
            "VIP insists, system right, at most 100 yuan, no return in the last 2 months: single (complaint procedure 5.3.2 case 1)"])
    if c == Category.SP_UNVERIFIED:
        return FeeDecision(kind=Kind.SINGLE, wrong_fen=wrong, amount_fen=wrong, sp_verification="pending",
                           offer_cancel_subscription=claim.monthly_subscription, reasons=[
                               "value-added charge not verifiable at once: single now, verified later; topped up to "
                               "double if the fault is confirmed, never clawed back (complaint procedure 5.4)"])
    if c in DOUBLE:
        return FeeDecision(kind=Kind.DOUBLE, wrong_fen=wrong, amount_fen=2 * wrong,
                           offer_cancel_subscription=c == Category.SP_FAULT_VERIFIED and claim.monthly_subscription,
                           reasons=[f"{c.value}: double return 2 x {yuan(wrong)} (complaint procedure 5.2.1)"])
    return FeeDecision(kind=Kind.SINGLE, wrong_fen=wrong, amount_fen=wrong,
                       reasons=[f"{c.value}: single return (complaint procedure 5.2.2)"])


def top_up(original: FeeDecision, confirmed: bool) -> FeeDecision | None:
    """After a value-added single return is verified: a top-up to double if the fault is confirmed, nothing
    otherwise (the single return stays: never clawed back)."""
    if original.sp_verification != "pending":
        raise FeeReturnRefused("only a value-added return awaiting verification can be verified")
    if not confirmed:
        return None
    return FeeDecision(kind=Kind.TOP_UP, wrong_fen=original.wrong_fen, amount_fen=original.wrong_fen,
                       reasons=[f"value-added fault confirmed: top-up of {yuan(original.wrong_fen)} to double (complaint procedure 5.4)"])


def approval_tier(amount_fen: Fen) -> int:
    """1: up to 50 yuan, the operator's own authority; 2: up to 500 yuan, a team lead; 3: above, a manager."""
    if amount_fen <= 5_000:
        return 1
    if amount_fen <= 50_000:
        return 2
    return 3


TIER_APPROVERS = {2: {Role.TEAM_LEAD, Role.MANAGER}, 3: {Role.MANAGER}}


def needs_audit(amount_fen: Fen) -> bool:
    return amount_fen > AUDIT_ABOVE_FEN


def check_approver(tier: int, operator_id: str, approver_id: str, role: Role) -> str | None:
    if approver_id == operator_id:
        return "the operator cannot approve their own fee return"
    allowed = TIER_APPROVERS.get(tier)
    if allowed is None:
        return f"tier {tier} needs no approval"
    if role not in allowed:
        return f"tier {tier} needs a {' or '.join(sorted(r.value for r in allowed))}, not a {role.value}"
    return None


def check_auditor(operator_id: str, auditor_id: str, role: Role, approver_id: str | None = None) -> str | None:
    if auditor_id == operator_id:
        return "the operator is never the auditor of their own fee return"
    if approver_id is not None and auditor_id == approver_id:
        return "the approver is never the auditor of the same fee return: the audit is a second look"
    if role != Role.AUDITOR:
        return f"audits are done by an auditor, not a {role.value}"
    return None


SMS_CREDITED = ("客户您好:您反映的通信费问题经查证,现已将{amount}元划拨到您手机帐户,欢迎通过下月帐单或发票的‘话费返还’栏查看,"
                "若有疑问请致电10086。 {amount} yuan has been credited to your phone account.")

"""Payout exceptions: a payout the bank refused or never answered, kept apart so the rest of the batch is paid.

One payout pays one statement's exact lines, under one idempotency key (the payout id, built from the
statement and its line ids), at the bank and here: every retry of an exception sends the same key, so the bank
pays a payout at most once. What finance may do with an exception (settlement rules 1.10; our choices are in
docs/finance.md):

- retry it (optionally with the agent's new bank details): always, while it is open;
- record a manual payment with its evidence (the bank transfer's reference): only after the bank definitively
  refused the payout. A payout the bank never answered may have been paid, so a manual payment then could pay
  twice; a retry asks the bank again under the same key and gets the first answer.
"""

import re
from enum import StrEnum


class ExceptionState(StrEnum):
    OPEN = "open"  # finance acts on it
    RETRYING = "retrying"  # a retry is on its way to the bank; nothing else may happen until it answers
    PAID = "paid"  # paid by a retry
    PAID_MANUALLY = "paid_manually"  # finance paid it outside the bank interface, with evidence


class ExceptionCause(StrEnum):
    REJECTED = "rejected"  # the bank refused: nothing was paid
    UNAVAILABLE = "unavailable"  # the bank did not answer in time: the outcome is unknown


class BankReason(StrEnum):
    """Why the bank refused, as finance sees it in the failures-by-reason breakdown."""

    ACCOUNT_CLOSED = "account_closed"
    ACCOUNT_FROZEN = "account_frozen"
    NAME_MISMATCH = "name_mismatch"
    INVALID_ACCOUNT = "invalid_account"
    BANK_UNAVAILABLE = "bank_unavailable"
    OTHER = "other"


CLOSED_STATES = frozenset({ExceptionState.PAID, ExceptionState.PAID_MANUALLY})
# A payout the bank keeps not answering becomes an exception after this many attempts of the batch's payout step,
# so one unreachable payout never holds the others' close (the bank's own retries are inside each attempt).
UNAVAILABLE_ATTEMPTS = 5


def bank_reason(text: str) -> BankReason:
    """The bank's refusal text as a reason code: the first known code it names, else `other`."""
    for word in re.findall(r"[a-z_]+", text.lower()):
        try:
            reason = BankReason(word)
        except ValueError:
            continue
        if reason is not BankReason.BANK_UNAVAILABLE:
            return reason
    return BankReason.OTHER


def may_retry(state: ExceptionState) -> bool:
    return state is ExceptionState.OPEN


def manual_payment_refusal(state: ExceptionState, cause: ExceptionCause) -> str | None:
    """Why a manual payment may not be recorded now (None: it may)."""
    if state in CLOSED_STATES:
        return "the payout is already paid"
    if state is ExceptionState.RETRYING:
        return "a retry is on its way to the bank; wait for its answer"
    if cause is ExceptionCause.UNAVAILABLE:
        return ("the bank never answered this payout, so it may have paid it: retry it (the same payout id, the bank "
                "answers with the first outcome) before paying by hand")
    return None


def mask_account(account: str) -> str:
    """A bank account as API answers show it: the last four digits."""
    digits = account.strip()
    return f"****{digits[-4:]}" if len(digits) > 4 else "****"

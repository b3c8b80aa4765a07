"""Payout exceptions (domain/finance/payouts.py): list them, retry one (optionally with new bank details), record a
manual payment with its evidence, and settle the lines once the payout is paid.

Every change of state is one conditional UPDATE (`WHERE state = <expected>`), so two finance clerks acting at
once, or a retry and a manual payment, never both win: the loser gets a 409. The lines of a paid exception are
marked paid in the same transaction as the exception, and the payout id stays the bank's idempotency key for
every retry, so no payout is ever paid twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from core.errors import Conflict, NotFound
from db.finance import PayoutException, PayoutExceptionStep
from db.orders import AgentStatement, CommissionLineRecord, LineStatus
from domain.finance.payouts import ExceptionCause, ExceptionState, manual_payment_refusal, may_retry
from workflows.finance.contract import PayoutRetryInput


class PayoutExceptionNotFound(NotFound):
    def __init__(self, payout_id: str) -> None:
        super().__init__(f"no payout exception {payout_id}")


class PayoutExceptionClosed(Conflict):
    """Not possible in the exception's state (paid already, a retry on its way)."""


@dataclass
class ExceptionDetail:
    exception: PayoutException
    steps: list[PayoutExceptionStep]


def list_exceptions(session: Session, *, state: str | None, carrier: str | None, month: str | None,
                    agent_id: str | None, limit: int, offset: int) -> tuple[list[PayoutException], int]:
    conds = []
    if state:
        conds.append(PayoutException.state == state)
    if carrier:
        conds.append(PayoutException.carrier == carrier)
    if month:
        conds.append(PayoutException.month == month)
    if agent_id:
        conds.append(PayoutException.agent_id == agent_id)
    total = session.exec(select(func.count()).select_from(PayoutException).where(*conds)).one()
    rows = session.exec(select(PayoutException).where(*conds).order_by(col(PayoutException.created_at).desc(),
                                                                        col(PayoutException.id))
                        .limit(limit).offset(offset)).all()
    return list(rows), int(total)


def get_exception(session: Session, payout_id: str) -> ExceptionDetail:
    exc = session.get(PayoutException, payout_id)
    if exc is None:
        raise PayoutExceptionNotFound(payout_id)
    steps = session.exec(select(PayoutExceptionStep).where(PayoutExceptionStep.payout_id == payout_id)
                         .order_by(col(PayoutExceptionStep.at), col(PayoutExceptionStep.id))).all()
    return ExceptionDetail(exc, list(steps))


def _move(session: Session, payout_id: str, expected: ExceptionState, **values) -> bool:
    """The one state change: true when this transaction made it (nobody moved the exception before)."""
    values["updated_at"] = datetime.now(UTC)
    done = session.exec(update(PayoutException).where(  # type: ignore[call-overload]
        PayoutException.id == payout_id, PayoutException.state == expected.value).values(**values))
    return done.rowcount == 1


def _step(session: Session, payout_id: str, key: str, action: str, actor: str, detail: str) -> None:
    if session.exec(select(PayoutExceptionStep).where(PayoutExceptionStep.payout_id == payout_id,
                                                      PayoutExceptionStep.key == key)).first() is None:
        session.add(PayoutExceptionStep(payout_id=payout_id, key=key, action=action, actor=actor, detail=detail))


class CommissionHeld(Conflict):
    """The agent was suspended since: its lines are held (agent accounts 3.2), paid after reinstatement."""


def _not_held(session: Session, exc: PayoutException) -> None:
    held = session.exec(select(func.count()).select_from(CommissionLineRecord).where(
        col(CommissionLineRecord.id).in_(json.loads(exc.line_ids)), CommissionLineRecord.status == LineStatus.HELD)).one()
    if held:
        raise CommissionHeld(f"agent {exc.agent_id} is suspended: {held} lines of payout {exc.id} are held until "
                             "reinstatement")


def begin_retry(session: Session, payout_id: str, actor: str, new_account: str) -> PayoutRetryInput:
    """Open -> retrying (the retry workflow is started next, by the caller). New bank details replace the account
    the bank has on file for this payout and every later retry of it."""
    exc = get_exception(session, payout_id).exception
    if not may_retry(ExceptionState(exc.state)):
        raise PayoutExceptionClosed(f"payout {payout_id} is {exc.state}: only an open exception is retried")
    _not_held(session, exc)
    attempt = exc.attempts + 1
    values: dict = {"state": ExceptionState.RETRYING.value, "attempts": attempt}
    if new_account:
        values["new_account"] = new_account
    if not _move(session, payout_id, ExceptionState.OPEN, **values):
        session.rollback()
        raise PayoutExceptionClosed(f"payout {payout_id} changed meanwhile; read it again")
    _step(session, payout_id, f"retry-{attempt}", "retry", actor,
          "with new bank details" if new_account else "with the account on file")
    session.commit()
    return PayoutRetryInput(payout_id=payout_id, attempt=attempt, actor=actor, agent_id=exc.agent_id,
                            amount_fen=exc.amount_fen)


def retry(session: Session, payout_id: str, actor: str, new_account: str) -> PayoutRetryInput:
    """Start a retry, or answer the one on its way (asked again after its workflow start was lost to a crash or a
    Temporal outage: the same attempt, so its workflow id is the same and the start finds it)."""
    exc = get_exception(session, payout_id).exception
    if exc.state == ExceptionState.RETRYING.value:
        return PayoutRetryInput(payout_id=payout_id, attempt=exc.attempts, actor=actor, agent_id=exc.agent_id,
                                amount_fen=exc.amount_fen)
    return begin_retry(session, payout_id, actor, new_account)


def settle_lines(session: Session, exc: PayoutException, reference: str) -> None:
    """The exception's lines are paid: lines PAID, the statement's paid amount and reference (same transaction)."""
    line_ids = json.loads(exc.line_ids)
    session.exec(update(CommissionLineRecord).where(  # type: ignore[call-overload]
        col(CommissionLineRecord.id).in_(line_ids), CommissionLineRecord.status == LineStatus.PAYABLE)
        .values(status=LineStatus.PAID))
    st = session.get(AgentStatement, exc.statement_id)
    if st is not None:
        st.paid_fen += exc.amount_fen
        st.payout_ref = reference
        session.add(st)


def record_manual_payment(session: Session, payout_id: str, actor: str, reference: str, evidence: str) -> PayoutException:
    """Finance paid the agent outside the bank interface; allowed only after a definitive refusal (domain)."""
    exc = get_exception(session, payout_id).exception
    if why := manual_payment_refusal(ExceptionState(exc.state), ExceptionCause(exc.cause)):
        raise PayoutExceptionClosed(f"payout {payout_id}: {why}")
    _not_held(session, exc)
    now = datetime.now(UTC)
    if not _move(session, payout_id, ExceptionState.OPEN, state=ExceptionState.PAID_MANUALLY.value,
                 reference=reference, evidence=evidence, resolved_by=actor, resolved_at=now):
        session.rollback()
        raise PayoutExceptionClosed(f"payout {payout_id} changed meanwhile; read it again")
    session.refresh(exc)
    settle_lines(session, exc, reference)
    _step(session, payout_id, "manual", "manual_payment", actor, f"reference {reference}: {evidence}"[:500])
    session.commit()
    session.refresh(exc)
    return exc


def finish_retry(session: Session, inp: PayoutRetryInput, *, paid_reference: str | None, cause: ExceptionCause,
                 reason: str, detail: str) -> ExceptionState:
    """The bank's answer to a retry: paid (lines settled) or back to open with the new reason. Idempotent: a
    retried activity finds the exception already moved and answers its state."""
    exc = get_exception(session, inp.payout_id).exception
    if exc.state != ExceptionState.RETRYING.value or exc.attempts != inp.attempt:
        return ExceptionState(exc.state)
    now = datetime.now(UTC)
    if paid_reference is not None:
        _move(session, inp.payout_id, ExceptionState.RETRYING, state=ExceptionState.PAID.value,
              reference=paid_reference, resolved_by=inp.actor, resolved_at=now)
        session.refresh(exc)
        settle_lines(session, exc, paid_reference)
        _step(session, inp.payout_id, f"retry-{inp.attempt}-answer", "paid", "bank", f"reference {paid_reference}")
        state = ExceptionState.PAID
    else:
        _move(session, inp.payout_id, ExceptionState.RETRYING, state=ExceptionState.OPEN.value, cause=cause.value,
              reason=reason, detail=detail[:500])
        _step(session, inp.payout_id, f"retry-{inp.attempt}-answer", "refused_again", "bank",
              f"{cause.value}: {reason} ({detail[:200]})")
        state = ExceptionState.OPEN
    session.commit()
    return state


def account_for(session: Session, payout_id: str) -> str:
    exc = get_exception(session, payout_id).exception
    return exc.new_account or ""

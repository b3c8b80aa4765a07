"""Payout exceptions in the database (SQLite and PostgreSQL): a manual payment pays the lines once, and after it
nothing else can pay them; a payout the bank never answered is not paid by hand; held lines are not paid."""

import json

import pytest
from sqlmodel import Session, select

from db.agents import Agent, AgentStatus
from db.finance import PayoutException
from db.orders import AgentStatement, CommissionLineRecord, LineStatus
from services.finance import payouts
from services.finance.payouts import CommissionHeld, PayoutExceptionClosed
from tests.fixtures_db import AGENT


def _exception(db, cause="rejected", status=LineStatus.PAYABLE) -> str:
    with Session(db) as s:
        s.add(AgentStatement(id="st-1", batch_id="settlement-china_mobile-202610", agent_id=AGENT,
                             carrier="china_mobile", month="202610", amount_fen=13200))
        lines = [CommissionLineRecord(order_id=f"O{i}", agent_id=AGENT, role="agent", carrier="china_mobile",
                                      month="202610", amount_fen=fen, statement_id="st-1", status=status)
                 for i, fen in ((1, 12000), (2, 1200))]
        s.add_all(lines)
        s.flush()
        s.add(PayoutException(id="st-1-abc", batch_id="settlement-china_mobile-202610", statement_id="st-1",
                              agent_id=AGENT, carrier="china_mobile", month="202610", amount_fen=13200,
                              line_ids=json.dumps([ln.id for ln in lines]), cause=cause, reason="account_closed",
                              state="open", new_account=""))
        s.commit()
    return "st-1-abc"


def test_a_manual_payment_pays_the_lines_once(seeded):
    pid = _exception(seeded)
    with Session(seeded) as s:
        exc = payouts.record_manual_payment(s, pid, "fin-1", "TRF-20261203-01", "receipt scanned, confirmed by bank")
        assert exc.state == "paid_manually" and exc.reference == "TRF-20261203-01"
    with Session(seeded) as s:
        assert {ln.status for ln in s.exec(select(CommissionLineRecord))} == {LineStatus.PAID}
        assert s.get(AgentStatement, "st-1").paid_fen == 13200
        with pytest.raises(PayoutExceptionClosed):
            payouts.record_manual_payment(s, pid, "fin-2", "TRF-20261203-02", "a second clerk pays it again")
        with pytest.raises(PayoutExceptionClosed):
            payouts.retry(s, pid, "fin-2", "")
        assert s.get(AgentStatement, "st-1").paid_fen == 13200
        assert [st.action for st in payouts.get_exception(s, pid).steps] == ["manual_payment"]


def test_a_payout_the_bank_never_answered_is_not_paid_by_hand(seeded):
    pid = _exception(seeded, cause="unavailable")
    with Session(seeded) as s, pytest.raises(PayoutExceptionClosed, match="may have paid"):
        payouts.record_manual_payment(s, pid, "fin-1", "TRF-20261203-01", "receipt scanned, confirmed by bank")


def test_a_retry_in_flight_blocks_a_manual_payment_and_a_second_retry_resumes_it(seeded):
    pid = _exception(seeded)
    with Session(seeded) as s:
        first = payouts.retry(s, pid, "fin-1", "6222020200112233445")
    with Session(seeded) as s:
        assert payouts.retry(s, pid, "fin-2", "") == first.model_copy(update={"actor": "fin-2"})  # the same attempt
        with pytest.raises(PayoutExceptionClosed, match="retry is on its way"):
            payouts.record_manual_payment(s, pid, "fin-1", "TRF-20261203-01", "receipt scanned, confirmed by bank")
        assert s.get(PayoutException, pid).new_account == "6222020200112233445"
        raw = s.connection().exec_driver_sql("SELECT new_account FROM payout_exception").scalar_one()
        assert "6222020200112233445" not in raw  # sealed at rest


def test_held_lines_are_not_paid(seeded):
    pid = _exception(seeded, status=LineStatus.HELD)
    with Session(seeded) as s:
        agent = s.get(Agent, AGENT)
        agent.status = AgentStatus.SUSPENDED
        s.add(agent)
        s.commit()
        with pytest.raises(CommissionHeld):
            payouts.retry(s, pid, "fin-1", "")
        with pytest.raises(CommissionHeld):
            payouts.record_manual_payment(s, pid, "fin-1", "TRF-20261203-01", "receipt scanned, confirmed by bank")

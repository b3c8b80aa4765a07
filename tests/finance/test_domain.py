"""Finance's pure rules: the tax inside an invoice's amount, which figure is paid, the cause of a difference, and
what finance may do with a payout exception."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.finance.invoices import TAX_RATES_BP, invoice_number, tax_of
from domain.finance.payouts import (
    BankReason,
    ExceptionCause,
    ExceptionState,
    bank_reason,
    manual_payment_refusal,
    mask_account,
)
from domain.finance.reconciliation import AuditFigure, DifferenceCause, PaidFigure, Totals, compare, paid_figure


@pytest.mark.parametrize(("amount", "rate", "tax"), [(10600, 600, 600), (13205, 600, 747), (100, 600, 6),
                                                     (11300, 1300, 1300), (5, 600, 0), (9, 600, 1), (1000, 0, 0)])
def test_tax_inside_the_amount_half_up(amount, rate, tax):
    assert tax_of(amount, rate) == tax


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(TAX_RATES_BP))
def test_tax_and_net_add_up_to_the_statement(amount, rate):
    tax = tax_of(amount, rate)
    net = amount - tax
    assert 0 <= tax <= amount and net >= 0
    assert abs(tax * 10000 - net * rate) <= 10000 + rate  # within one fen of the exact tax


def test_an_unknown_tax_rate_is_refused():
    with pytest.raises(ValueError):
        tax_of(100, 700)


def test_invoice_number():
    from datetime import date

    assert invoice_number(date(2026, 12, 2), 42) == "SB20261202000042"


@pytest.mark.parametrize(("policy", "expected", "audited", "paid"), [
    (PaidFigure.AUDITED, 12000, 10000, 10000), (PaidFigure.AUDITED, 12000, 15000, 15000),
    (PaidFigure.EXPECTED, 12000, 10000, 12000), (PaidFigure.LOWER, 12000, 15000, 12000),
    (PaidFigure.LOWER, 12000, 10000, 10000), (PaidFigure.AUDITED, 12000, None, 12000)])
def test_paid_figure(policy, expected, audited, paid):
    assert paid_figure(policy, expected, audited) == paid


def test_causes_of_differences():
    p = PaidFigure.AUDITED
    assert compare(AuditFigure(order_id="a", known=True, expected_fen=100, audited=True, approved=True,
                               audited_fen=100), p) is None
    rate = compare(AuditFigure(order_id="a", known=True, expected_fen=100, audited=True, approved=True,
                               audited_fen=80), p)
    assert (rate.cause, rate.difference_fen, rate.paid_fen) == (DifferenceCause.RATE_CHANGE, -20, 80)
    rej = compare(AuditFigure(order_id="a", known=True, expected_fen=100, audited=True, approved=False), p)
    assert (rej.cause, rej.difference_fen) == (DifferenceCause.REJECTED, -100)
    gone = compare(AuditFigure(order_id="a", known=True, expected_fen=100, audited=False), p)
    assert (gone.cause, gone.difference_fen) == (DifferenceCause.PARTIAL_AUDIT, -100)
    stranger = compare(AuditFigure(order_id="x", known=False, expected_fen=0, audited=True, approved=True,
                                   audited_fen=90), p)
    assert (stranger.cause, stranger.difference_fen, stranger.paid_fen) == (DifferenceCause.UNKNOWN_ORDER, 90, 0)
    assert compare(AuditFigure(order_id="x", known=False, expected_fen=0, audited=True, approved=False), p) is None


def test_totals_balance_only_to_the_fen():
    assert Totals(lines_fen=100, paid_fen=50, held_fen=20, exceptions_fen=20, payable_fen=10).balanced
    assert not Totals(lines_fen=100, paid_fen=50, held_fen=20, exceptions_fen=20, payable_fen=9).balanced


@pytest.mark.parametrize(("text", "reason"), [("account_closed", BankReason.ACCOUNT_CLOSED),
                                              ("HTTP 422: Account_Frozen by court order", BankReason.ACCOUNT_FROZEN),
                                              ("bank_unavailable", BankReason.OTHER), ("who knows", BankReason.OTHER)])
def test_bank_reasons(text, reason):
    assert bank_reason(text) is reason


def test_a_manual_payment_only_after_a_definitive_refusal():
    assert manual_payment_refusal(ExceptionState.OPEN, ExceptionCause.REJECTED) is None
    assert "may have paid" in manual_payment_refusal(ExceptionState.OPEN, ExceptionCause.UNAVAILABLE)
    assert "retry is on its way" in manual_payment_refusal(ExceptionState.RETRYING, ExceptionCause.REJECTED)
    for done in (ExceptionState.PAID, ExceptionState.PAID_MANUALLY):
        assert "already paid" in manual_payment_refusal(done, ExceptionCause.REJECTED)


def test_accounts_are_masked():
    assert mask_account("6222020200112233445") == "****3445" and mask_account("123") == "****"

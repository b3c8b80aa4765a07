"""Fee-return rules (complaint procedure 5.0): double/single, VIP, value-added top-ups, tiers, audit, separation of duties."""

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.clock import SHANGHAI, months_before
from domain.complaints.complaint import Customer
from domain.complaints.fee_return import (
    Category,
    FeeClaim,
    FeeReturnRefused,
    Kind,
    Role,
    approval_tier,
    check_approver,
    check_auditor,
    decide,
    needs_audit,
    top_up,
)

STD, VIP = Customer.STANDARD, Customer.VIP


@pytest.mark.parametrize("category", [Category.VOICE_PROMPT, Category.TARIFF_MISMATCH, Category.BORDER_ROAMING,
                                      Category.SP_FAULT_VERIFIED])
def test_double_return_categories(category):
    d = decide(FeeClaim(category=category, customer=STD, charged_fen=1234))
    assert (d.kind, d.wrong_fen, d.amount_fen) == (Kind.DOUBLE, 1234, 2468)


def test_ultra_short_call_is_at_most_3_seconds():
    assert decide(FeeClaim(category=Category.ULTRA_SHORT_CALL, customer=STD, charged_fen=60, call_seconds=3)).amount_fen == 120
    with pytest.raises(FeeReturnRefused, match="3 s"):
        decide(FeeClaim(category=Category.ULTRA_SHORT_CALL, customer=STD, charged_fen=60, call_seconds=4))
    with pytest.raises(FeeReturnRefused):
        decide(FeeClaim(category=Category.ULTRA_SHORT_CALL, customer=STD, charged_fen=60))


def test_receipt_mismatch_returns_twice_the_difference():
    d = decide(FeeClaim(category=Category.RECEIPT_MISMATCH, customer=STD, charged_fen=3800, promised_fen=2800))
    assert (d.kind, d.wrong_fen, d.amount_fen) == (Kind.DOUBLE, 1000, 2000)
    with pytest.raises(FeeReturnRefused, match="nothing was overcharged"):
        decide(FeeClaim(category=Category.RECEIPT_MISMATCH, customer=STD, charged_fen=2800, promised_fen=2800))


def test_wrong_plan_returns_twice_the_positive_difference():
    d = decide(FeeClaim(category=Category.WRONG_PLAN, customer=STD, charged_fen=8800, promised_fen=5800))
    assert d.amount_fen == 6000
    with pytest.raises(FeeReturnRefused):
        decide(FeeClaim(category=Category.WRONG_PLAN, customer=STD, charged_fen=5800, promised_fen=8800))
    with pytest.raises(FeeReturnRefused, match="promised_fen"):
        decide(FeeClaim(category=Category.WRONG_PLAN, customer=STD, charged_fen=5800))


@pytest.mark.parametrize("category", [Category.CUSTOMER_CAUSE, Category.INTERCONNECTION, Category.INTERNATIONAL_ROAMING,
                                      Category.FORCE_MAJEURE, Category.OTHER])
def test_single_return_categories(category):
    d = decide(FeeClaim(category=category, customer=STD, charged_fen=999))
    assert (d.kind, d.amount_fen) == (Kind.SINGLE, 999)


def test_vip_rules():
    assert decide(FeeClaim(category=Category.VIP_SYSTEM_ERROR, customer=VIP, charged_fen=500)).amount_fen == 1000
    first = decide(FeeClaim(category=Category.VIP_INSISTS, customer=VIP, charged_fen=10_000))
    assert (first.kind, first.amount_fen) == (Kind.SINGLE, 10_000)  # exactly 100 yuan: still in
    again = decide(FeeClaim(category=Category.VIP_INSISTS, customer=VIP, charged_fen=500, returns_in_last_2_months=1))
    assert (again.kind, again.amount_fen) == (Kind.NONE, 0)
    above = decide(FeeClaim(category=Category.VIP_INSISTS, customer=VIP, charged_fen=10_001))
    assert (above.kind, above.amount_fen) == (Kind.NONE, 0)
    with pytest.raises(FeeReturnRefused, match="VIP customers only"):
        decide(FeeClaim(category=Category.VIP_INSISTS, customer=Customer.PREMIUM, charged_fen=500))


def test_value_added_single_now_top_up_when_confirmed_never_claw_back():
    d = decide(FeeClaim(category=Category.SP_UNVERIFIED, customer=STD, charged_fen=1500, monthly_subscription=True))
    assert (d.kind, d.amount_fen, d.sp_verification, d.offer_cancel_subscription) == (Kind.SINGLE, 1500, "pending", True)
    up = top_up(d, confirmed=True)
    assert (up.kind, up.amount_fen) == (Kind.TOP_UP, 1500) and d.amount_fen + up.amount_fen == 2 * d.wrong_fen
    assert top_up(d, confirmed=False) is None  # customer's own use: the single return stays
    with pytest.raises(FeeReturnRefused):
        top_up(up, confirmed=True)


@given(charged=st.integers(1, 10**7), promised=st.integers(0, 10**7))
def test_double_return_is_exactly_twice_the_wrong_amount(charged, promised):
    if charged <= promised:
        with pytest.raises(FeeReturnRefused):
            decide(FeeClaim(category=Category.RECEIPT_MISMATCH, customer=STD, charged_fen=charged, promised_fen=promised))
        return
    d = decide(FeeClaim(category=Category.RECEIPT_MISMATCH, customer=STD, charged_fen=charged, promised_fen=promised))
    assert d.amount_fen == 2 * (charged - promised) and isinstance(d.amount_fen, int)


def test_tiers_audit_and_separation_of_duties():
    assert [approval_tier(a) for a in (1, 5_000, 5_001, 50_000, 50_001)] == [1, 1, 2, 2, 3]
    assert not needs_audit(10_000) and needs_audit(10_001)
    assert check_approver(2, "op1", "op1", Role.MANAGER) is not None
    assert check_approver(2, "op1", "lead", Role.TEAM_LEAD) is None
    assert "manager" in check_approver(3, "op1", "lead", Role.TEAM_LEAD)
    assert check_approver(3, "op1", "boss", Role.MANAGER) is None
    assert check_auditor("op1", "op1", Role.AUDITOR) is not None
    assert check_auditor("op1", "aud", Role.TEAM_LEAD) is not None
    assert check_auditor("op1", "aud", Role.AUDITOR) is None
    assert check_auditor("op1", "lead", Role.AUDITOR, approver_id="lead") is not None  # approval and audit: two people
    assert check_auditor("op1", "aud", Role.AUDITOR, approver_id="lead") is None


def test_months_before_clamps_to_the_month_end():
    assert months_before(datetime(2026, 5, 31, 10, tzinfo=SHANGHAI), 2) == datetime(2026, 3, 31, 10, tzinfo=SHANGHAI)
    assert months_before(datetime(2026, 4, 30, 10, tzinfo=SHANGHAI), 2) == datetime(2026, 2, 28, 10, tzinfo=SHANGHAI)
    assert months_before(datetime(2026, 1, 15, tzinfo=SHANGHAI), 2) == datetime(2025, 11, 15, tzinfo=SHANGHAI)

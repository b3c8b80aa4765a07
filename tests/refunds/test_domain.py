"""Refund rules: fee math (worked examples of refund rules 4.3 + properties), error translation, loop decisions."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.refunds import (
    ChannelAnswer,
    ChannelPolicy,
    ChannelState,
    ErrorAction,
    ErrorMapping,
    FeeMode,
    FeeRule,
    LoopLimits,
    Next,
    PaymentBalance,
    RefundRefused,
    RefundSource,
    after_decline,
    audit_reasons,
    fee_back,
    mismatch,
    proportional_half_up,
    quote,
    sweep_next_check,
    translate,
)

PROPORTIONAL = FeeRule(mode=FeeMode.PROPORTIONAL)
NO_FEE = FeeRule(mode=FeeMode.NONE)


def _refund_in_parts(paid: int, fee: int, parts: list[int], rule: FeeRule = PROPORTIONAL) -> list[int]:
    balance = PaymentBalance(paid_fen=paid, fee_fen=fee)
    backs = []
    for amount in parts:
        q = quote(balance, amount, rule, NO_FEE)
        backs.append(q.fee_back_fen)
        balance = q.after
    return backs


# ---- the worked examples (refund rules 4.3) ----------------------------------------------------------------


def test_seed_100_yuan_with_half_yuan_fee_fee_runs_out_before_the_amount():
    # 100.00 paid, 0.50 fee, refunded in three parts: each trial fee 0.1666.. rounds up to 0.17; the
    # third would bring 0.51 back, so it is capped by the remaining fee 0.16: never more than charged.
    assert _refund_in_parts(10_000, 50, [3333, 3333, 3334]) == [17, 17, 16]
    # in 1.00 parts: each trial fee 0.005 rounds half up to 0.01, so the fee is used up after 50 parts
    backs = _refund_in_parts(10_000, 50, [100] * 100)
    assert backs[:50] == [1] * 50 and backs[50:] == [0] * 50 and sum(backs) == 50


def test_seed_1000_yuan_with_4_yuan_fee_leaves_a_fen_unreturned():
    # 1000.00 paid, 4.00 fee, three parts: 1.33 each; after the full refund 0.01 of fee stays, as allowed
    assert _refund_in_parts(100_000, 400, [33_333, 33_333, 33_334]) == [133, 133, 133]
    # two halves return the whole fee; a full refund at once returns the whole fee
    assert _refund_in_parts(100_000, 400, [50_000, 50_000]) == [200, 200]
    assert _refund_in_parts(100_000, 400, [100_000]) == [400]
    # in 1.00 parts the trial fee 0.004 rounds to nothing: no fee back at all, refund rules 4.2 allow it
    assert sum(_refund_in_parts(100_000, 400, [100] * 1000)) == 0


def test_fixed_fee_mode_returns_one_fixed_amount_per_refund_until_the_fee_is_used_up():
    fixed = FeeRule(mode=FeeMode.FIXED, fixed_fen=30)
    assert _refund_in_parts(10_000, 50, [1000, 1000, 1000], fixed) == [30, 20, 0]


def test_no_fee_back_mode():
    assert _refund_in_parts(10_000, 50, [5000, 5000], NO_FEE) == [0, 0]


def test_rounding_is_half_up_at_exactly_half_a_fen():
    assert proportional_half_up(1, 2, 1) == 1  # 0.5 -> 1
    assert proportional_half_up(1, 3, 1) == 0  # 0.33 -> 0
    assert proportional_half_up(2, 3, 1) == 1  # 0.67 -> 1


def test_a_refund_above_the_remaining_amount_is_refused_in_plain_words():
    balance = PaymentBalance(paid_fen=10_000, fee_fen=50, committed_fen=9_000)
    with pytest.raises(RefundRefused, match="exceeds the remaining refundable amount 10.00"):
        quote(balance, 1_001, PROPORTIONAL, NO_FEE)
    assert quote(balance, 1_000, PROPORTIONAL, NO_FEE).after.remaining_fen == 0
    with pytest.raises(RefundRefused):
        quote(balance, 0, PROPORTIONAL, NO_FEE)


def test_channel_cost_rule_is_computed_beside_the_merchant_fee():
    balance = PaymentBalance(paid_fen=100_000, fee_fen=400, channel_cost_fen=250)
    q = quote(balance, 40_000, NO_FEE, PROPORTIONAL)
    assert (q.fee_back_fen, q.channel_cost_back_fen, q.merchant_debit_fen) == (0, 100, 40_000)
    q = quote(balance, 40_000, PROPORTIONAL, FeeRule(mode=FeeMode.NONE))
    assert (q.fee_back_fen, q.channel_cost_back_fen, q.merchant_debit_fen) == (160, 0, 39_840)


# ---- properties ------------------------------------------------------------------------------------

rules = st.one_of(
    st.just(PROPORTIONAL), st.just(NO_FEE),
    st.integers(0, 500).map(lambda f: FeeRule(mode=FeeMode.FIXED, fixed_fen=f)),
)


@st.composite
def payment_and_parts(draw):
    paid = draw(st.integers(1, 10_000_000))
    fee = draw(st.integers(0, max(0, paid // 10)))
    parts, left = [], paid
    while left > 0 and len(parts) < 40:
        part = draw(st.integers(1, left))
        parts.append(part)
        left -= part
        if draw(st.booleans()):
            break
    return paid, fee, parts


@given(payment_and_parts(), rules)
def test_never_more_fee_back_than_charged_and_every_sum_is_exact(case, rule):
    paid, fee, parts = case
    balance = PaymentBalance(paid_fen=paid, fee_fen=fee, channel_cost_fen=fee // 2)
    quotes = []
    for amount in parts:
        q = quote(balance, amount, rule, PROPORTIONAL)
        assert 0 <= q.fee_back_fen <= q.after.fee_fen
        quotes.append(q)
        balance = q.after
    assert sum(q.fee_back_fen for q in quotes) == balance.fee_committed_fen <= fee
    assert sum(q.channel_cost_back_fen for q in quotes) == balance.cost_committed_fen <= fee // 2
    assert sum(q.amount_fen for q in quotes) == balance.committed_fen <= paid
    assert sum(q.merchant_debit_fen + q.fee_back_fen for q in quotes) == balance.committed_fen
    with pytest.raises(RefundRefused):
        quote(balance, balance.remaining_fen + 1, rule, PROPORTIONAL)


@given(payment_and_parts())
def test_proportional_fee_is_within_half_a_fen_per_part_of_the_exact_share_unless_capped(case):
    paid, fee, parts = case
    backs = _refund_in_parts(paid, fee, parts)
    exact = sum(parts) * fee / paid
    total = sum(backs)
    assert total <= fee
    if total < fee:  # not capped: rounding error at most half a fen per part
        assert abs(total - exact) <= len(parts) / 2 + 1e-9


@given(st.integers(1, 10_000_000), st.integers(0, 100_000))
def test_a_full_refund_at_once_returns_the_whole_fee(paid, fee):
    assert fee_back(PROPORTIONAL, paid, fee, paid, 0) == fee


# ---- error translation -----------------------------------------------------------------------------


def test_seed_error_examples_translate_to_their_actions():
    void, known = translate("unionpay", "CARD_VOID", [])
    assert known and void.action == ErrorAction.FAIL_FINAL and "void" in void.merchant_message
    freq, _ = translate("unionpay", "TOO_FREQUENT", [])
    assert freq.action == ErrorAction.NEW_SERIAL_RETRY_LATER and freq.retry_after_s > 0
    vol, _ = translate("unionpay", "DAILY_VOLUME_LOW", [])
    assert vol.action == ErrorAction.NEW_SERIAL_RETRY_LATER


def test_unknown_code_goes_to_manual_and_ops_rows_override_built_ins():
    unknown, known = translate("wechat", "E9999", [])
    assert not known and unknown.action == ErrorAction.MANUAL and unknown.raw_code == "E9999"
    ops = [ErrorMapping(channel="wechat", raw_code="E9999", internal_code="x_limit", merchant_message="later",
                        action=ErrorAction.NEW_SERIAL_RETRY_LATER, retry_after_s=10),
           ErrorMapping(channel="*", raw_code="CARD_VOID", internal_code="card_void_manual", merchant_message="m",
                        action=ErrorAction.MANUAL)]
    m, known = translate("wechat", "E9999", ops)
    assert known and m.internal_code == "x_limit"
    assert translate("unionpay", "E9999", ops)[1] is False  # the row is for wechat only
    assert translate("unionpay", "CARD_VOID", ops)[0].action == ErrorAction.MANUAL


def test_after_decline_is_bounded_so_no_code_loops_forever():
    limits = LoopLimits(max_serials=3, max_same_resends=2)
    freq, _ = translate("c", "TOO_FREQUENT", [])
    assert after_decline(freq, 1, 0, limits)[:2] == (Next.NEW_SERIAL, 60)
    assert after_decline(freq, 3, 0, limits)[0] == Next.MANUAL
    busy, _ = translate("c", "SYSTEM_BUSY", [])
    assert after_decline(busy, 1, 1, limits)[0] == Next.RESEND_SAME
    assert after_decline(busy, 1, 2, limits)[0] == Next.MANUAL
    assert after_decline(translate("c", "CARD_VOID", [])[0], 1, 0, limits)[0] == Next.FINISH_FAILED
    assert after_decline(translate("c", "NO_REFUND_API", [])[0], 1, 0, limits)[0] == Next.FALLBACK
    assert after_decline(translate("c", "???", [])[0], 1, 0, limits)[0] == Next.MANUAL


def test_answers_about_another_serial_or_amount_are_mismatches():
    ok = ChannelAnswer(state=ChannelState.SUCCESS, serial="S1", amount_fen=100)
    assert mismatch(ok, "S1", 100) is None
    assert "serial" in mismatch(ok, "S2", 100)
    assert "amount" in mismatch(ok, "S1", 99)
    assert mismatch(ChannelAnswer(state=ChannelState.UNKNOWN), "S1", 100) is None


def test_audit_reasons():
    now = datetime(2026, 11, 1, tzinfo=UTC)
    good = ChannelPolicy(channel="unionpay")
    assert audit_reasons(good, 10_000, now - timedelta(days=1), now, RefundSource.MERCHANT) == []
    assert audit_reasons(good.model_copy(update={"auto_audit": False}), 10_000, now, now, RefundSource.MERCHANT)
    assert audit_reasons(good.model_copy(update={"pre_debit": True}), 10_000, now, now, RefundSource.MERCHANT)
    assert audit_reasons(good, good.auto_audit_limit_fen + 1, now, now, RefundSource.MERCHANT)
    assert audit_reasons(good, 100, now - timedelta(days=181), now, RefundSource.MERCHANT)
    off = good.model_copy(update={"auto_audit": False})
    assert audit_reasons(off, 100, now, now, RefundSource.DUPLICATE_PAYMENT) == []


def test_sweep_backoff_runs_out():
    now = datetime(2026, 11, 1, tzinfo=UTC)
    assert sweep_next_check([60, 300], 0, now) == now + timedelta(seconds=60)
    assert sweep_next_check([60, 300], 1, now) == now + timedelta(seconds=300)
    assert sweep_next_check([60, 300], 2, now) is None

"""The remaining-amount check in the database, on SQLite and PostgreSQL: concurrency, idempotency, release."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.refunds import RefundActivities
from db.refunds import Payment, Refund, RefundEvent
from domain.refunds import RefundRoute, RefundSource, RefundStatus
from gateways.payment_channel import PaymentChannelGateway
from services import refunds as svc
from tests.refunds.fixtures import MERCHANT, OTHER_MERCHANT, pay, seed_refund_reference
from workflows.refunds.contract import RefundProgress


@pytest.fixture
def ref(db):
    seed_refund_reference(db)
    return db


def _ask(engine, no: str, payment_id: str, amount: int, merchant: str = MERCHANT, **kw):
    with Session(engine) as s:
        return svc.request_refund(s, svc.NewRefund(merchant_id=merchant, merchant_refund_no=no, payment_id=payment_id,
                                                   amount_fen=amount, reason="customer returned goods", **kw))


def test_fifty_concurrent_partial_refunds_never_exceed_the_payment(ref):
    pay(ref, "P-FLASH", paid_fen=10_000, fee_fen=50)

    def one(i: int):
        try:
            refund, created = _ask(ref, f"FLASH-{i}", "P-FLASH", 300)
            return refund.id if created else None
        except svc.Refused as err:
            assert "exceeds the remaining refundable amount" in err.reason
            return "refused"

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(50)))
    accepted = [r for r in results if r not in ("refused", None)]
    assert len(accepted) == 33 and results.count("refused") == 17  # 33 x 3.00 = 99.00 <= 100.00 < 34 x 3.00
    with Session(ref) as s:
        payment = s.get(Payment, "P-FLASH")
        refunds = s.exec(select(Refund).where(Refund.payment_id == "P-FLASH")).all()
    assert payment.committed_fen == sum(r.amount_fen for r in refunds) == 9_900
    assert payment.fee_committed_fen == sum(r.fee_back_fen for r in refunds) <= payment.fee_fen
    assert all(r.merchant_debit_fen + r.fee_back_fen == r.amount_fen for r in refunds)


def test_the_merchant_refund_number_is_the_idempotency_key(ref):
    pay(ref, "P1")
    first, created = _ask(ref, "R-1", "P1", 4_000)
    again, created_again = _ask(ref, "R-1", "P1", 4_000)
    assert created and not created_again and again.id == first.id
    with pytest.raises(svc.Conflict, match="different amount_fen"):
        _ask(ref, "R-1", "P1", 4_001)
    with Session(ref) as s:
        assert s.get(Payment, "P1").committed_fen == 4_000


def test_refusals_in_plain_words(ref):
    pay(ref, "P2")
    with pytest.raises(svc.NotFound, match="unknown payment"):
        _ask(ref, "X", "P-NOPE", 100)
    with pytest.raises(svc.Refused, match="belongs to another merchant"):
        _ask(ref, "X", "P2", 100, merchant=OTHER_MERCHANT)
    with pytest.raises(svc.Refused, match=r"exceeds the remaining refundable amount 100\.00"):
        _ask(ref, "X", "P2", 10_001)


def test_fee_settings_per_product_and_the_seed_example_through_the_database(ref):
    pay(ref, "P100", paid_fen=10_000, fee_fen=50, product="quick")
    backs = [_ask(ref, f"S-{i}", "P100", amt)[0].fee_back_fen for i, amt in enumerate([3333, 3333, 3334])]
    assert backs == [17, 17, 16]
    pay(ref, "PFIX", paid_fen=10_000, fee_fen=50, product="wechat_mp")
    assert [_ask(ref, f"F-{i}", "PFIX", 1000)[0].fee_back_fen for i in range(3)] == [30, 20, 0]
    pay(ref, "PNONE", product="no_fee")
    assert _ask(ref, "N-1", "PNONE", 5000)[0].fee_back_fen == 0


def test_audit_decision_is_taken_at_request_time(ref):
    pay(ref, "PA", channel="manualpay")
    refund, _ = _ask(ref, "A-1", "PA", 100)
    assert refund.status == RefundStatus.AWAITING_AUDIT.value and "switched off" in refund.audit_reasons
    pay(ref, "PB")
    assert _ask(ref, "B-1", "PB", 100)[0].status == RefundStatus.PROCESSING.value
    with Session(ref) as s:
        svc.set_channel(s, "unionpay", "auto_audit", False, "ops:lee", "channel incident 2026-11-25")
        assert svc.channel_switches(s, "unionpay")[0].reason == "channel incident 2026-11-25"
    assert _ask(ref, "B-2", "PB", 100)[0].status == RefundStatus.AWAITING_AUDIT.value


def test_exception_orders_refund_automatically(ref):
    pay(ref, "PD1", order_no="ORDER-9")
    dup = pay(ref, "PD2", order_no="ORDER-9")
    assert dup.auto_refund is not None
    assert dup.auto_refund.source == RefundSource.DUPLICATE_PAYMENT.value
    assert dup.auto_refund.amount_fen == 10_000 and dup.auto_refund.fee_back_fen == 50
    assert dup.auto_refund.status == RefundStatus.PROCESSING.value  # no manual audit for exception orders
    low = pay(ref, "PLOW", paid_fen=30, fee_fen=50)
    assert low.auto_refund.source == RefundSource.BELOW_FEE.value and low.auto_refund.amount_fen == 30
    assert pay(ref, "PLOW", paid_fen=30, fee_fen=50).auto_refund.id == low.auto_refund.id  # idempotent
    assert pay(ref, "PD1", order_no="ORDER-9").auto_refund is None


def _progress(engine, refund_id: str, status: RefundStatus, key: str) -> None:
    acts = RefundActivities(engine, PaymentChannelGateway("http://127.0.0.1:9", "x"))
    ActivityEnvironment().run(acts.record_refund_progress, RefundProgress(
        refund_id=refund_id, status=status, event=status.value, event_key=key, route=RefundRoute.CHANNEL))


def test_failed_and_rejected_refunds_release_their_amount_once(ref):
    pay(ref, "PR")
    a, _ = _ask(ref, "RA", "PR", 6_000)
    b, _ = _ask(ref, "RB", "PR", 4_000)
    with pytest.raises(svc.Refused):
        _ask(ref, "RC", "PR", 1)
    _progress(ref, a.id, RefundStatus.FAILED, "k1")
    _progress(ref, a.id, RefundStatus.FAILED, "k1")  # a retried activity
    _progress(ref, b.id, RefundStatus.SUCCEEDED, "k2")
    with Session(ref) as s:
        p = s.get(Payment, "PR")
        assert (p.committed_fen, p.succeeded_fen) == (4_000, 4_000)
        assert len(s.exec(select(RefundEvent).where(RefundEvent.refund_id == a.id, RefundEvent.kind == "failed")).all()) == 1
    assert _ask(ref, "RC", "PR", 6_000)[1] is True
    with pytest.raises(svc.Refused):
        _ask(ref, "RD", "PR", 1)

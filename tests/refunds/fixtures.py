"""Reference data for refund tests on the real (migrated) databases: channels, merchants, products, payments."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from db.refunds import Merchant, MerchantProduct, RefundChannel
from services import refunds as svc

MERCHANT = "M100"
OTHER_MERCHANT = "M200"
NOTIFY_SECRET = "dev-merchant-secret"


def seed_refund_reference(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(RefundChannel(id="unionpay", name="UnionPay", cost_mode="proportional"))
        s.add(RefundChannel(id="manualpay", name="Manual-audit bank", auto_audit=False))
        s.add(RefundChannel(id="predebit", name="Pre-debit bank", pre_debit=True))
        s.add(RefundChannel(id="quickpay", name="Quick pay (no refund API)", has_refund_api=False, cost_mode="none"))
        s.add(Merchant(id=MERCHANT, name="Flash-sale shop", notify_secret=NOTIFY_SECRET))
        s.add(Merchant(id=OTHER_MERCHANT, name="Other shop", notify_secret=NOTIFY_SECRET))
        s.flush()
        s.add(MerchantProduct(merchant_id=MERCHANT, product="quick", fee_mode="proportional"))
        s.add(MerchantProduct(merchant_id=MERCHANT, product="wechat_mp", fee_mode="fixed", fixed_fee_fen=30))
        s.add(MerchantProduct(merchant_id=MERCHANT, product="no_fee", fee_mode="none"))
        s.commit()


def pay(engine: Engine, payment_id: str, paid_fen: int = 10_000, fee_fen: int = 50, channel: str = "unionpay",
        product: str = "quick", merchant: str = MERCHANT, order_no: str | None = None, wallet: str | None = None,
        paid_at: datetime | None = None, callback_url: str | None = None) -> svc.RecordedPayment:
    with Session(engine) as s:
        return svc.record_payment(s, svc.NewPayment(
            id=payment_id, merchant_id=merchant, merchant_order_no=order_no or f"ORD-{payment_id}", channel=channel,
            product=product, paid_fen=paid_fen, fee_fen=fee_fen, channel_cost_fen=fee_fen // 2,
            consumer_card_masked="6222****1234", consumer_wallet_id=wallet,
            paid_at=paid_at or datetime.now(UTC) - timedelta(days=1), callback_url=callback_url))

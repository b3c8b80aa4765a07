"""An order's customer, its submission to the carrier and its payment (docs/fulfilment.md).

The customer (recipient and real-name holder) is sealed in `order_customer` and read back only by the submission
activity and by a person with customer_data.read; answers mask it. A paid order's payment is a payment of the
platform's own shop in the refunds business (`core.settings.order_merchant_id`), so its refund goes through the
refund engine like any other: the order asks for it, the refund's outcome is read back onto the order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import structlog
from pydantic import BaseModel
from sqlmodel import Session, col, update

from core import crypto
from core.errors import Refused
from core.settings import get_settings
from db.fulfilment import OrderCustomer, OrderPayment, OrderSubmission
from db.orders import Order
from domain.orders.customer import Address, Customer, RealName, Recipient
from domain.orders.payment import refund_due
from services import refunds

log = structlog.get_logger(__name__)


# ---- the customer ----------------------------------------------------------------------------------------------


def store_customer(session: Session, order_id: str, msisdn: str, customer: Customer | None) -> None:
    """In the placement's transaction. Orders placed without one (clients before the customer data) keep none:
    the carrier refuses them as incomplete."""
    if customer is None:
        return
    r, h, a = customer.recipient, customer.real_name, customer.recipient.address
    session.add(OrderCustomer(
        order_id=order_id, msisdn=msisdn, recipient_name=r.name, recipient_phone=r.phone,
        recipient_phone_fingerprint=crypto.fingerprint(r.phone), province=a.province, city=a.city,
        district=a.district, street=a.street, postcode=a.postcode or "", holder_name=h.name, id_number=h.id_number,
        id_fingerprint=crypto.fingerprint(h.id_number)))


def number_of(session: Session, order_id: str) -> str | None:
    row = session.get(OrderCustomer, order_id)
    return row.msisdn if row is not None else None


def customer_of(session: Session, order_id: str) -> Customer | None:
    row = session.get(OrderCustomer, order_id)
    if row is None:
        return None
    return Customer(
        recipient=Recipient(name=row.recipient_name, phone=row.recipient_phone,
                            address=Address(province=row.province, city=row.city, district=row.district,
                                            street=row.street, postcode=row.postcode or None)),
        real_name=RealName(name=row.holder_name, id_number=row.id_number))


# ---- the payment -----------------------------------------------------------------------------------------------


class PaidWith(BaseModel):
    amount_fen: int
    channel: str
    voucher: str


@dataclass(frozen=True)
class PaymentView:
    amount_fen: int
    channel: str
    voucher: str
    payment_id: str
    paid_at: datetime
    refund_id: str | None
    refund_reason: str
    refund_status: str | None
    refunded_fen: int


def payment_id_for(agent_id: str, idempotency_key: str) -> str:
    """Known before the order row exists, the same on a client's retry: the payment is recorded first."""
    return "OP" + hashlib.sha256(f"{agent_id}\n{idempotency_key}".encode()).hexdigest()[:20].upper()


def record_customer_payment(session: Session, payment_id: str, product_id: str, paid: PaidWith,
                            at: datetime) -> None:
    """The payment as a payment of the platform's shop in the refunds business (idempotent by its id): an unknown
    channel is refused before any order exists."""
    merchant = get_settings().order_merchant_id
    refunds.ensure_merchant(session, merchant, "Simbo shop (customers' order payments)")
    try:
        refunds.record_payment(session, refunds.NewPayment(
            id=payment_id, merchant_id=merchant, merchant_order_no=payment_id, channel=paid.channel,
            product=product_id, paid_fen=paid.amount_fen, fee_fen=0, paid_at=at))
    except Refused as err:
        raise Refused(f"payment not recorded: {err.reason}", type="payment_refused") from None


def store_payment(session: Session, order: Order, paid: PaidWith | None, payment_id: str | None,
                  at: datetime) -> None:
    if paid is None or payment_id is None:
        return
    session.add(OrderPayment(order_id=order.id, amount_fen=paid.amount_fen, channel=paid.channel,
                             voucher=paid.voucher, payment_id=payment_id, paid_at=at))


def payment_view(session: Session, order_id: str) -> PaymentView | None:
    row = session.get(OrderPayment, order_id)
    if row is None:
        return None
    status, refunded = None, 0
    if row.refund_id:
        detail = refunds.get_refund(session, row.refund_id)
        status = detail.refund.status
        refunded = detail.refund.amount_fen if status == "succeeded" else 0
    return PaymentView(amount_fen=row.amount_fen, channel=row.channel, voucher=row.voucher, payment_id=row.payment_id,
                       paid_at=row.paid_at, refund_id=row.refund_id, refund_reason=row.refund_reason,
                       refund_status=status, refunded_fen=refunded)


def request_order_refund(session: Session, order_id: str, status: str, failure_reason: str | None) -> str | None:
    """Ask the refund engine for the full payment back (idempotent: the refund number is the order id). Returns the
    refund id, or None when nothing is to be refunded."""
    row = session.get(OrderPayment, order_id)
    if row is None or not refund_due(status, failure_reason):
        return None
    if row.refund_id:
        return row.refund_id
    why = f"order {order_id} ended {failure_reason or status} before the customer had the card"
    merchant = get_settings().order_merchant_id
    refund, _ = refunds.request_refund(session, refunds.NewRefund(
        merchant_id=merchant, merchant_refund_no=f"ORDER-{order_id}", payment_id=row.payment_id,
        amount_fen=row.amount_fen, reason=why, requested_by="system:order", source=refunds.RefundSource.ORDER_UNFULFILLED))
    row = session.get(OrderPayment, order_id)
    assert row is not None
    row.refund_id, row.refund_reason = refund.id, why
    session.add(row)
    session.commit()
    log.info("order refund requested", order_id=order_id, refund_id=refund.id, amount_fen=refund.amount_fen)
    return refund.id


# ---- the submission ----------------------------------------------------------------------------------------------


def record_submission(session: Session, order_id: str, carrier: str, accepted: bool, carrier_order_no: str,
                      reason: str | None, detail: str, at: datetime) -> OrderSubmission:
    """Once per order: a retried activity finds the first answer and keeps it. An acceptance shows on the order's
    row at once (the tracking table's "accepted" link), in the same transaction: the order may rest as placed."""
    row = session.get(OrderSubmission, order_id)
    if row is None:
        row = OrderSubmission(order_id=order_id, carrier=carrier, accepted=accepted, carrier_order_no=carrier_order_no,
                              reason=reason, detail=detail[:500], at=at)
        session.add(row)
        if accepted:
            session.exec(update(Order).where(col(Order.id) == order_id, col(Order.carrier_accepted_at).is_(None))
                         .values(carrier_accepted_at=at))
        session.commit()
        session.refresh(row)
    return row


def submission_of(session: Session, order_id: str) -> OrderSubmission | None:
    return session.get(OrderSubmission, order_id)

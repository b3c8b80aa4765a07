"""Fulfilment of orders (docs/fulfilment.md): the number stock, the customer an order is for (sealed), the
carrier's answer to the submission, and the customer's payment with its refund."""

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from core.db import Aware, Sealed, utcnow


class StockNumber(SQLModel, table=True):
    """One number of our pool. The number itself is the carrier's inventory, listed to customers to choose from,
    so it is kept in clear; who holds it is the order (`order_id`), whose customer data is sealed."""

    __tablename__ = "stock_number"
    __table_args__ = (Index("ix_stock_product_state", "product_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    msisdn: str = Field(unique=True)
    product_id: str = Field(foreign_key="product.id")
    carrier: str = Field(index=True)
    state: str = Field(index=True)  # domain.orders.stock.NumberState
    order_id: str | None = Field(default=None, index=True)  # the order holding it (reserved, assigned) or last held it
    reserved_until: datetime | None = Aware(nullable=True)  # a reservation not confirmed by then lapses
    quarantined_until: datetime | None = Aware(nullable=True)  # available again after it
    state_since: datetime = Aware(nullable=False, default=utcnow)
    import_id: str = Field(index=True)
    imported_at: datetime = Aware(nullable=False, default=utcnow)


class StockImport(SQLModel, table=True):
    __tablename__ = "stock_import"

    id: str = Field(primary_key=True)
    imported_by: str
    numbers: int
    products: str  # comma-separated product ids of the file
    at: datetime = Aware(nullable=False, default=utcnow)


class StockAlert(SQLModel, table=True):
    """A low-stock alert to ops: one per product and Shanghai day."""

    __tablename__ = "stock_alert"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    product_id: str = Field(index=True)
    available: int
    low_level: int
    message: str
    at: datetime = Aware(nullable=False, default=utcnow)


class OrderCustomer(SQLModel, table=True):
    """The recipient and the real-name holder of an order: personal data, sealed at rest; fingerprints for lookups."""

    __tablename__ = "order_customer"

    order_id: str = Field(primary_key=True, foreign_key="orders.id")
    msisdn: str = Sealed()  # the order's number in full, for the carrier (the order row has it masked only)
    recipient_name: str = Sealed()
    recipient_phone: str = Sealed()
    recipient_phone_fingerprint: str = Field(index=True)
    province: str  # not personal by itself, and what coverage and delivery statistics group by
    city: str
    district: str = Sealed()
    street: str = Sealed()
    postcode: str = ""
    holder_name: str = Sealed()
    id_number: str = Sealed()
    id_fingerprint: str = Field(index=True)


class OrderSubmission(SQLModel, table=True):
    """The carrier's answer to the order: its order number or its refusal (one row per order, idempotent)."""

    __tablename__ = "order_submission"

    order_id: str = Field(primary_key=True, foreign_key="orders.id")
    carrier: str
    accepted: bool
    carrier_order_no: str = ""
    reason: str | None = Field(default=None, index=True)
    detail: str = ""
    at: datetime = Aware(nullable=False, default=utcnow)


class OrderPayment(SQLModel, table=True):
    """What the customer paid for a paid product; recorded as a payment of the platform's shop in the refunds
    business (`payment_id`), which refunds it when the order is cancelled before shipment or its delivery fails."""

    __tablename__ = "order_payment"

    order_id: str = Field(primary_key=True, foreign_key="orders.id")
    amount_fen: int
    channel: str
    voucher: str  # the channel's payment voucher (transaction number) the customer paid with
    payment_id: str = Field(index=True)
    refund_id: str | None = Field(default=None, index=True)
    refund_reason: str = ""
    paid_at: datetime = Aware(nullable=False, default=utcnow)

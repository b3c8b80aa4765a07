"""A paid order's payment: when it goes back to the customer (docs/fulfilment.md, "Paid products")."""

from domain.orders.order import FailureReason

# Endings before the customer had the card: cancelled before shipment, a delivery that finally failed, and the
# carrier's refusal of the order (nothing was shipped). Any later failure (recharge missing, ...) keeps the payment:
# the card was delivered.
REFUND_REASONS = frozenset({FailureReason.ORDER_CANCELLED.value, FailureReason.DELIVERY_FAILED.value,
                            FailureReason.REAL_NAME_CHECK_FAILED.value, FailureReason.OUTSIDE_COVERAGE.value,
                            FailureReason.NUMBER_UNAVAILABLE.value, FailureReason.CARRIER_REFUSED.value,
                            FailureReason.INCOMPLETE_ORDER_DATA.value})
# terminal statuses of their own that end an order before the customer had the card
REFUND_STATUSES = frozenset({"delivery_failed", "cancelled"})


def refund_due(status: str, failure_reason: str | None) -> bool:
    return status in REFUND_STATUSES or (status == "failed" and failure_reason in REFUND_REASONS)

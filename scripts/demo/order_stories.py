"""Scripted order lives for the carrier simulator: the demo and the benchmark build them here."""

from datetime import datetime, timedelta
from typing import Any

from domain.orders.order import ProductTerms

IN_NETWORK = {"in_network": True, "mode": None, "cause": None, "cancelled": False}


def wire(order_id: str, n: int, kind: str, at: datetime, **fields: Any) -> dict:
    return {"event_id": f"{order_id}-{n}-{kind}", "order_id": order_id, "kind": kind,
            "occurred_at": at.isoformat(), **{k: v for k, v in fields.items() if v is not None}}


def life(
    order_id: str,
    msisdn: str,
    terms: ProductTerms,
    start: datetime,
    *,
    until: str = "recharged",
    recharge_fen: int | None = None,
    recharge_to: str | None = None,
    recharge_after: timedelta = timedelta(days=2),
    activation_after_signed: timedelta = timedelta(days=1),
    exception: str | None = None,
    activation_failure: str | None = None,
    extra: list[dict] | None = None,
) -> list[dict]:
    """Events from shipment on, stopping after the `until` link (placed, shipped, signed, activated, recharged)."""
    events: list[dict] = []
    if until == "placed":
        return events
    events.append(wire(order_id, 1, "shipped", start, tracking_no=f"SF{order_id[-8:]}"))
    if exception:
        events.append(wire(order_id, 2, "delivery", start + timedelta(days=1), delivery_status=exception))
    if until == "shipped":
        return events
    signed = start + timedelta(days=2)
    events.append(wire(order_id, 3, "delivery", signed, delivery_status="signed"))
    if activation_failure:
        events.append(wire(order_id, 4, "activation_failed", signed + timedelta(days=1), reason=activation_failure))
        return events
    if until == "signed":
        return events
    activated = signed + activation_after_signed
    events.append(wire(order_id, 5, "activated", activated))
    if until == "activated":
        return events
    events.append(wire(order_id, 6, "recharged", activated + recharge_after,
                       amount_fen=terms.min_first_recharge_fen if recharge_fen is None else recharge_fen,
                       to_msisdn=recharge_to or msisdn))
    return events + (extra or [])


def scenario(order_id: str, carrier: str, msisdn: str, events: list[dict], *, audit_month: str | None = None,
             approved: bool = True, commission_fen: int = 0, reason: str | None = None,
             final_status: dict | None = None, push: str = "now") -> dict:
    return {
        "order_id": order_id,
        "carrier": carrier,
        "msisdn": msisdn,
        "events": events,
        "final_status": final_status or IN_NETWORK,
        "audit": {"month": audit_month, "approved": approved, "commission_fen": commission_fen, "reason": reason}
        if audit_month else None,
        "push": push,
    }

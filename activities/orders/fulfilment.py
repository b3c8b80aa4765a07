"""The order's fulfilment steps (docs/fulfilment.md): its submission to the carrier, with the number confirmed from
the stock first, and the refund of a paid order that ended before the customer had the card.

Each step is idempotent by the order id: a retried submission finds the recorded answer (and the carrier answers a
repeat with its first answer), a retried refund finds the refund it asked for. No database transaction is held
across the carrier call or the refund workflow's start.
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.http import PeerRejected, PeerUnavailable
from db.orders import Order
from domain.orders.order import FailureReason, Submission
from gateways.carrier import CarrierGateway
from services import refunds
from services.orders import fulfilment, stock
from workflows.orders import contract
from workflows.orders.contract import OrderRefundRequest, SubmitRequest

log = structlog.get_logger()

KNOWN_REFUSALS = {r.value: r for r in (FailureReason.REAL_NAME_CHECK_FAILED, FailureReason.OUTSIDE_COVERAGE,
                                       FailureReason.NUMBER_UNAVAILABLE, FailureReason.INCOMPLETE_ORDER_DATA,
                                       FailureReason.IDENTITY_VERIFICATION_FAILED, FailureReason.POLICY_CHANGE)}


def _answer(row) -> Submission:
    reason = FailureReason(row.reason) if row.reason else None
    return Submission(accepted=row.accepted, at=row.at, carrier_order_no=row.carrier_order_no, reason=reason,
                      detail=row.detail)


class FulfilmentActivities:
    def __init__(self, engine: Engine, gateway: CarrierGateway) -> None:
        self.engine = engine
        self.gateway = gateway

    @activity.defn(name=contract.SUBMIT_ORDER)
    async def submit_order(self, req: SubmitRequest) -> Submission:
        """Confirm the number (reserved -> assigned), then tell the carrier; record and return its answer."""

        def prepare() -> tuple[Submission | None, dict | None]:
            now = datetime.now(UTC)
            with Session(self.engine) as s:
                done = fulfilment.submission_of(s, req.order_id)
                if done is not None:
                    return _answer(done), None
                order = s.get(Order, req.order_id)
                if order is None:
                    raise ApplicationError(f"no order row {req.order_id}", type="NotFound", non_retryable=True)
                if not stock.confirm(s, req.order_id, now):
                    s.commit()
                    row = fulfilment.record_submission(
                        s, req.order_id, req.carrier, False, "", FailureReason.NUMBER_UNAVAILABLE.value,
                        "the reservation lapsed and another order took the number; the carrier was not asked", now)
                    return _answer(row), None
                s.commit()
                customer = fulfilment.customer_of(s, req.order_id)
                number = stock.number_of(s, req.order_id) or fulfilment.number_of(s, req.order_id)
                body: dict = {"order_id": order.id, "product_id": order.product_id, "msisdn": number or "",
                              "recipient": None, "real_name": None}
                if customer is not None:
                    body["recipient"] = customer.recipient.model_dump(mode="json")
                    body["real_name"] = customer.real_name.model_dump(mode="json")
                return None, body

        done, body = await anyio.to_thread.run_sync(prepare)
        if done is not None:
            return done
        assert body is not None
        try:
            answer = await self.gateway.submit_order(req.carrier, body)
            accepted, order_no = answer.accepted, answer.carrier_order_no
            code = answer.reason
            detail = answer.detail or answer.reason
        except PeerUnavailable as err:  # retried by Temporal: the carrier dedupes by order id
            raise ApplicationError(str(err), type="PeerUnavailable") from err
        except PeerRejected as err:  # the carrier refused the request itself: a refusal with its words
            accepted, order_no, code, detail = False, "", "", f"carrier refused the request: {err}"
        reason = None if accepted else KNOWN_REFUSALS.get(code, FailureReason.CARRIER_REFUSED)
        if reason == FailureReason.CARRIER_REFUSED and code:
            detail = f"{code}: {detail}" if detail != code else code

        def record() -> Submission:
            with Session(self.engine) as s:
                row = fulfilment.record_submission(s, req.order_id, req.carrier, accepted, order_no,
                                                   reason.value if reason else None, detail, datetime.now(UTC))
                return _answer(row)

        result = await anyio.to_thread.run_sync(record)
        log.info("order submitted to the carrier", order_id=req.order_id, carrier=req.carrier,
                 accepted=result.accepted, carrier_order_no=result.carrier_order_no,
                 reason=result.reason.value if result.reason else None, workflow_id=activity.info().workflow_id)
        return result

    @activity.defn(name=contract.REFUND_ORDER)
    async def refund_order(self, req: OrderRefundRequest) -> str:
        """Ask the refund engine for the customer's payment back and start the refund's process. '' when the order
        has nothing to refund (not paid, or an ending that keeps the payment)."""

        def ask() -> str | None:
            with Session(self.engine) as s:
                return fulfilment.request_order_refund(s, req.order_id, req.status, req.failure_reason)

        refund_id = await anyio.to_thread.run_sync(ask)
        if refund_id is None:
            return ""

        def inp():
            with Session(self.engine) as s:
                return refunds.refund_input(s, refund_id)

        await refunds.ensure_workflow(activity.client(), await anyio.to_thread.run_sync(inp))

        def started() -> None:
            with Session(self.engine) as s:
                refunds.mark_started(s, [refund_id])

        await anyio.to_thread.run_sync(started)
        log.info("order refund started", order_id=req.order_id, refund_id=refund_id,
                 workflow_id=activity.info().workflow_id)
        return refund_id

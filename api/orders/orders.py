"""Orders: place (idempotent), read with the live checklist, list."""

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from sqlmodel import Session
from temporalio.client import Client

from api.deps import (
    IDEMPOTENCY_HEADER,
    crash_here_in_tests,
    get_session,
    get_temporal_optional,
    idempotency_key,
    own_agent,
    require,
    reveal_customer_data,
    run_db,
    sees_agent,
    start_process,
)
from api.orders.schemas import (
    CustomerOut,
    OrderDetail,
    OrderOut,
    OrderPaymentOut,
    PlaceOrderRequest,
    SubmissionOut,
)
from api.schemas import MAX_OFFSET, MONTH_PATTERN, Page, PathId
from core.access import Permission, Principal
from domain.orders.carriers import Carrier
from domain.orders.order import FailureReason, OrderStatus
from services import agents
from services.orders import fulfilment
from services.orders import order as svc
from services.orders.fulfilment import PaidWith

router = APIRouter(prefix="/orders", tags=["orders"])
log = structlog.get_logger(__name__)



@router.post(
    "",
    status_code=201,
    response_model=OrderOut,
    responses={
        200: {"description": "the same Idempotency-Key was seen before: the original order", "model": OrderOut},
        400: {"description": "missing or invalid Idempotency-Key"},
        403: {"description": "the agent is suspended"},
        409: {"description": "the Idempotency-Key was used with a different body, or the chosen number is not "
                              "available (number_unavailable)"},
        422: {"description": "invalid body (identity number check digit, mobile number, address fields), unknown "
                              "agent or product, a payment channel we do not know"},
        503: {"description": "order stored but its workflow could not be started; retry with the same key"},
    },
)
async def place_order(
    body: PlaceOrderRequest,
    response: Response,
    session: Annotated[Session, Depends(get_session)],
    temporal: Annotated[Client | None, Depends(get_temporal_optional)],
    principal: Annotated[Principal, require(Permission.ORDERS_PLACE)],  # before the key: who asks comes first
    key: Annotated[str, Depends(idempotency_key)],
) -> OrderOut:
    own_agent(principal, body.agent_id)
    paid = PaidWith(**body.payment.model_dump()) if body.payment else None
    req = svc.NewOrder(agent_id=body.agent_id, product_id=body.product_id, msisdn=body.msisdn,
                       customer_name=body.customer_name, customer=body.customer(), payment=paid)
    placed = await run_db(session, svc.place_order, key, req)
    order = placed.order
    out = OrderOut.model_validate(order)
    crash_here_in_tests("order")
    await start_process(temporal, lambda client: svc.ensure_workflow(client, order, placed.terms), f"order {order.id}",
                        f"retry with the same {IDEMPOTENCY_HEADER}", order_id=order.id, agent_id=order.agent_id)
    if order.process_started_at is None:
        await run_db(session, svc.mark_started, [order.id])
    response.status_code = 201 if placed.created else 200
    return out


@router.get("", response_model=Page[OrderOut])
def list_orders(
    session: Annotated[Session, Depends(get_session)],
    principal: Annotated[Principal, require(Permission.ORDERS_READ)],
    status: OrderStatus | None = None,
    carrier: Carrier | None = None,
    agent_id: str | None = None,
    settlement_month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
    failure_reason: FailureReason | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[OrderOut]:
    f = svc.OrderFilter(
        status=status.value if status else None,
        carrier=carrier.value if carrier else None,
        agent_id=principal.agent_id or agent_id,  # an agent lists its own orders only
        settlement_month=settlement_month,
        failure_reason=failure_reason.value if failure_reason else None,
    )
    items, total = svc.list_orders(session, f, limit, offset)
    return Page[OrderOut](items=[OrderOut.model_validate(o) for o in items], total=total, limit=limit, offset=offset)


@router.get("/{order_id}", response_model=OrderDetail, responses={404: {"description": "unknown order"}})
async def get_order(
    order_id: PathId,
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    temporal: Annotated[Client | None, Depends(get_temporal_optional)],
    principal: Annotated[Principal, require(Permission.ORDERS_READ)],
    reveal: Annotated[bool, Query(description="the recipient and real-name data unmasked (customer_data.read; "
                                              "audited)")] = False,
) -> OrderDetail:
    if reveal:
        reveal_customer_data(request, principal)
    order = await run_db(session, svc.get_order, order_id)
    if order is None or not sees_agent(principal, order.agent_id):
        raise HTTPException(404, detail=f"unknown order {order_id}")
    base = OrderOut.model_validate(order)
    live, why = await svc.live_view(temporal, order_id)
    cases = await run_db(session, agents.cases_of_order, order_id)
    customer, submission, payment = await run_db(session, lambda s: (
        fulfilment.customer_of(s, order_id), fulfilment.submission_of(s, order_id), fulfilment.payment_view(s, order_id)))
    shown = None
    if customer is not None:
        c = customer if reveal else customer.masked()
        shown = CustomerOut(recipient=c.recipient, real_name=c.real_name, revealed=reveal)
    return OrderDetail(**base.model_dump(), live=live, live_error=why, suspension_cases=cases, customer=shown,
                       submission=SubmissionOut.model_validate(submission) if submission else None,
                       payment=OrderPaymentOut(**vars(payment)) if payment else None)

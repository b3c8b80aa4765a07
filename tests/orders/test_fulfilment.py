"""The fulfilment activities on SQLite and PostgreSQL: the submission confirms the stock number first and records
the carrier's answer once; the release hook (keyed on the order's status) frees the number; a paid order that ends
unfulfilled is refunded through the refund engine and the refund's outcome shows on the order."""

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.orders.fulfilment import FulfilmentActivities
from activities.orders.order import OrderActivities
from db.fulfilment import OrderPayment, OrderSubmission, StockNumber
from db.orders import Order
from db.refunds import Payment, Refund, RefundChannel
from domain.orders.order import FailureReason, OrderFacts, OrderStatus, evaluate
from gateways.carrier import SubmissionAnswer
from scripts.demo.people import CUSTOMER, REAL_NAME
from services.orders import order as orders
from services.orders import stock
from services.orders.fulfilment import PaidWith
from tests.fixtures_db import AGENT, PRODUCT, bearer
from workflows.orders.contract import OrderProgress, OrderRefundRequest, SubmitRequest

OPS = bearer("ops", user="ops-1")


class FakeCarrier:
    def __init__(self, answer: SubmissionAnswer | None = None) -> None:
        self.answer = answer
        self.sent: list[tuple[str, dict]] = []

    async def submit_order(self, carrier: str, order: dict) -> SubmissionAnswer:
        self.sent.append((carrier, order))
        return (self.answer or SubmissionAnswer(order_id=order["order_id"], accepted=True, carrier_order_no="CM-1")
                ).model_copy(update={"order_id": order["order_id"]})


def place(engine, msisdn: str, key: str, paid: PaidWith | None = None):
    body = {"agent_id": AGENT, "product_id": PRODUCT, "msisdn": msisdn, **CUSTOMER}
    from api.orders.schemas import PlaceOrderRequest
    req = PlaceOrderRequest.model_validate(body)
    with Session(engine) as s:
        return orders.place_order(s, key, orders.NewOrder(agent_id=AGENT, product_id=PRODUCT, msisdn=msisdn,
                                                          customer=req.customer(), payment=paid)).order


def stock_of(engine, *numbers: str) -> None:
    with Session(engine) as s:
        stock.import_numbers(s, "msisdn,product_id\n" + "".join(f"{n},{PRODUCT}\n" for n in numbers), "ops-1")


def number(engine, msisdn: str) -> StockNumber:
    with Session(engine) as s:
        return s.exec(select(StockNumber).where(StockNumber.msisdn == msisdn)).one()


def _terms():
    from domain.orders.order import ProductTerms
    return ProductTerms(product_id=PRODUCT, carrier="china_mobile", activation_window_days=15, recharge_window_days=30,
                        min_first_recharge_fen=5000, commission_fen=12000)


async def test_the_submission_confirms_the_number_then_records_the_carriers_answer_once(seeded):
    stock_of(seeded, "13800000008")
    order = place(seeded, "13800000008", "k1")
    carrier = FakeCarrier()
    acts = FulfilmentActivities(seeded, carrier)
    answer = await ActivityEnvironment().run(acts.submit_order, SubmitRequest(order_id=order.id, carrier="china_mobile"))
    assert answer.accepted and answer.carrier_order_no == "CM-1"
    assert number(seeded, "13800000008").state == "assigned"
    [(name, body)] = carrier.sent
    assert name == "china_mobile" and body["msisdn"] == "13800000008"
    assert body["real_name"]["id_number"] == REAL_NAME["id_number"]  # the carrier's real-name check needs it whole
    again = await ActivityEnvironment().run(acts.submit_order, SubmitRequest(order_id=order.id, carrier="china_mobile"))
    assert again == answer and len(carrier.sent) == 1  # a retried activity asks nobody
    with Session(seeded) as s:  # the row shows the acceptance at once (the order may rest as placed after it)
        accepted_at = s.get(Order, order.id).carrier_accepted_at
    assert accepted_at == answer.at


async def test_a_refusal_is_a_precise_reason_and_the_number_goes_back_to_the_pool(seeded):
    stock_of(seeded, "13800000008")
    order = place(seeded, "13800000008", "k1")
    carrier = FakeCarrier(SubmissionAnswer(order_id="", accepted=False, reason="outside_coverage", detail="Tibet"))
    answer = await ActivityEnvironment().run(FulfilmentActivities(seeded, carrier).submit_order,
                                             SubmitRequest(order_id=order.id, carrier="china_mobile"))
    assert (answer.accepted, answer.reason, answer.detail) == (False, FailureReason.OUTSIDE_COVERAGE, "Tibet")
    with Session(seeded) as s:
        assert s.get(Order, order.id).carrier_accepted_at is None
    facts = OrderFacts(submission=answer)
    verdict = evaluate(_terms(), facts, datetime.now(UTC))
    assert (verdict.status, verdict.failure_reason) == (OrderStatus.FAILED, FailureReason.OUTSIDE_COVERAGE)
    OrderActivities(seeded).record_order_progress(OrderProgress(order_id=order.id, verdict=verdict))
    assert (number(seeded, "13800000008").state, number(seeded, "13800000008").quarantined_until) == ("available", None)


async def test_a_lapsed_and_taken_number_fails_the_order_without_asking_the_carrier(seeded):
    stock_of(seeded, "13800000008")
    first = place(seeded, "13800000008", "k1")
    with Session(seeded) as s:
        orders.place_order(s, "k2", orders.NewOrder(agent_id=AGENT, product_id=PRODUCT, msisdn="13800000008"),
                           now=datetime.now(UTC) + timedelta(hours=1))
    carrier = FakeCarrier()
    answer = await ActivityEnvironment().run(FulfilmentActivities(seeded, carrier).submit_order,
                                             SubmitRequest(order_id=first.id, carrier="china_mobile"))
    assert (answer.accepted, answer.reason) == (False, FailureReason.NUMBER_UNAVAILABLE) and carrier.sent == []


async def test_an_order_placed_before_its_products_first_stock_is_still_submitted(seeded):
    order = place(seeded, "13812345678", "k1")  # no stock yet: the carrier assigns the number
    stock_of(seeded, "13800000008")  # the product's first numbers arrive while the order waits for the carrier
    carrier = FakeCarrier()
    answer = await ActivityEnvironment().run(FulfilmentActivities(seeded, carrier).submit_order,
                                             SubmitRequest(order_id=order.id, carrier="china_mobile"))
    assert answer.accepted and [body["msisdn"] for _, body in carrier.sent] == ["13812345678"]


async def test_an_unknown_refusal_code_is_carrier_refused_with_the_code_kept(seeded):
    order = place(seeded, "13812345678", "k1")  # a product without stock: the carrier assigns numbers
    carrier = FakeCarrier(SubmissionAnswer(order_id="", accepted=False, reason="blacklisted", detail="on a list"))
    answer = await ActivityEnvironment().run(FulfilmentActivities(seeded, carrier).submit_order,
                                             SubmitRequest(order_id=order.id, carrier="china_mobile"))
    assert (answer.reason, answer.detail) == (FailureReason.CARRIER_REFUSED, "blacklisted: on a list")
    assert carrier.sent[0][1]["msisdn"] == "13812345678"  # the order's own number, from its sealed customer row


async def test_a_failed_delivery_sends_the_number_to_quarantine(seeded):
    stock_of(seeded, "13800000008")
    order = place(seeded, "13800000008", "k1")
    now = datetime.now(UTC)
    with Session(seeded) as s:
        stock.confirm(s, order.id, now)
        s.commit()
    verdict = evaluate(_terms(), OrderFacts(), now).model_copy(update={
        "status": OrderStatus.FAILED, "failure_reason": FailureReason.DELIVERY_FAILED})
    OrderActivities(seeded).record_order_progress(OrderProgress(order_id=order.id, verdict=verdict))
    n = number(seeded, "13800000008")
    assert n.state == "quarantined" and n.quarantined_until > now + timedelta(days=29)


async def test_a_paid_order_cancelled_before_shipment_is_refunded_and_the_order_shows_it(seeded, api_client,
                                                                                        fake_temporal):
    with Session(seeded) as s:
        s.add(RefundChannel(id="unionpay", name="UnionPay"))
        s.commit()
    order = place(seeded, "13812345678", "k1", PaidWith(amount_fen=3900, channel="unionpay", voucher="UP20261202001"))
    with Session(seeded) as s:
        pay = s.get(OrderPayment, order.id)
        assert (pay.amount_fen, pay.voucher) == (3900, "UP20261202001")
        assert s.get(Payment, pay.payment_id).paid_fen == 3900
    acts = FulfilmentActivities(seeded, FakeCarrier())
    env = ActivityEnvironment(client=fake_temporal)
    assert await env.run(acts.refund_order, OrderRefundRequest(order_id=order.id, status="settled")) == ""
    req = OrderRefundRequest(order_id=order.id, status="failed", failure_reason="order_cancelled")
    refund_id = await env.run(acts.refund_order, req)
    assert refund_id and await env.run(acts.refund_order, req) == refund_id  # once
    with Session(seeded) as s:
        refund = s.get(Refund, refund_id)
        assert (refund.amount_fen, refund.source, refund.status) == (3900, "order_unfulfilled", "processing")  # audited automatically
        assert refund.process_started_at is not None
    assert [st["id"] for st in fake_temporal.started if st["id"].startswith("refund-")] == [f"refund-{refund_id}"] * 2
    shown = api_client.get(f"/orders/{order.id}", headers=OPS).json()["payment"]
    assert (shown["refund_id"], shown["refund_status"], shown["refunded_fen"]) == (refund_id, "processing", 0)


async def test_an_unknown_payment_channel_refuses_the_order(seeded, api_client):
    r = api_client.post("/orders", json={"agent_id": AGENT, "product_id": PRODUCT, "msisdn": "13812345678", **CUSTOMER,
                                         "payment": {"amount_fen": 3900, "channel": "nochannel", "voucher": "V12345"}},
                        headers={"Idempotency-Key": "k1"})
    assert r.status_code == 422 and r.json()["type"] == "payment_refused"
    with Session(seeded) as s:
        assert s.exec(select(OrderSubmission)).all() == []


async def test_a_cancelled_account_of_our_stock_rests_in_quarantine_as_the_cancellation_says(seeded):
    stock_of(seeded, "13800000008")
    order = place(seeded, "13800000008", "k1")
    now = datetime.now(UTC)
    with Session(seeded) as s:
        stock.confirm(s, order.id, now)
        assert stock.quarantine_number(s, order.id, now, now + timedelta(days=90))
        s.commit()
    n = number(seeded, "13800000008")
    assert n.state == "quarantined" and n.quarantined_until == now + timedelta(days=90)

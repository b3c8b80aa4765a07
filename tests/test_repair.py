"""A crash between a row and its workflow heals itself: the API is killed after storing an order (then a refund)
and before starting its workflow; the repair pass (at the next API start, and the Schedule's workflow) finishes
the step, once."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.service import RPCError

from core.db import make_engine
from core.temporal import connect
from db.orders import CarrierEventRecord, Order
from db.refunds import Payment, Refund
from scripts.demo.orders import PRODUCTS, seed_catalogue
from scripts.demo.people import CUSTOMER
from scripts.demo.refunds import seed_refund_catalogue
from scripts.stack import PY, Stack
from tests.polling import poll
from tests.stacks import running_stack
from workflows.orders import contract as orders
from workflows.refunds import contract as refunds

ENV = {"SIMBO_REPAIR_GRACE_S": "1"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("repair-stack"), ENV, seed_catalogue, seed_refund_catalogue) as s:
        yield s


def _restart_api(stack: Stack, crash_at: str = "") -> None:
    for p in [p for p in stack.procs if "api.main:app" in p.args]:
        if p.poll() is None:
            p.terminate()
            p.wait()
        stack.procs.remove(p)
    stack.settings["SIMBO_CRASH_AT"] = crash_at
    try:
        stack.spawn("API", [PY, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(stack.ports.api),
                            "--log-level", "warning"], "api.log")
    finally:
        stack.settings.pop("SIMBO_CRASH_AT")
    stack.wait_http(f"{stack.api_url}/healthz", "API")


async def _dies(request) -> None:
    with pytest.raises(httpx.HTTPError):  # the process is gone before it answers
        await request


async def _running(client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError:
        return False


async def test_a_crash_between_a_row_and_its_workflow_heals(stack):
    engine = make_engine(stack.env["SIMBO_DATABASE_URL"])
    client = await connect(stack.temporal_address)
    staff = await asyncio.to_thread(stack.staff_headers)
    merchant = await asyncio.to_thread(stack.merchant_headers)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        await asyncio.to_thread(_restart_api, stack, "order")
        await _dies(api.post("/orders", json={"agent_id": "A002", "product_id": PRODUCTS[0].id, "msisdn": "13800138777", **CUSTOMER},
                             headers={**staff, "Idempotency-Key": "crash-1"}))
        with Session(engine) as s:
            [order] = s.exec(select(Order).where(Order.idempotency_key == "crash-1")).all()
        assert order.process_started_at is None and not await _running(client, orders.order_workflow_id(order.id))

        await asyncio.to_thread(_restart_api, stack, "refund")
        async with httpx.AsyncClient(base_url=stack.channel_url, timeout=30) as sim:
            (await sim.post("/sim/payments", json=[{"payment_id": "P-crash", "channel": "unionpay", "paid_fen": 10_000,
                                                    "behaviour": "ok"}])).raise_for_status()
        r = await api.post("/payments", headers=staff, json={
            "id": "P-crash", "merchant_id": "M001", "merchant_order_no": "SO-crash", "channel": "unionpay",
            "product": "quick", "paid_fen": 10_000, "fee_fen": 50, "consumer_card_masked": "6222****8888",
            "paid_at": (datetime.now(UTC) - timedelta(hours=3)).isoformat()})
        assert r.status_code == 201, r.text
        await _dies(api.post("/refunds", headers=merchant, json={
            "merchant_id": "M001", "merchant_refund_no": "RN-crash", "payment_id": "P-crash", "amount_fen": 10_000,
            "reason": "returned"}))
        with Session(engine) as s:
            [refund] = s.exec(select(Refund).where(Refund.merchant_refund_no == "RN-crash")).all()
            assert s.get(Payment, "P-crash").committed_fen == 10_000  # reserved, with nothing moving it
        assert refund.process_started_at is None

        await asyncio.to_thread(_restart_api, stack)  # its start's repair pass heals both
        await poll(lambda: _running(client, orders.order_workflow_id(order.id)), bool, "the order's workflow started")
        await poll(lambda: _running(client, refunds.refund_workflow_id(refund.id)), bool, "the refund's workflow started")

        async def refund_status():
            return (await api.get(f"/refunds/{refund.id}", headers=staff)).json()["status"]

        assert await poll(refund_status, lambda st: st == "succeeded", "the healed refund reaching the channel")
        with Session(engine) as s:
            assert s.get(Order, order.id).process_started_at is not None
            assert s.get(Refund, refund.id).process_started_at is not None
        metrics = (await api.get("/metrics")).text  # from this machine: the internal door answers
        assert 'simbo_repairs_done{repair="order workflow started"} 1.0' in metrics
        assert 'simbo_repairs_done{repair="refund workflow started"} 1.0' in metrics

    # the Schedule's pass: an accepted event whose signal was lost is delivered; nothing else is touched twice
    with Session(engine) as s:
        s.add(CarrierEventRecord(source=PRODUCTS[0].carrier, event_id="lost-1", order_id=order.id, kind="shipped",
                                 raw=json.dumps({"event_id": "lost-1", "order_id": order.id, "kind": "shipped",
                                                 "occurred_at": "2026-11-01T10:00:00+08:00", "tracking_no": "SF1"}),
                                 outcome="accepted", received_at=datetime.now(UTC) - timedelta(minutes=5)))
        s.commit()
    healed = await client.execute_workflow(orders.REPAIR_WORKFLOW, id="repair-test", task_queue=orders.TASK_QUEUE,
                                           result_type=dict)
    assert healed == {"processes_started": 0, "events_delivered": 1, "events_for_closed_orders": 0, "failed": 0,
                      "reservations_lapsed": 0, "back_from_quarantine": 0, "low_stock_alerts": 0}
    with Session(engine) as s:
        event = s.exec(select(CarrierEventRecord).where(CarrierEventRecord.event_id == "lost-1")).one()
        assert event.signalled_at is not None
    again = await client.execute_workflow(refunds.REPAIR_WORKFLOW, id="repair-test-2", task_queue=refunds.TASK_QUEUE,
                                          result_type=dict)
    assert again == {"processes_started": 0, "failed": 0}
    engine.dispose()

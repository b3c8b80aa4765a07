"""The whole system as `make run` starts it (dev server, simulator, worker, API as processes), over real HTTP.

An order placed through the API, its life pushed by the carrier simulator with timestamps two months
back, a restart of every process half-way, then the carrier's monthly Schedule settles and pays it.
"""

import asyncio
import base64
import json
from datetime import datetime, timedelta

import httpx
import pytest

from core.crypto import ENCODING
from core.db import make_engine
from core.temporal import connect
from domain.clock import SHANGHAI, month_bounds, previous_month
from scripts.demo.order_stories import life, scenario
from scripts.demo.orders import PRODUCTS, seed_catalogue
from scripts.demo.people import CUSTOMER
from scripts.schedules.orders import ensure_settlement_schedules
from scripts.stack import Ports, Stack
from services.orders.order import terms_of
from tests.polling import poll
from workflows.orders import contract as orders
from workflows.orders.contract import settlement_schedule_id as schedule_id


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("stack")


async def test_order_to_commission_through_every_process(stack_dir):
    ports = Ports.free()
    stack = Stack(var=stack_dir, ports=ports, ui=False, daily_every=0, quiet=True)
    stack.start()
    try:
        engine = make_engine(stack.env["SIMBO_DATABASE_URL"])
        seed_catalogue(engine)
        product = PRODUCTS[0]
        now = datetime.now(SHANGHAI)
        month = previous_month(now)
        start = month_bounds(previous_month(month_bounds(month)[0]))[0] + timedelta(days=3)

        async with httpx.AsyncClient(base_url=stack.api_url, headers=await asyncio.to_thread(stack.staff_headers), timeout=30) as api:
            body = {"agent_id": "A002", "product_id": product.id, "msisdn": "13800138123", **CUSTOMER}
            first = await api.post("/orders", json=body, headers={"Idempotency-Key": "e2e-1"})
            again = await api.post("/orders", json=body, headers={"Idempotency-Key": "e2e-1"})
            assert first.status_code == 201 and again.status_code == 200
            order_id = first.json()["id"]
            assert again.json()["id"] == order_id

            events = life(order_id, "13800138123", terms_of(product), start)
            story = scenario(order_id, product.carrier, "13800138123", events, audit_month=month,
                             commission_fen=product.commission_fen)
            async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=30) as sim:
                (await sim.post("/sim/scenarios", json=story)).raise_for_status()

            async def order():
                return (await api.get(f"/orders/{order_id}")).json()

            seen = await poll(order, lambda o: o["status"] == "awaiting_audit", "order reaching the audit")
            assert seen["settlement_month"] == month
            live = seen["live"]
            assert [c["state"] for c in live["verdict"]["checklist"]] == ["met"] * 5
            assert live["verdict"]["waiting_for"].startswith("carrier audit")

        client = await connect(stack.temporal_address)

        async def listed():
            q = f'OrderStatus="awaiting_audit" AND Carrier="{product.carrier}" AND SettlementMonth="{month}"'
            return [w.id async for w in client.list_workflows(q)]

        assert f"order-{order_id}" in await poll(listed, lambda ids: f"order-{order_id}" in ids, "Web UI filter")
        desc = await client.get_workflow_handle(f"order-{order_id}").describe()
        assert desc.typed_search_attributes.get(orders.ORDER_STATUS) == "awaiting_audit"
        assert (await desc.memo_value("summary")).endswith("138****8123")  # what the order is, written at start
        # what the Web UI receives: the order's input, its signals and its memo encrypted, the number nowhere
        history = json.dumps((await client.get_workflow_handle(f"order-{order_id}").fetch_history()).to_json_dict())
        assert "13800138123" not in history and base64.b64encode(ENCODING).decode() in history
        start_input = (await client.get_workflow_handle(f"order-{order_id}").fetch_history()).events[0]
        [payload] = start_input.workflow_execution_started_event_attributes.input.payloads
        assert payload.metadata["encoding"] == ENCODING

        # every process stops and starts again on the same state: the order is still where it was
        stack.stop()
        stack = Stack(var=stack_dir, ports=ports, ui=False, daily_every=0, quiet=True).start()
        client = await connect(stack.temporal_address)
        await ensure_settlement_schedules(client)
        await client.get_schedule_handle(schedule_id(product.carrier)).trigger()

        async with httpx.AsyncClient(base_url=stack.api_url, headers=await asyncio.to_thread(stack.staff_headers), timeout=30) as api:
            async def order_after():
                return (await api.get(f"/orders/{order_id}")).json()

            settled = await poll(order_after, lambda o: o["status"] == "settled", "settlement")
            assert settled["commission_fen"] == product.commission_fen

            batch_id = f"settlement-{product.carrier}-{month}"

            async def batch():
                r = await api.get(f"/settlements/{batch_id}")
                return r.json() if r.status_code == 200 else {}

            closed = await poll(batch, lambda b: b.get("status") == "closed", "batch closing")
            override = product.commission_fen * product.parent_override_bp // 10_000
            assert closed["commission_fen"] == product.commission_fen + override
            assert closed["paid_fen"] == closed["commission_fen"]

            csv = await api.get(f"/agents/A002/statements/{month}.csv")
            assert csv.status_code == 200 and order_id in csv.text
        async with httpx.AsyncClient(base_url=stack.simulator_url) as sim:
            assert (await sim.get("/sim/stats")).json()["payouts"] >= 2  # the agent and its parent
    finally:
        stack.stop()

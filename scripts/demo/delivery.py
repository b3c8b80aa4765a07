"""Demo data of the delivery follow-up, loaded once by `make run` after the orders demo: the demo agent A002 works
its open rescue task (two contact attempts recorded through the API), and one order, placed two days back, whose
carrier's order system is down (the simulator answers 503): past its acceptance window, it is stale at once while
its submission goes on being retried. The tracking table fills itself as the demo orders progress."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from core.db import get_engine
from db.orders import RescueContact
from domain.orders.customer import Customer
from scripts.demo.people import CUSTOMER
from scripts.demo.state import already_loaded, mark_loaded
from scripts.users import staff_headers
from services.orders import order as orders

DEMO_AGENT = "A002"
STALE_NUMBER = "13800139999"


async def load_delivery_demo_once(client: Client, api: str, simulator: str, engine: Engine | None = None) -> None:
    engine = engine or get_engine()
    with Session(engine) as s:
        if already_loaded("delivery", s.exec(select(RescueContact).limit(1)).first() is not None):
            return
    agent = await asyncio.to_thread(staff_headers, api, "demo-agent")
    async with httpx.AsyncClient(timeout=30, headers=agent) as http:
        task = await _open_task(http, api)
        if task is not None:
            opened = datetime.fromisoformat(task["opened_at"])
            now = datetime.now(UTC)
            first = opened + (now - opened) / 3
            for at, channel, outcome, note in ((first, "phone", "no_answer", "no answer, will try again this evening"),
                                               (now, "wechat", "new_date_agreed", "customer asks for delivery on Saturday")):
                r = await http.post(f"{api}/rescue-tasks/{task['id']}/contacts",
                                    json={"at": at.isoformat(), "channel": channel, "outcome": outcome, "note": note})
                r.raise_for_status()
    await _stale_order(client, simulator, engine)
    mark_loaded("delivery")
    print("Delivery demo loaded: A002's rescue task has two contact attempts; one order is stale (no carrier acceptance).")


async def _open_task(http: httpx.AsyncClient, api: str, seconds: float = 60) -> dict | None:
    for _ in range(int(seconds * 2)):
        r = await http.get(f"{api}/rescue-tasks", params={"state": "open", "agent_id": DEMO_AGENT, "limit": 1})
        if r.status_code == 200 and r.json()["items"]:
            return r.json()["items"][0]
        await asyncio.sleep(0.5)
    print("  (the demo agent's rescue task is not open yet: no contact attempts recorded)")
    return None


async def _stale_order(client: Client, simulator: str, engine: Engine) -> None:
    """An order placed two days back whose carrier does not answer: past its 24-hour acceptance window, flagged stale
    (no carrier acceptance) at once. Placed through the service (the API stamps the present), started like the API
    starts it. Scripting the number `accept` on the simulator (POST /sim/orders) lets the retry through."""
    req = orders.NewOrder(agent_id=DEMO_AGENT, product_id="cu-29", msisdn=STALE_NUMBER,
                          customer=Customer.model_validate(CUSTOMER))
    async with httpx.AsyncClient(timeout=30) as sim:
        r = await sim.post(f"{simulator}/sim/orders", json=[{"msisdn": STALE_NUMBER, "outcome": "unavailable"}])
        r.raise_for_status()

    def place() -> orders.Placement:
        with Session(engine) as s:
            placed = orders.place_order(s, "demo-stale-1", req, now=datetime.now(UTC) - timedelta(days=2))
            s.expunge(placed.order)
            return placed

    placed = await asyncio.to_thread(place)
    await orders.ensure_workflow(client, placed.order, placed.terms)

    def started() -> None:
        with Session(engine) as s:
            orders.mark_started(s, [placed.order.id])

    await asyncio.to_thread(started)

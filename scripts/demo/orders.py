"""Demo data, loaded once by `make run`: agents, the four carriers' products, orders at every stage.

Orders go through the real doors: placed through our API, their lives scripted on the carrier
simulator, which pushes the events back to our API (some at once, some in the daily CSV file).
Activations two months back put orders past their check point, so last month's batches settle now.
"""

import asyncio
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from core.db import get_engine
from db.agents import Agent
from db.orders import Order, Product
from domain.clock import SHANGHAI, month_bounds, previous_month
from scripts.demo.order_stories import life, scenario, wire
from scripts.demo.people import CUSTOMER
from scripts.demo.state import already_loaded, mark_loaded
from scripts.users import staff_headers
from services.orders.order import terms_of
from workflows.orders.contract import settlement_schedule_id as schedule_id

AGENTS = [
    Agent(id="A001", name="Shenzhen Hub"),
    Agent(id="A002", name="Futian Store", parent_id="A001"),
    Agent(id="A003", name="Nanshan Kiosk", parent_id="A001"),
    Agent(id="A004", name="Luohu Reseller", parent_id="A001"),
]
PRODUCTS = [
    Product(id="cm-39", carrier="china_mobile", name="China Mobile 39 plan", activation_window_days=15,
            recharge_window_days=30, min_first_recharge_fen=5000, commission_fen=12000, parent_override_bp=1000),
    Product(id="cu-29", carrier="china_unicom", name="China Unicom 29 plan", activation_window_days=10,
            recharge_window_days=20, min_first_recharge_fen=3000, commission_fen=8000, parent_override_bp=500),
    Product(id="ct-59", carrier="china_telecom", name="China Telecom 59 plan", activation_window_days=15,
            recharge_window_days=30, min_first_recharge_fen=10000, commission_fen=15000, parent_override_bp=0),
    Product(id="cb-19", carrier="china_broadnet", name="Broadnet 19 plan", activation_window_days=20,
            recharge_window_days=30, min_first_recharge_fen=2000, commission_fen=6000, parent_override_bp=800),
]


def seed_catalogue(engine: Engine, agents=AGENTS, products=PRODUCTS) -> None:
    with Session(engine) as s:
        for row in [*agents, *products]:
            if s.get(type(row), row.id) is None:
                s.add(type(row).model_validate(row.model_dump()))  # a fresh instance: the constants stay detached
        s.commit()


async def place(http: httpx.AsyncClient, api: str, key: str, agent: str, product: str, msisdn: str) -> str:
    r = await http.post(f"{api}/orders", headers={"Idempotency-Key": key},
                        json={"agent_id": agent, "product_id": product, "msisdn": msisdn, **CUSTOMER})
    r.raise_for_status()
    return r.json()["id"]


def _plan(now: datetime) -> list[dict]:
    """(agent, product, story) for each demo order; stories are read by `_story`."""
    last_month = previous_month(now)
    two_back = previous_month(month_bounds(last_month)[0])
    early_two_back = month_bounds(two_back)[0] + timedelta(days=2, hours=10)  # shipped early in that month
    recent = now - timedelta(days=5)
    plans = []
    stories = [
        ("settled", early_two_back), ("settled", early_two_back + timedelta(days=3)),
        ("awaiting_check_point", recent - timedelta(days=10)),
        ("recharge_wait", recent), ("activation_wait", now - timedelta(days=3)),
        ("shipped", now - timedelta(days=1)), ("placed", now), ("delivery_exception", now - timedelta(days=2)),
        ("activation_timeout", now - timedelta(days=45)), ("recharge_insufficient", early_two_back),
        ("recharge_wrong_number", early_two_back), ("recharge_late", early_two_back),
        ("identity_failed", now - timedelta(days=8)), ("risk_control_at_check_point", early_two_back),
        ("audit_rejected", early_two_back), ("returned", now - timedelta(days=6)), ("cancelled_number", early_two_back),
        ("daily_file", now - timedelta(days=2)),
        ("settled_at_new_rate", early_two_back + timedelta(days=1)),  # last: the other stories keep their agents
    ]
    agents = ["A002", "A003", "A004", "A001"]
    n = 0
    for i, product in enumerate(PRODUCTS):
        for j, (story, start) in enumerate(stories):
            if product.carrier == "china_broadnet" and story not in ("settled", "placed", "audit_rejected"):
                continue  # keep Broadnet small: its audit for last month is late in the demo
            if story == "settled_at_new_rate" and product.carrier != "china_unicom":
                continue  # one audit difference (a rate change) is enough: Unicom's
            n += 1
            plans.append({"n": n, "agent": agents[(i + j) % len(agents)], "product": product, "story": story,
                          "start": start, "month": last_month})
    return plans


def _story(order_id: str, msisdn: str, p: dict) -> dict:
    product: Product = p["product"]
    t, start, story, month = terms_of(product), p["start"], p["story"], p["month"]
    carrier = product.carrier
    ok = dict(audit_month=month, commission_fen=product.commission_fen)
    if story in ("settled",):
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start), **ok)
    if story == "settled_at_new_rate":  # the carrier audits another figure: finance's reconciliation lists it
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start), audit_month=month,
                        commission_fen=product.commission_fen - 1000)
    if story == "awaiting_check_point":
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start))
    if story == "shipped":  # the courier expects it tomorrow: the agent and the customer are reminded
        events = life(order_id, msisdn, t, start, until="shipped")
        tomorrow = (datetime.now(SHANGHAI) + timedelta(days=1)).date().isoformat()
        events.append(wire(order_id, 8, "delivery", start + timedelta(hours=20), delivery_status="in_transit",
                           expected_arrival=tomorrow))
        return scenario(order_id, carrier, msisdn, events)
    if story in ("recharge_wait", "activation_wait", "placed"):
        until = {"recharge_wait": "activated", "activation_wait": "signed"}.get(story, story)
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start, until=until))
    if story == "delivery_exception":
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start, until="shipped", exception="unreachable"))
    if story == "activation_timeout":
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start, until="signed"))
    if story == "recharge_insufficient":
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start, recharge_fen=t.min_first_recharge_fen - 1))
    if story == "recharge_wrong_number":
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start, recharge_to="13900000000"))
    if story == "recharge_late":
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start,
                                                        recharge_after=timedelta(days=t.recharge_window_days + 1)))
    if story == "identity_failed":
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start, activation_failure="identity_failed"))
    if story == "risk_control_at_check_point":
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start),
                        final_status={"in_network": False, "mode": "risk_control", "cause": "risk_control", "cancelled": False})
    if story == "audit_rejected":
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start), audit_month=month, approved=False,
                        reason="policy_change")
    if story == "returned":
        events = life(order_id, msisdn, t, start, until="shipped")
        events.append(wire(order_id, 9, "delivery", start + timedelta(days=4), delivery_status="returned"))
        return scenario(order_id, carrier, msisdn, events)
    if story == "cancelled_number":
        extra = [wire(order_id, 9, "cancelled", start + timedelta(days=30), reason="long_non_use")]
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start, extra=extra))
    if story == "daily_file":
        return scenario(order_id, carrier, msisdn, life(order_id, msisdn, t, start, until="signed"), push="daily")
    raise ValueError(story)


async def load_order_demo_once(client: Client, api: str, simulator: str, engine: Engine | None = None) -> None:
    engine = engine or get_engine()
    with Session(engine) as s:
        if already_loaded("orders", s.exec(select(Order).limit(1)).first() is not None):
            return
    seed_catalogue(engine)
    now = datetime.now(SHANGHAI)
    plans = _plan(now)
    headers = await asyncio.to_thread(staff_headers, api)  # signed in as the demo admin
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        # Broadnet publishes last month's audit late: its batch waits, visibly, in the Web UI
        late = {f"china_broadnet-{plans[0]['month']}": (now + timedelta(days=3)).isoformat()}
        (await http.post(f"{simulator}/sim/behaviour", json={"audit_pending_until": late})).raise_for_status()
        stories = []
        for p in plans:
            msisdn = f"1380013{p['n']:04d}"
            order_id = await place(http, api, f"demo-{p['n']}", p["agent"], p["product"].id, msisdn)
            stories.append(_story(order_id, msisdn, p))
        (await http.post(f"{simulator}/sim/scenarios/batch", json=stories)).raise_for_status()
        # the carrier's audit names an order we never had (finance: unknown order), and the payout bank refuses
        # A003's account on file (finance: a payout exception to retry with new bank details)
        (await http.post(f"{simulator}/sim/scenarios", json=scenario(
            "O-UNKNOWN-AUDIT", "china_mobile", "13800000001", [], audit_month=plans[0]["month"],
            commission_fen=12000))).raise_for_status()
        (await http.post(f"{simulator}/sim/behaviour",
                         json={"payout_bad_accounts": {"A003": "account_closed"}})).raise_for_status()
        # one event for an order we never placed: ops find it under unknown_order
        stray = scenario("O-UNKNOWN-1", "china_mobile", "13800000000",
                         [wire("O-UNKNOWN-1", 1, "activated", now - timedelta(days=1))])
        (await http.post(f"{simulator}/sim/scenarios", json=stray)).raise_for_status()
        (await http.post(f"{simulator}/sim/push-daily")).raise_for_status()
        expected = sum(1 for p in plans if p["story"] in ("settled", "settled_at_new_rate", "audit_rejected"))
        await _wait_for(http, api, "awaiting_audit", expected)
        # A004 is suspended for fake promotion: its commissions this month are held
        await http.post(f"{api}/agents/A004/suspend", json={"reason": "fake promotion reported"})
    for carrier in ("china_mobile", "china_unicom", "china_telecom", "china_broadnet"):
        await client.get_schedule_handle(schedule_id(carrier)).trigger()
    mark_loaded("orders")
    print(f"Demo data loaded: {len(plans)} orders; last month's settlement batches started.")


async def _wait_for(http: httpx.AsyncClient, api: str, status: str, count: int, seconds: float = 90) -> None:
    for _ in range(int(seconds * 2)):
        r = await http.get(f"{api}/orders", params={"status": status, "limit": 1})
        if r.status_code == 200 and r.json()["total"] >= count:
            return
        await asyncio.sleep(0.5)
    print(f"  (only part of the demo orders reached {status} yet; they will get there)")

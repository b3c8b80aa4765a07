"""Demo data of fulfilment (docs/fulfilment.md), loaded once by `make run` after the orders demo: a number stock
imported through the API, orders placed with numbers chosen from it ("ends in 8"), a carrier refusal, a paid order
the carrier accepts then cancels (refunded through the refund engine), and a product running low on stock."""

import asyncio
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.db import get_engine
from db.fulfilment import StockNumber
from domain.clock import SHANGHAI
from scripts.demo.order_stories import life, scenario
from scripts.demo.orders import PRODUCTS
from scripts.demo.people import CUSTOMER
from scripts.demo.state import already_loaded, mark_loaded
from scripts.users import staff_headers
from services.orders import stock
from services.orders.order import terms_of

# numbers per product: Broadnet gets few, so its low-stock alert shows
STOCK = {"cm-39": ("1390000", 40), "cu-29": ("1300000", 30), "ct-59": ("1330000", 30), "cb-19": ("1920000", 6)}


def stock_csv() -> str:
    rows = [f"{prefix}{n:04d},{product}" for product, (prefix, count) in STOCK.items() for n in range(count)]
    return "msisdn,product_id\n" + "\n".join(rows) + "\n"


async def _choose(http: httpx.AsyncClient, api: str, product: str, ends_with: str) -> str:
    r = await http.get(f"{api}/stock/numbers", params={"product_id": product, "ends_with": ends_with, "limit": 1})
    r.raise_for_status()
    return r.json()["items"][0]["msisdn"]


async def _place(http: httpx.AsyncClient, api: str, key: str, agent: str, product: str, msisdn: str,
                 **extra) -> str:
    r = await http.post(f"{api}/orders", headers={"Idempotency-Key": key},
                        json={"agent_id": agent, "product_id": product, "msisdn": msisdn, **CUSTOMER, **extra})
    r.raise_for_status()
    return r.json()["id"]


async def load_fulfilment_demo_once(api: str, simulator: str, engine: Engine | None = None) -> None:
    engine = engine or get_engine()
    with Session(engine) as s:
        if already_loaded("fulfilment", s.exec(select(StockNumber).limit(1)).first() is not None):
            return
    headers = await asyncio.to_thread(staff_headers, api)
    now = datetime.now(SHANGHAI)
    by_id = {p.id: p for p in PRODUCTS}
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        r = await http.post(f"{api}/stock/imports", content=stock_csv().encode(), headers={"Content-Type": "text/csv"})
        r.raise_for_status()
        # a file with a duplicate is refused whole, the line named (ops see the 422 in the audit log)
        await http.post(f"{api}/stock/imports", content=b"msisdn,product_id\n13900009998,cm-39\n13900000008,cm-39\n",
                        headers={"Content-Type": "text/csv"})
        # 1. a chosen number "ends in 8": accepted by the carrier, shipped, signed, activated
        shipped = await _choose(http, api, "cm-39", "8")
        (await http.post(f"{simulator}/sim/orders", json=[{"msisdn": shipped, "outcome": "accept"}])).raise_for_status()
        oid = await _place(http, api, "demo-stock-1", "A002", "cm-39", shipped)
        events = life(oid, shipped, terms_of(by_id["cm-39"]), now - timedelta(hours=20), until="activated")
        (await http.post(f"{simulator}/sim/scenarios",
                         json={**scenario(oid, "china_mobile", shipped, events), "after_acceptance": True})).raise_for_status()
        # 2. the carrier refuses: the real-name check failed; the number goes back to the pool
        refused = await _choose(http, api, "cu-29", "6")
        (await http.post(f"{simulator}/sim/orders", json=[{
            "msisdn": refused, "outcome": "refuse", "reason": "real_name_check_failed",
            "detail": "the name does not match the identity card"}])).raise_for_status()
        await _place(http, api, "demo-stock-2", "A003", "cu-29", refused)
        # 3. a paid order, accepted then cancelled by the carrier before shipment: refunded through the refund engine
        paid = await _choose(http, api, "ct-59", "8")
        (await http.post(f"{simulator}/sim/orders", json=[{
            "msisdn": paid, "outcome": "accept_then_cancel", "detail": "warehouse out of SIM cards"}])).raise_for_status()
        await _place(http, api, "demo-stock-3", "A002", "ct-59", paid,
                     payment={"amount_fen": 5900, "channel": "unionpay", "voucher": "UP202612020001"})
        # 4. a slow carrier: the first answer comes after our timeout; the retry gets it
        slow = await _choose(http, api, "cm-39", "9")
        (await http.post(f"{simulator}/sim/orders", json=[{"msisdn": slow, "latency_ms": 12_000}])).raise_for_status()
        await _place(http, api, "demo-stock-4", "A004", "cm-39", slow)
    with Session(engine) as s:
        swept = stock.sweep(s)  # the repair pass does it every few minutes; the demo shows the alert at once
    mark_loaded("fulfilment")
    print(f"Demo fulfilment loaded: {sum(c for _, c in STOCK.values())} numbers in stock, 4 orders from it "
          f"(one refused, one paid and refunded), {swept.alerts} low-stock alert(s).")

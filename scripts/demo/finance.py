"""Finance's demo data, loaded once by `make run` after the orders demo: the agents' e-mail addresses, and once
last month's batches have closed, an invoice in every state (requested, issued, re-issued, refused), mailed to the
local SMTP sink (messages in var/mail/*.eml). The orders demo already gave finance the rest: A003's payout refused
by the bank (an open payout exception, to retry with new bank details), and a carrier audit that differs from our
figures (China Unicom's rate change, China Mobile's unknown order)."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.db import get_engine
from db.agents import Agent
from db.finance import Invoice
from scripts.demo.state import already_loaded, mark_loaded
from scripts.users import staff_headers

EMAILS = {"A001": "finance@shenzhen-hub.example", "A002": "owner@futian-store.example",
          "A003": "kiosk@nanshan.example", "A004": "accounts@luohu-reseller.example"}
TITLES = {"A001": ("深圳市枢纽通信有限公司", "91440300MA5HUB0001"), "A002": ("深圳市福田通信门店", "91440300MA5FUT0002"),
          "A003": ("深圳市南山通信亭", "91440300MA5NAN0003"), "A004": ("深圳市罗湖通信经销部", "91440300MA5LUO0004")}


async def load_finance_demo_once(api: str, engine: Engine | None = None, wait_s: float = 180) -> None:
    engine = engine or get_engine()
    with Session(engine) as s:
        if already_loaded("finance", s.exec(select(Invoice).limit(1)).first() is not None):
            return
        for agent in s.exec(select(Agent)):
            agent.email = agent.email or EMAILS.get(agent.id, "")
            s.add(agent)
        s.commit()
    admin, fin = await asyncio.gather(asyncio.to_thread(staff_headers, api),
                                      asyncio.to_thread(staff_headers, api, "demo-finance"))
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        statements = await _settled_statements(http, admin, wait_s)
        if len(statements) < 3:
            print("  (finance demo: last month's batches have not closed yet; invoices come on the next `make run`)")
            return
        made = []
        for st in statements[:3]:
            title, tax = TITLES.get(st["agent_id"], ("Demo agent", "91440300MA5DEMO000"))
            r = await http.post(f"/statements/{st['id']}/invoice", headers=admin, json={"title": title, "tax_number": tax})
            r.raise_for_status()
            made.append(r.json())
        issued, to_reissue, to_refuse = made
        (await http.post(f"/invoices/{issued['id']}/issue", headers=fin, json={"tax_rate_bp": 600})).raise_for_status()
        (await http.post(f"/invoices/{to_reissue['id']}/issue", headers=fin, json={"tax_rate_bp": 600})).raise_for_status()
        (await http.post(f"/invoices/{to_reissue['id']}/reissue", headers=fin,
                         json={"reason": "the buyer's name was misspelt", "tax_rate_bp": 600})).raise_for_status()
        (await http.post(f"/invoices/{to_refuse['id']}/refuse", headers=fin,
                         json={"reason": "the tax number does not match the business licence"})).raise_for_status()
        if len(statements) > 3:  # one request left for finance to decide
            st = statements[3]
            title, tax = TITLES.get(st["agent_id"], ("Demo agent", "91440300MA5DEMO000"))
            (await http.post(f"/statements/{st['id']}/invoice", headers=admin,
                             json={"title": title, "tax_number": tax})).raise_for_status()
    mark_loaded("finance")
    print("Demo finance loaded: invoices issued, re-issued, refused and requested (mail in var/mail).")


async def _settled_statements(http: httpx.AsyncClient, headers: dict, wait_s: float) -> list[dict]:
    """Statements of closed batches with commission, once some batches have closed (they run after the orders)."""
    for _ in range(int(wait_s)):
        batches = (await http.get("/settlements", headers=headers, params={"limit": 50})).json()["items"]
        closed = [b for b in batches if b["status"] == "closed"]
        if len(closed) >= 2:
            found = []
            for b in closed:
                detail = (await http.get(f"/settlements/{b['id']}", headers=headers)).json()
                found += [st for st in detail["statements"] if st["amount_fen"] > 0]
            if len(found) >= 4:
                return found
        await asyncio.sleep(1)
    return []

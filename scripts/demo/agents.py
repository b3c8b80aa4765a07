"""Agent-account demo data, loaded once by `make run` after the orders demo (through the real API, as ops, finance,
the agent and the carrier would): a suspended agent with an open appeal and its attachment, an arrears
suspension lifted by finance's payment, an announced maintenance window, and number suspension cases (one open,
one overdue risk-control hold, one restored)."""

import asyncio
import json
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.db import get_engine
from core.http import signed_request
from core.settings import get_settings
from db.agents import Appeal
from db.orders import Order
from domain.clock import SHANGHAI
from scripts.demo.state import already_loaded, mark_loaded
from scripts.users import staff_headers

# a PNG a phone would send as a screenshot (only its first bytes matter to the type check)
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


async def _call(http: httpx.AsyncClient, method: str, url: str, headers: dict, **kw) -> dict:
    r = await http.request(method, url, headers=headers, **kw)
    if r.status_code >= 400:
        raise RuntimeError(f"demo: {method} {url} -> {r.status_code} {r.text}")
    return r.json()


async def _push(http: httpx.AsyncClient, api: str, carrier: str, event: dict) -> None:
    body = json.dumps(event).encode()
    r = await http.send(signed_request(http, "POST", f"{api}/carrier-events", body,
                                       get_settings().push_secrets.get(carrier, ""), carrier))
    if r.status_code >= 400:
        raise RuntimeError(f"demo: carrier event -> {r.status_code} {r.text}")


def _open_orders(engine: Engine, n: int) -> list[Order]:
    with Session(engine) as s:
        return list(s.exec(select(Order).where(Order.status == "awaiting_check_point").order_by(col(Order.id))
                           .limit(n)).all())


async def load_agent_demo_once(api: str, engine: Engine | None = None) -> None:
    engine = engine or get_engine()
    with Session(engine) as s:
        if already_loaded("agents", s.exec(select(Appeal).limit(1)).first() is not None):
            return
    cases = await load_agent_demo(api, engine)
    mark_loaded("agents")
    print(f"Demo agents loaded: A002 suspended with an open appeal, A003 reinstated by an arrears payment, a maintenance"
          f" window tomorrow, {cases} number suspension cases.")


async def load_agent_demo(api: str, engine: Engine) -> int:
    """The demo's steps; the number of suspension cases opened."""
    ops, admin, finance, agent = await asyncio.gather(*(asyncio.to_thread(staff_headers, api, name) for name in
                                                        ("demo-ops", "demo-admin", "demo-finance", "demo-agent")))
    now = datetime.now(SHANGHAI)
    async with httpx.AsyncClient(timeout=30) as http:
        # A002 (the demo agent's own account): suspended for fake promotion; its appeal waits for an admin
        await _call(http, "POST", f"{api}/agents/A002/suspend", ops, json={
            "reason": "promotion of a 0-yuan plan that does not exist", "category": "violation",
            "violation_kind": "fake_promotion", "evidence": "three customer complaints, screenshots of the ad"})
        shot = await _call(http, "POST", f"{api}/agents/A002/attachments", agent,
                           files={"file": ("ad-removed.png", SCREENSHOT, "image/png")})
        await _call(http, "POST", f"{api}/agents/A002/appeal", agent, json={
            "statement": "The ad was posted by a former employee; it is removed and the plan is explained correctly.",
            "attachment_ids": [shot["id"]]})
        # A003: suspended for arrears, then finance records the payment: the suspension lifts itself
        await _call(http, "POST", f"{api}/agents/A003/suspend", ops, json={
            "reason": "platform fees of October unpaid", "category": "arrears"})
        await _call(http, "POST", f"{api}/agents/A003/arrears-paid", finance, json={
            "payment_ref": "FIN-DEMO-0001", "amount_fen": 48000})
        # a maintenance window announced for tomorrow night: agents see it now; ordering pauses during it
        start = (now + timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)
        await _call(http, "POST", f"{api}/maintenance-windows", admin, json={
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
            "message": "database upgrade; orders placed before it continue normally"})
        # number suspension cases on orders waiting for their check point
        orders = _open_orders(engine, 3)
        stories = [("one_way", timedelta(hours=3), None), ("risk_control", timedelta(days=3), None),
                   ("two_way", timedelta(hours=20), timedelta(hours=6))]
        for order, (mode, ago, restored_after) in zip(orders, stories, strict=False):
            at = now - ago
            await _push(http, api, order.carrier, {"event_id": f"{order.id}-demo-suspended", "order_id": order.id,
                                                   "kind": "suspended", "occurred_at": at.isoformat(), "mode": mode,
                                                   **({"reason": "identity"} if mode == "risk_control" else {})})
            if restored_after is not None:
                await _push(http, api, order.carrier, {"event_id": f"{order.id}-demo-restored", "order_id": order.id,
                                                       "kind": "restored", "occurred_at": (at + restored_after).isoformat()})
    return min(len(orders), len(stories))

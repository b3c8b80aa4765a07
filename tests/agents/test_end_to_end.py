"""The agents business as `make run` starts it (dev server, simulators, worker, API as processes), over real HTTP:
the demo loader's steps, then what each party sees: the suspended agent's appeal and inbox, finance's payment
lifting an arrears suspension, the announced window, and number suspension cases opened by the orders' workflows."""

import asyncio
from datetime import datetime, timedelta

import httpx
from sqlmodel import Session

from core.db import make_engine
from scripts.demo.agents import load_agent_demo
from scripts.demo.order_stories import life, scenario
from scripts.demo.orders import PRODUCTS, seed_catalogue
from scripts.demo.people import CUSTOMER
from scripts.users import ensure_demo_users, staff_headers
from services.orders.order import terms_of
from tests.polling import poll
from tests.stacks import running_stack


def _seed(engine) -> None:
    seed_catalogue(engine)
    with Session(engine) as s:  # the agent-bound demo users, now that the agents exist
        ensure_demo_users(s)


async def test_demo_accounts_and_suspension_cases_through_every_process(tmp_path):
    with running_stack(tmp_path, None, _seed) as stack:
        engine = make_engine(stack.env["SIMBO_DATABASE_URL"])
        product = PRODUCTS[0]
        start = datetime.now().astimezone() - timedelta(days=15)
        admin = await asyncio.to_thread(stack.staff_headers)
        async with httpx.AsyncClient(base_url=stack.api_url, headers=admin, timeout=30) as api:
            ids = []
            for n in range(3):  # three orders waiting for their check point
                msisdn = f"1380013{n:04d}"
                r = await api.post("/orders", json={"agent_id": "A001", "product_id": product.id, "msisdn": msisdn, **CUSTOMER},
                                   headers={"Idempotency-Key": f"e2e-agents-{n}"})
                order_id = r.json()["id"]
                ids.append(order_id)
                story = scenario(order_id, product.carrier, msisdn, life(order_id, msisdn, terms_of(product), start))
                async with httpx.AsyncClient(base_url=stack.simulator_url, timeout=30) as sim:
                    (await sim.post("/sim/scenarios", json=story)).raise_for_status()

            async def waiting():
                return (await api.get("/orders", params={"status": "awaiting_check_point"})).json()

            await poll(waiting, lambda p: p["total"] == 3, "orders waiting for the check point")
            assert await load_agent_demo(stack.api_url, engine) == 3

            agent = await asyncio.to_thread(staff_headers, stack.api_url, "demo-agent")
            mine = (await api.get("/agents/A002", headers=agent)).json()
            assert mine["status"] == "suspended" and mine["suspension_category"] == "violation"
            assert mine["appeals"][0]["state"] == "open" and mine["appeals"][0]["attachments"][0]["content_type"] == "image/png"

            async def inbox():
                return (await api.get("/agents/A002/inbox", headers=agent)).json()

            notices = await poll(inbox, lambda ns: {"suspend", "appeal", "maintenance_announced"} <= {n["kind"] for n in ns},
                                 "the agent's inbox")
            assert any("suspended" in n["text"] for n in notices)
            a003 = (await api.get("/agents/A003")).json()
            assert a003["status"] == "active"
            assert [h["action"] for h in a003["history"]] == ["suspend", "arrears_paid", "reinstate"]
            assert len((await api.get("/maintenance-windows", headers=agent)).json()) == 1

            async def cases():
                return (await api.get("/suspension-cases")).json()

            seen = await poll(cases, lambda p: p["total"] == 3 and any(c["state"] == "restored" for c in p["items"])
                              and any(c["state"] == "overdue" for c in p["items"]), "suspension cases")
            overdue = next(c for c in seen["items"] if c["state"] == "overdue")
            assert overdue["kind"] == "risk_control" and overdue["trigger"] == "identity"
            assert "138" in overdue["msisdn_masked"] and "****" in overdue["msisdn_masked"]
            detail = (await api.get(f"/orders/{overdue['order_id']}")).json()
            assert [c["case_id"] for c in detail["suspension_cases"]] == [overdue["case_id"]]
            restored = next(c for c in seen["items"] if c["state"] == "restored")
            assert restored["restored_within_window"] is True

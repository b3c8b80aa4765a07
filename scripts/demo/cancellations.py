"""Account-cancellation demo data, loaded once by `make run`: one case in each state.

The live ones go through the real API as a service clerk (demo-clerk) and the self-service app (demo-app), the
carrier simulator scripted per number: a to-do list, a re-check that finds something new, eligible with an
appointment, in the cooling-off, withdrawn. Two more show what happens after 72 hours without waiting for them:
their cases are written as confirmed four days ago (through the service and the domain, as an import of older
cases would) and the workflow asks the carrier at once: one cancelled, one
the carrier refuses (failed).
"""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from core.access import Principal, Role
from core.db import get_engine
from db.cancellations import Cancellation
from domain.cancellations import apply_confirm, apply_precheck
from domain.clock import SHANGHAI
from domain.orders.carriers import Carrier
from scripts.demo.state import already_loaded, mark_loaded
from scripts.users import staff_headers
from services import cancellations as svc

VA = {"service_id": "VIDEO99", "name": "video membership", "monthly_fee_fen": 99, "auto_renew": True}


def _scripts(today) -> list[dict]:
    ends = today.replace(year=today.year + 1, day=1)
    return [
        {"msisdn": "13700000001", "carrier": "china_mobile",
         "facts": {"contracts": [{"contract_id": "K-128", "name": "128 plan with a phone", "subsidy_fen": 180_000,
                                  "term_months": 24, "ends_on": ends.isoformat()}],
                   "balance_fen": 4_650, "devices": [{"device_id": "IMEI-8601", "name": "contract phone"}],
                   "value_added": [VA]}},
        {"msisdn": "13700000002", "carrier": "china_unicom", "facts": {"value_added": [VA]},
         "on_recheck": {"family_plans": [{"plan_id": "FAM-3", "name": "family share 3", "owner": False}]}},
        {"msisdn": "13700000007", "carrier": "china_telecom", "refuse_cancel": "number under a real-name review"},
    ]


async def _post(http: httpx.AsyncClient, url: str, body: dict | None = None, key: str | None = None,
                as_: dict | None = None) -> dict:
    r = await http.post(url, json=body or {}, headers={**(as_ or {}), **({"Idempotency-Key": key} if key else {})})
    if r.status_code >= 400:
        raise RuntimeError(f"demo: {url} -> {r.status_code} {r.text}")
    return r.json()


async def _state(http: httpx.AsyncClient, api: str, cid: str, wanted: str, as_: dict | None = None) -> dict:
    for _ in range(200):
        d = (await http.get(f"{api}/cancellations/{cid}", headers=as_ or {})).json()
        if d.get("state") == wanted:
            return d
        await asyncio.sleep(0.1)
    raise RuntimeError(f"demo: cancellation {cid} never reached {wanted}")


def _aged(engine: Engine, msisdn: str, carrier: Carrier, clerk: str) -> tuple:
    """A case confirmed 4 days ago: its cooling-off is over, the carrier is asked as soon as it starts."""
    confirmed = datetime.now(UTC) - timedelta(days=4)
    principal = Principal(id=clerk, roles=frozenset({Role.SERVICE_CLERK}))
    with Session(engine) as s:
        started = svc.start(s, f"demo-cancellation-{msisdn}", svc.NewCancellation(
            msisdn=msisdn, carrier=carrier, documents_checked=True), principal, now=confirmed - timedelta(hours=1))
    case = started.case
    apply_precheck(case, [], confirmed - timedelta(minutes=30))
    apply_confirm(case, confirmed, clerk)
    return started.row.id, case


async def load_cancellation_demo_once(client: Client, api: str, simulator: str, engine: Engine | None = None) -> None:
    engine = engine or get_engine()
    with Session(engine) as s:
        if already_loaded("cancellations", s.exec(select(Cancellation).limit(1)).first() is not None):
            return
    today = datetime.now(SHANGHAI).date()
    clerk = await asyncio.to_thread(staff_headers, api, "demo-clerk")
    app = await asyncio.to_thread(staff_headers, api, "demo-app")
    async with httpx.AsyncClient(timeout=30, headers=clerk) as http:
        (await http.post(f"{simulator}/sim/accounts", json=_scripts(today))).raise_for_status()

        def start(msisdn, carrier="china_mobile", as_=None, **over):
            body = {"msisdn": msisdn, "carrier": carrier, "documents_checked": as_ is None, **over}
            return _post(http, f"{api}/cancellations", body, key=f"demo-cancellation-{msisdn}", as_=as_)

        # a to-do list of four: early-termination amount, charges, a contract phone, a video membership
        todo = await start("13700000001")
        await _state(http, api, todo["id"], "todo")
        # a service cancelled at the carrier, then the re-check finds a family plan: ineligible again
        again = await start("13700000002", "china_unicom")
        await _state(http, api, again["id"], "todo")
        await _post(http, f"{api}/cancellations/{again['id']}/clear", {"item_id": "value_added:VIDEO99", "via": "carrier"})
        # eligible, from the app, with an appointment at a service hall in 5 days (SMS 3 days before)
        at = datetime.combine(today + timedelta(days=5), datetime.min.time(), tzinfo=SHANGHAI) + timedelta(hours=10)
        ready = await start("13700000003", as_=app, appointment_at=at.isoformat(), appointment_hall="Xuhui service hall")
        await _state(http, api, ready["id"], "ready", as_=app)
        # confirmed: 72 hours of cooling-off from now
        cooling = await start("13700000004")
        await _state(http, api, cooling["id"], "ready")
        await _post(http, f"{api}/cancellations/{cooling['id']}/confirm")
        # confirmed, then withdrawn by the customer in the app
        withdrawn = await start("13700000005")
        await _state(http, api, withdrawn["id"], "ready")
        await _post(http, f"{api}/cancellations/{withdrawn['id']}/confirm")
        await _post(http, f"{api}/cancellations/{withdrawn['id']}/withdraw", {"reason": "kept for the bank's SMS codes"})

    # after the 72 hours: cancelled at the carrier, and refused by the carrier
    for msisdn, carrier in (("13700000006", Carrier.CHINA_MOBILE), ("13700000007", Carrier.CHINA_TELECOM)):
        _, case = await asyncio.to_thread(_aged, engine, msisdn, carrier, "demo-clerk")
        await svc.ensure_workflow(client, case)
    mark_loaded("cancellations")
    print("Demo cancellations loaded (7 cases: todo x2, ready, cooling_off, withdrawn, "
          "cancelled, failed).")

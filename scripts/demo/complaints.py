"""Complaint-desk demo data, loaded once by `make run` (through the real API, like a front-line desk would):
complaints of every level, one overdue, one reopened, one escalated, fee returns of each kind."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.db import get_engine
from db.complaints import Complaint
from domain.complaints.complaint import customer_sms_time
from scripts.demo.complaints_archive import load_archive
from scripts.demo.state import already_loaded, mark_loaded
from scripts.users import staff_headers

BASE = {"customer": "standard", "source": "hotline", "ctype": "billing", "receiving_department": "complaint_desk"}
LEVELS = [  # (label, overrides): one complaint of every level
    ("level 1 (media)", {"source": "media", "text": "city paper asked about double charges"}),
    ("level 2 (premium)", {"customer": "premium", "text": "premium customer: roaming pack not applied"}),
    ("level 3 (standard)", {"ctype": "mms", "text": "MMS not received"}),
    ("level 4 (coverage)", {"ctype": "network_coverage", "text": "no signal in the new estate"}),
    ("regulator (ministry)", {"source": "ministry_forwarded", "text": "forwarded by MIIT: unsubscribed service billed"}),
]
REPLY = {"findings": "the May bill charged the data pack twice", "handling": "second charge returned double",
         "reply_to_customer": "we returned 2 x 10.00 yuan to your account"}


async def _post(http: httpx.AsyncClient, url: str, body: dict, key: str | None = None,
                as_: dict[str, str] | None = None) -> dict:
    """POST as the demo admin, or `as_` another signed-in demo user (the approver, the auditor)."""
    r = await http.post(url, json=body, headers={**(as_ or {}), **({"Idempotency-Key": key} if key else {})})
    if r.status_code >= 400:
        raise RuntimeError(f"demo: {url} -> {r.status_code} {r.text}")
    return r.json()


async def _register(http, api: str, n: int, key: str | None = None, **over) -> dict:
    return await _post(http, f"{api}/complaints", {**BASE, "msisdn": f"1350000{n:04d}", **over},
                       key=key or f"demo-complaint-{n}")


async def _handle(http, api: str, cid: str, frm: str, to: str) -> None:
    await _post(http, f"{api}/complaints/{cid}/transfer", {"department": frm, "to": to})
    await _post(http, f"{api}/complaints/{cid}/accept", {"department": to})
    await _post(http, f"{api}/complaints/{cid}/reply", {"department": to, **REPLY})


async def load_complaint_demo_once(api: str, sms_sim: str, engine: Engine | None = None) -> None:
    engine = engine or get_engine()
    with Session(engine) as s:
        if already_loaded("complaints", s.exec(select(Complaint).limit(1)).first() is not None):
            return
    now = datetime.now(UTC)
    headers = await asyncio.to_thread(staff_headers, api)  # signed in as the demo admin
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        made = [await _register(http, api, i, **over) for i, (_, over) in enumerate(LEVELS, start=1)]
        # a repeat (same number, same type within 30 days): half the deadline
        repeat = await _register(http, api, 3, key="demo-complaint-3-again", ctype="mms", text="MMS still not received")
        assert repeat["repeat_of"] == made[2]["id"], repeat
        # overdue: a VIP complaint received 9 hours ago (8 h deadline); supervision notices run daily
        overdue = await _register(http, api, 10, customer="vip", received_at=(now - timedelta(hours=9)).isoformat(),
                                  text="VIP: charged for a cancelled plan")
        # escalated: a crisis report on the media complaint
        await _post(http, f"{api}/complaints/{made[0]['id']}/escalate", {"reason": "journalist called"})
        # handled: transferred once and replied; its fee returns follow
        paid = await _register(http, api, 11, text="charged twice, wrong plan, voice prompt charged")
        await _handle(http, api, paid["id"], "complaint_desk", "billing")
        await _fee_returns(http, api, paid["id"], "13500000011")
        vip = await _register(http, api, 12, customer="vip", ctype="value_added", text="VIP disputes SP charges")
        await _vip_and_sp(http, api, vip["id"], "13500000012")
        # reopened: replied, accepted, the customer answers the survey SMS "2" (dissatisfied)
        reopened = await _register(http, api, 13, text="still charged after cancelling")
        await _handle(http, api, reopened["id"], "complaint_desk", "branch_shunqing")
        how = await _reopen(http, api, sms_sim, reopened["id"], "13500000013")
        await _this_months_kpis(http, api, sms_sim)
    archive = await asyncio.to_thread(load_archive, engine, now)
    mark_loaded("complaints")
    print(f"Complaint demo data loaded: {len(LEVELS) + 9} complaints (overdue {overdue['id']}, reopened "
          f"{reopened['id']} {how}), fee returns of each kind, a credit the billing system refuses, a special-channel "
          f"letter with its written reply; last month's closed tickets for the KPIs: /complaints/kpis?month={archive}.")


async def _this_months_kpis(http, api: str, sms_sim: str) -> None:
    """What the month's KPIs count besides: an unqualified reply, a "subscribed without knowing" complaint received by
    a branch, a special-channel letter with its document and written reply, a credit the billing system refuses."""
    branch = await _register(http, api, 14, ctype="uninformed_subscription", receiving_department="branch_gaoping",
                             text="a video membership appeared on my bill")
    await _post(http, f"{api}/complaints/{branch['id']}/transfer", {"department": "branch_gaoping", "to": "data"})
    await _post(http, f"{api}/complaints/{branch['id']}/accept", {"department": "data"})
    refused = await http.post(f"{api}/complaints/{branch['id']}/reply",
                              json={"department": "data", "findings": "checked", "handling": "已转相关部门处理",
                                    "reply_to_customer": "please wait"})
    assert refused.status_code == 422, refused.text  # an unqualified reply, counted
    await _post(http, f"{api}/complaints/{branch['id']}/reply", {"department": "data", **REPLY})
    letter = await _register(http, api, 15, source="letter", text="letter: the counter changed my plan")
    r = await http.post(f"{api}/complaints/{letter['id']}/documents",
                        files={"file": ("letter.txt", b"Dear 10086, ... (the customer's letter)", "text/plain")},
                        data={"note": "scanned letter"})
    r.raise_for_status()
    await _post(http, f"{api}/complaints/{letter['id']}/written-reply", {
        "department": "complaint_desk", "process": "called the customer, checked the counter's records",
        "background": "the plan was changed at the counter without a signature",
        "measures": "plan restored; 2 x 38.00 yuan returned", "customer_acceptance": "accepted on the phone, recorded"})
    # the billing system refuses credits of 12.34 yuan (the simulator's switch): the return ends credit_failed
    (await http.post(f"{sms_sim}/sim/behaviour", json={"refuse_credit_fen": 1234})).raise_for_status()
    await _post(http, f"{api}/complaints/{letter['id']}/fee-returns", {
        "msisdn": "13500000015", "category": "voice_prompt", "charge_month": "202610", "charged_fen": 617}, "demo-fr-8")


async def _fee_returns(http, api: str, cid: str, msisdn: str) -> None:
    url = f"{api}/complaints/{cid}/fee-returns"
    double = await _post(http, url, {"msisdn": msisdn, "category": "receipt_mismatch", "charge_month": "202610",
                                     "charged_fen": 13800, "promised_fen": 3800}, "demo-fr-1")
    # four eyes from the tokens: the admin registered it, a team lead approves, an auditor audits
    lead, auditor = await asyncio.gather(asyncio.to_thread(staff_headers, api, "demo-lead"),
                                         asyncio.to_thread(staff_headers, api, "demo-auditor"))
    await _post(http, f"{api}/fee-returns/{double['id']}/approve", {}, as_=lead)
    await _post(http, f"{api}/fee-returns/{double['id']}/audit", {"ok": True}, as_=auditor)
    # one charge (a number's month) is returned once: each of these is another month's charge
    await _post(http, url, {"msisdn": msisdn, "category": "wrong_plan", "charge_month": "202609", "charged_fen": 8800,
                            "promised_fen": 5800}, "demo-fr-2")  # 60 yuan: awaits a team lead
    await _post(http, url, {"msisdn": msisdn, "category": "voice_prompt", "charge_month": "202608", "charged_fen": 120}, "demo-fr-3")
    await _post(http, url, {"msisdn": msisdn, "category": "interconnection", "charge_month": "202607",
                            "charged_fen": 500}, "demo-fr-4")


async def _vip_and_sp(http, api: str, cid: str, msisdn: str) -> None:
    url = f"{api}/complaints/{cid}/fee-returns"
    await _post(http, url, {"msisdn": msisdn, "category": "vip_insists", "charge_month": "202609", "charged_fen": 3000}, "demo-fr-5")  # single: first in two months
    await _post(http, url, {"msisdn": msisdn, "category": "vip_insists", "charge_month": "202610", "charged_fen": 2000}, "demo-fr-6")  # none: a return in the last two months
    sp = await _post(http, url, {"msisdn": msisdn, "category": "sp_unverified", "charge_month": "202608",
                                 "charged_fen": 1500, "monthly_subscription": True}, "demo-fr-7")
    lead = await asyncio.to_thread(staff_headers, api, "demo-lead")
    await _post(http, f"{api}/fee-returns/{sp['id']}/verification", {"confirmed": True}, as_=lead)


async def _reopen(http, api: str, sms_sim: str, cid: str, msisdn: str) -> str:
    """In the day: accepted, the survey SMS goes out, the customer answers "2" through the SMS gateway simulator,
    which pushes the answer to our API as the real gateway would. In quiet hours (22:00-07:00) the survey SMS
    would wait for 07:00, so the demo reopens it as "not accepted" (crisis report, back to the department)."""
    now = datetime.now(UTC)
    if customer_sms_time(now) != now:
        await _post(http, f"{api}/complaints/{cid}/acceptance", {"accepted": False,
                                                                 "note": "customer rejects the answer"})
        return "as not accepted (quiet hours: no survey SMS before 07:00)"
    await _post(http, f"{api}/complaints/{cid}/acceptance", {"accepted": True})
    for _ in range(40):
        detail = (await http.get(f"{api}/complaints/{cid}")).json()
        live = detail.get("live") or {}
        if live.get("case", {}).get("survey_sent_at"):
            r = await http.post(f"{sms_sim}/sim/reply", json={"from": msisdn, "text": "2"})
            return f"by survey answer ({r.json().get('answer', {}).get('outcome')})"
        await asyncio.sleep(0.25)
    return "not yet: the survey SMS is late; answer it with POST /sim/reply {\"from\": \"13500000013\", \"text\": \"2\"}"

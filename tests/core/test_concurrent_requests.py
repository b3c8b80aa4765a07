"""Twenty callers at once on every detail route, mixed with writes, on SQLite and PostgreSQL: every answer is a
success. Reads take no write lock and no route holds a transaction while it awaits Temporal, so nothing queues
behind a reader (the freeze this guards against: two concurrent complaint reads locked SQLite for 30 s)."""

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlmodel import Session

from db.orders import AgentStatement, BatchStatus, SettlementBatch
from services import identity
from tests.fixtures_db import AGENT, PRODUCT, bearer
from tests.refunds.fixtures import MERCHANT, pay, seed_refund_reference

CALLERS = 20
MSISDN = "13812345678"
MONTH = "202604"
BATCH = f"settlement-china_mobile-{MONTH}"


@pytest.fixture
async def http(api_app, seeded):
    seed_refund_reference(seeded)
    with Session(seeded) as s:
        key = identity.create_api_key(s, MERCHANT, "load test")[1]
        s.add(SettlementBatch(id=BATCH, carrier="china_mobile", month=MONTH, status=BatchStatus.CLOSED,
                              orders_settled=1, commission_fen=13200))
        s.add(AgentStatement(id=f"{BATCH}-{AGENT}", batch_id=BATCH, agent_id=AGENT, carrier="china_mobile", month=MONTH,
                             orders_settled=1, amount_fen=13200))
        s.commit()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://api",
                                 headers=bearer("admin")) as client:
        client.merchant = {"Authorization": "", "X-Api-Key": key}
        yield client


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def place_order(http: httpx.AsyncClient, n: int) -> httpx.Response:
    body = {"agent_id": AGENT, "product_id": PRODUCT, "msisdn": f"1381234{n:04d}", "customer_name": "张三"}
    return await http.post("/orders", json=body, headers=_key())


async def ask_refund(http: httpx.AsyncClient, payment_id: str, n: int) -> httpx.Response:
    body = {"merchant_id": MERCHANT, "merchant_refund_no": f"R-{payment_id}-{n}", "payment_id": payment_id,
            "amount_fen": 100, "reason": "customer returned one item", "callback_url": "http://merchant.example/cb"}
    return await http.post("/refunds", json=body, headers=http.merchant)


async def register_complaint(http: httpx.AsyncClient) -> httpx.Response:
    body = {"msisdn": MSISDN, "customer": "standard", "source": "hotline", "ctype": "billing",
            "receiving_department": "complaint_desk", "text": "charged twice for May"}
    return await http.post("/complaints", json=body, headers=_key())


async def test_twenty_callers_on_every_detail_route_mixed_with_writes_all_succeed(http, seeded):
    order = await place_order(http, 0)
    assert order.status_code == 201, order.text
    payment = pay(seeded, "P-LOAD", paid_fen=100_000, paid_at=datetime.now(UTC))
    refund = await ask_refund(http, payment.payment.id, 0)
    assert refund.status_code in (201, 202), refund.text
    complaint = await register_complaint(http)
    assert complaint.status_code == 201, complaint.text
    cid = complaint.json()["id"]
    fee_return = await http.post(f"/complaints/{cid}/fee-returns", headers=_key(), json={
        "msisdn": MSISDN, "category": "receipt_mismatch", "charge_month": "202610", "charged_fen": 13800,
        "promised_fen": 3800})
    assert fee_return.status_code == 201, fee_return.text

    details = [
        f"/orders/{order.json()['id']}",
        f"/refunds/{refund.json()['id']}",
        f"/payments/{payment.payment.id}",
        f"/complaints/{cid}",
        f"/complaints/{cid}/fee-returns",
        f"/settlements/{BATCH}",
    ]
    reads = [http.get(url) for url in details for _ in range(CALLERS)]
    writes = [place_order(http, n) for n in range(1, CALLERS + 1)]
    writes += [ask_refund(http, payment.payment.id, n) for n in range(1, CALLERS + 1)]
    writes += [register_complaint(http) for _ in range(CALLERS)]
    answers = await asyncio.gather(*reads, *writes)

    failed = [(r.request.method, r.request.url.path, r.status_code, r.text[:200]) for r in answers
              if r.status_code >= 300]
    assert not failed, failed
    read_answers = answers[:len(reads)]
    for i, url in enumerate(details):  # each read saw its own record, not an empty or partial answer
        ids = {r.json().get("id") for r in read_answers[i * CALLERS:(i + 1) * CALLERS] if isinstance(r.json(), dict)}
        assert len(ids) <= 1, (url, ids)
    orders = await http.get("/orders", params={"limit": 100})
    assert orders.json()["total"] == CALLERS + 1

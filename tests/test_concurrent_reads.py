"""The API never blocks and reads never lock: 20 concurrent requests at every detail route (orders, refunds,
complaints, fee returns, settlements) mixed with writes, on SQLite and PostgreSQL, all succeed."""

import asyncio
import uuid

import httpx
from sqlmodel import Session

from db.orders import SettlementBatch
from tests.fixtures_db import AGENT, PRODUCT, bearer
from tests.refunds.fixtures import MERCHANT, pay, seed_refund_reference

PARALLEL = 20


async def test_twenty_concurrent_reads_of_every_detail_route_beside_writes(seeded, api_app):
    seed_refund_reference(seeded)
    pay(seeded, "P-READS", paid_fen=1_000_000)
    with Session(seeded) as s:
        s.add(SettlementBatch(id="settlement-china_mobile-202610", carrier="china_mobile", month="202610"))
        s.commit()
    admin = bearer("admin")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://api",
                                 headers=admin, timeout=60) as http:
        order = (await http.post("/orders", json={"agent_id": AGENT, "product_id": PRODUCT, "msisdn": "13800138000"},
                                 headers={"Idempotency-Key": "reads-1"})).json()
        merchant_key = (await http.post(f"/merchants/{MERCHANT}/api-keys")).json()["key"]
        merchant = httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://api",
                                     headers={"X-Api-Key": merchant_key}, timeout=60)

        async def refund(n: int) -> httpx.Response:
            return await merchant.post("/refunds", json={
                "merchant_id": MERCHANT, "merchant_refund_no": f"RN-{n}", "payment_id": "P-READS", "amount_fen": 100,
                "reason": "returned one item"})

        first_refund = (await refund(0)).json()
        complaint = (await http.post("/complaints", headers={"Idempotency-Key": "reads-c"}, json={
            "msisdn": "13800138000", "customer": "standard", "source": "hotline", "ctype": "billing",
            "receiving_department": "complaint_desk", "text": "charged twice"})).json()
        fee_return = await http.post(f"/complaints/{complaint['id']}/fee-returns", headers={"Idempotency-Key": "reads-f"},
                                     json={"msisdn": "13800138000", "category": "receipt_mismatch",
                                           "charge_month": "202610", "charged_fen": 13800, "promised_fen": 3800})
        assert fee_return.status_code == 201, fee_return.text

        reads = [f"/orders/{order['id']}", f"/refunds/{first_refund['id']}", "/payments/P-READS",
                 f"/complaints/{complaint['id']}", f"/complaints/{complaint['id']}/fee-returns",
                 "/settlements/settlement-china_mobile-202610"]
        calls = [http.get(path) for path in reads for _ in range(PARALLEL)]
        calls += [refund(n) for n in range(1, PARALLEL + 1)]
        calls += [http.post("/orders", headers={"Idempotency-Key": uuid.uuid4().hex},
                            json={"agent_id": AGENT, "product_id": PRODUCT, "msisdn": f"1380013{n:04d}"})
                  for n in range(PARALLEL)]
        answers = await asyncio.gather(*calls)
        await merchant.aclose()
    failed = [(r.request.method, r.request.url.path, r.status_code, r.text[:200]) for r in answers
              if r.status_code >= 300]
    assert failed == []
    assert len(answers) == PARALLEL * (len(reads) + 2)

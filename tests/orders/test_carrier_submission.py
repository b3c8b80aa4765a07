"""Order submission to the carrier simulator over real HTTP through our CarrierGateway: accepted with the carrier's
order number, refused with a precise reason, slow (our retry gets the first answer), accepted then cancelled, and
the shipment events held until the acceptance."""

import json

import httpx
import pytest

from core.http import PeerUnavailable
from gateways.carrier import CarrierGateway
from scripts.demo.people import CUSTOMER
from tests.orders.test_carrier_simulator import SETTINGS, Receiver, ServerThread, scenario, start_sim, wait_for


def order(order_id: str, msisdn: str = "13800001234", customer: dict | None = CUSTOMER) -> dict:
    return {"order_id": order_id, "product_id": "P-CM-39", "msisdn": msisdn,
            "recipient": customer["recipient"] if customer else None,
            "real_name": customer["real_name"] if customer else None}


async def test_accepted_refused_and_incomplete(tmp_path):
    sim = start_sim(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=sim.url) as admin, \
                CarrierGateway(sim.url, SETTINGS.carrier_api_secret) as gw:
            await admin.post("/sim/orders", json=[{"msisdn": "13800000002", "outcome": "refuse",
                                                   "reason": "real_name_check_failed", "detail": "name and ID differ"}])
            ok = await gw.submit_order("china_mobile", order("O-1"))
            assert ok.accepted and ok.carrier_order_no.startswith("CM-")
            again = await gw.submit_order("china_mobile", order("O-1"))
            assert again.carrier_order_no == ok.carrier_order_no  # idempotent by the order id
            no = await gw.submit_order("china_mobile", order("O-2", msisdn="13800000002"))
            assert (no.accepted, no.reason, no.detail) == (False, "real_name_check_failed", "name and ID differ")
            bare = await gw.submit_order("china_mobile", order("O-3", customer=None))
            assert (bare.accepted, bare.reason) == (False, "incomplete_order_data")
            stats = (await admin.get("/sim/stats")).json()
            assert (stats["orders_accepted"], stats["orders_refused"], stats["order_resubmissions"]) == (1, 2, 1)
    finally:
        sim.stop()


async def test_a_slow_carrier_is_retried_and_answers_the_first_answer(tmp_path):
    sim = start_sim(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=sim.url) as admin, \
                CarrierGateway(sim.url, SETTINGS.carrier_api_secret, timeout=httpx.Timeout(0.3)) as gw:
            await admin.post("/sim/orders", json=[{"msisdn": "13800001234", "latency_ms": 3000}])
            with pytest.raises(PeerUnavailable):
                await gw.submit_order("china_mobile", order("O-SLOW"))
            answer = await gw.submit_order("china_mobile", order("O-SLOW"))  # the retry: stored, at once
            assert answer.accepted
            assert (await admin.get("/sim/orders/O-SLOW")).json()["carrier_order_no"] == answer.carrier_order_no
    finally:
        sim.stop()


async def test_events_wait_for_the_acceptance_and_an_accepted_order_can_be_cancelled(tmp_path):
    receiver = Receiver()
    rx = ServerThread(receiver.app).start()
    sim = start_sim(tmp_path, push_url=rx.url)
    try:
        async with httpx.AsyncClient(base_url=sim.url) as admin, \
                CarrierGateway(sim.url, SETTINGS.carrier_api_secret) as gw:
            await admin.post("/sim/scenarios", json={**scenario("O-HOLD", push="now"), "after_acceptance": True})
            await admin.post("/sim/orders", json=[{"msisdn": "13800009999", "outcome": "accept_then_cancel",
                                                   "detail": "stock error at the warehouse"}])
            assert (await admin.get("/sim/stats")).json()["pending_push_events"] == 0  # held, not queued
            await gw.submit_order("china_mobile", order("O-HOLD"))
            await gw.submit_order("china_mobile", order("O-CXL", msisdn="13800009999"))

            def pushed() -> list[dict]:
                return [json.loads(line) for r in receiver.ok() for line in r["body"].splitlines() if line]

            events = await wait_for(lambda: len(pushed()) >= 4 and pushed(), what="the held events and the cancel")
            assert [e["event_id"] for e in events if e["order_id"] == "O-HOLD"] == ["O-HOLD-1", "O-HOLD-2", "O-HOLD-3"]
            [cancel] = [e for e in events if e["order_id"] == "O-CXL"]
            assert cancel["kind"] == "order_cancelled" and cancel["reason"] == "stock error at the warehouse"
            assert all(r["verified"] for r in receiver.all())
    finally:
        sim.stop()
        rx.stop()

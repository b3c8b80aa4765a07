"""Refunds through the whole system as `make run` starts it (dev server, payment-channel simulator, worker, API),
over real signed HTTP: the loop's main branches, an ops mapping and an ops action, the sweep Schedule, merchant
callbacks, Web UI filters, and a worker killed between "sent" and "recorded" without a second refund.
"""

import asyncio
import os
import signal
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.temporal import connect
from domain.clock import SHANGHAI
from scripts.demo.refunds import seed_refund_catalogue
from scripts.schedules.refunds import ensure_refund_sweep_schedule
from scripts.stack import PY, Stack
from tests.polling import poll
from tests.stacks import running_stack
from workflows.refunds.contract import SWEEP_SCHEDULE_ID as SCHEDULE_ID

ENV = {"SIMBO_CHANNEL_TIMEOUT_S": "2", "SIMBO_REFUND_SEND_TIMEOUT_S": "6", "SIMBO_REFUND_QUERY_BACKS_S": "1,2"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("refund-stack"), ENV, seed_refund_catalogue) as s:
        yield s


async def _setup(api, merchant, sim, stack, key: str, channel: str, behaviour: str, paid: int = 10_000, **script):
    (await sim.post("/sim/payments", json=[{"payment_id": f"P-{key}", "channel": channel, "paid_fen": paid,
                                            "behaviour": behaviour, **script}])).raise_for_status()
    r = await api.post("/payments", json={
        "id": f"P-{key}", "merchant_id": "M001", "merchant_order_no": f"SO-{key}", "channel": channel,
        "product": "quick", "paid_fen": paid, "fee_fen": 50, "consumer_card_masked": "6222****8888",
        "paid_at": (datetime.now(UTC) - timedelta(hours=3)).isoformat()})
    assert r.status_code == 201, r.text
    r = await merchant.post("/refunds", json={"merchant_id": "M001", "merchant_refund_no": f"RN-{key}",
                                         "payment_id": f"P-{key}", "amount_fen": paid, "reason": "returned",
                                         "callback_url": f"{stack.channel_url}/merchant/callbacks"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_refunds_through_every_process(stack):
    async with httpx.AsyncClient(base_url=stack.api_url, headers=await asyncio.to_thread(stack.staff_headers), timeout=30) as api, \
            httpx.AsyncClient(base_url=stack.api_url, headers=await asyncio.to_thread(stack.merchant_headers),
                              timeout=30) as merchant, \
            httpx.AsyncClient(base_url=stack.channel_url, timeout=30) as sim:
        # ops shorten the retry delay of "too frequent" on unionpay: a mapping, no deploy
        r = await api.put("/refund-error-mappings", json={
            "channel": "unionpay", "raw_code": "TOO_FREQUENT", "internal_code": "channel_rate_limited",
            "merchant_message": "The bank asked us to slow down; we retry automatically.",
            "action": "new_serial_retry_later", "retry_after_s": 1})
        assert r.status_code == 201
        ok = await _setup(api, merchant, sim, stack, "ok", "unionpay", "ok")
        freq = await _setup(api, merchant, sim, stack, "freq", "unionpay", "too_frequent")
        lost = await _setup(api, merchant, sim, stack, "lost", "wechat", "never_received")
        unknown = await _setup(api, merchant, sim, stack, "unk", "wechat", "unknown_code")
        stuck = await _setup(api, merchant, sim, stack, "stuck", "flakybank", "statement_mismatch")

        async def refund(rid):
            return (await api.get(f"/refunds/{rid}")).json()

        done = await poll(lambda: refund(ok), lambda r: r["status"] == "succeeded", "a plain refund")
        assert [s["outcome"] for s in done["serials"]] == ["success"] and done["finished_at"]
        freq_done = await poll(lambda: refund(freq), lambda r: r["status"] == "succeeded", "retry under a new serial")
        assert [s["outcome"] for s in freq_done["serials"]] == ["failed", "success"]
        assert freq_done["serials"][0]["raw_code"] == "TOO_FREQUENT"
        lost_done = await poll(lambda: refund(lost), lambda r: r["status"] == "succeeded", "resend of the same serial")
        assert len(lost_done["serials"]) == 1 and lost_done["serials"][0]["sends"] == 2

        manual = await poll(lambda: refund(unknown), lambda r: r["status"] == "manual_review", "manual queue")
        assert manual["failure_code"] == "unknown_channel_code" and "do not know" in manual["failure_reason"]
        refused = await api.post(f"/refunds/{unknown}/force_fail", json={"reason": "statement ok"})
        assert refused.status_code == 422 and "statement reference" in refused.json()["reason"]
        invented = await api.post(f"/refunds/{unknown}/force_fail", json={"reason": "trust me", "statement_ref": "ST-1"})
        assert invented.status_code == 409 and invented.json()["type"] == "statement_ref_malformed"
        [declined] = manual["serials"]
        day = _shanghai_day(declined["created_at"])
        line = f"wechat/{day}/{declined['serial']}"
        unloaded = await api.post(f"/refunds/{unknown}/force_fail", json={"reason": "statement", "statement_ref": line})
        assert unloaded.status_code == 409 and unloaded.json()["type"] == "statement_not_loaded"
        recon = (await api.post(f"/refund-channels/wechat/statements/{day}")).json()
        assert recon["statement_ref"] == f"wechat/{day}" and recon["closed"] is False
        claimed = await api.post(f"/refunds/{unknown}/force_success", json={"reason": "paid?", "statement_ref": line})
        assert claimed.status_code == 409 and "says failed" in claimed.json()["reason"]
        forced = await api.post(f"/refunds/{unknown}/force_fail",
                                json={"reason": "the channel declined it", "statement_ref": line})
        assert forced.status_code == 200 and forced.json()["status"] == "failed", forced.text
        history = (await refund(unknown))["history"]
        assert any(h["kind"] == "force_fail" and h["statement_ref"] == line and h["actor"] == "demo-admin"
                   for h in history)
        assert (await refund(unknown))["payment_remaining_fen"] == 10_000  # nothing can pay: the amount is free

        # parked at the channel; the sweep (a Schedule) asks on flakybank's backoff (5 s, 10 s), then gives up
        await poll(lambda: refund(stuck), lambda r: r["status"] == "processing" and "sweep" in r["waiting_for"], "parking")
        client = await connect(stack.temporal_address)
        await ensure_refund_sweep_schedule(client, every_s=2)
        gave_up = await poll(lambda: refund(stuck), lambda r: r["status"] == "manual_review", "sweep giving up",
                              attempts=120)
        assert gave_up["failure_code"] == "channel_no_final_answer"
        await client.get_schedule_handle(SCHEDULE_ID).delete()
        # the channel never said; its statement says success: a force fail would pay twice, a force success is right
        [live] = gave_up["serials"]
        day = _shanghai_day(live["created_at"])
        recon = (await api.post(f"/refund-channels/flakybank/statements/{day}")).json()
        [disagreement] = [x for x in recon["disagreements"] if x["serial"] == live["serial"]]
        assert disagreement["statement_status"] == "success"
        for ref in (recon["statement_ref"], disagreement["statement_ref"]):
            r = await api.post(f"/refunds/{stuck}/force_fail", json={"reason": "give up", "statement_ref": ref})
            assert r.status_code == 409 and r.json()["type"] == "serial_may_still_pay", r.text
        assert (await refund(stuck))["payment_remaining_fen"] == 0  # still reserved
        r = await api.post(f"/refunds/{stuck}/force_success",
                           json={"reason": "statement shows success", "statement_ref": disagreement["statement_ref"]})
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text

        async def listed():
            q = 'RefundStatus="succeeded" AND Channel="unionpay" AND MerchantId="M001"'
            return {w.id async for w in client.list_workflows(q)}

        await poll(listed, lambda ids: {f"refund-{ok}", f"refund-{freq}"} <= ids, "Web UI filter")

        callbacks = await poll(lambda: _json(sim, f"/sim/callbacks/{ok}"), lambda c: len(c) >= 1, "merchant callback")
        assert callbacks[0]["status"] == "succeeded" and callbacks[0]["merchant_refund_no"] == "RN-ok"
        stats = (await sim.get("/sim/stats")).json()
        assert stats["duplicate_serial_requests"] == 0 and stats["duplicate_channel_refunds"] == 0
        assert stats["concurrent_serial_requests"] == 0 and stats["over_refunds"] == 0
        assert stats["callbacks"] >= 4 and stats.get("bad_callback_signatures", 0) == 0


def _shanghai_day(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%Y%m%d")


async def _json(client, path):
    return (await client.get(path)).json()


def _worker(stack: Stack):
    return next(p for p in stack.procs if "worker.py" in p.args and p.poll() is None)


async def test_worker_killed_between_sent_and_recorded_makes_no_second_refund(stack):
    async with httpx.AsyncClient(base_url=stack.api_url, headers=await asyncio.to_thread(stack.staff_headers), timeout=30) as api, \
            httpx.AsyncClient(base_url=stack.api_url, headers=await asyncio.to_thread(stack.merchant_headers),
                              timeout=30) as merchant, \
            httpx.AsyncClient(base_url=stack.channel_url, timeout=30) as sim:
        # the channel registers the refund at once and answers 1.5 s later: the worker dies in between
        rid = await _setup(api, merchant, sim, stack, "crash", "unionpay", "slow", delay_s=1.5)
        lines = await poll(lambda: _json(sim, f"/sim/refunds/{rid}"), lambda x: len(x["serials"]) == 1,
                            "the request reaching the channel", attempts=400, every=0.02)
        assert lines["serials"][0]["status"] == "success"
        worker = _worker(stack)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        stack.procs.remove(worker)
        serial_rows = (await api.get(f"/refunds/{rid}")).json()["serials"]
        assert [s["outcome"] for s in serial_rows] == ["sending"]  # sent, its answer never recorded
        stack.spawn("worker", [PY, "worker.py"], "worker.log")

        async def refund():
            return (await api.get(f"/refunds/{rid}")).json()

        done = await poll(refund, lambda r: r["status"] == "succeeded", "recovery by query-back", attempts=120)
        assert [(s["outcome"], s["sends"]) for s in done["serials"]] == [("success", 1)]
        lines = await _json(sim, f"/sim/refunds/{rid}")
        assert len(lines["serials"]) == 1 and lines["serials"][0]["sends"] == 1  # one request, one serial, ever
        stats = (await sim.get("/sim/stats")).json()
        assert stats["duplicate_serial_requests"] == 0 and stats["duplicate_channel_refunds"] == 0


async def test_every_demo_user_signs_in_against_the_running_stack(stack):
    from scripts.users import DEMO_PASSWORD, DEMO_USERS

    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        anonymous = await api.post("/refunds/R-any/approve", json={"reason": "anyone?"})
        assert anonymous.status_code == 401
        for name, roles, attrs in DEMO_USERS:
            if "agent_id" in attrs:
                continue  # the agent's user comes with the order demo, which this stack does not load
            token = await api.post("/auth/token", data={"username": name, "password": DEMO_PASSWORD})
            assert token.status_code == 200, (name, token.text)
            me = (await api.get("/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})).json()
            assert me["id"] == name and me["roles"] == sorted(r.value for r in roles)
        admin = {"Authorization": f"Bearer {(await api.post('/auth/token', data={'username': 'demo-admin', 'password': DEMO_PASSWORD})).json()['access_token']}"}
        key = (await api.post("/merchants/M001/api-keys", headers=admin)).json()["key"]
        mine = await api.get("/refunds", headers={"X-Api-Key": key})
        assert mine.status_code == 200 and {r["merchant_id"] for r in mine.json()["items"]} <= {"M001"}

"""The SMS gateway and billing simulator through our signed clients (in-process ASGI transport)."""

import httpx
import pytest

from core.http import PeerRejected, PeerUnavailable
from core.settings import Settings
from gateways.billing import BillingGateway
from gateways.sms import SmsGateway
from simulators.sms_billing import create_app

S = Settings(sms_api_secret="sms-k", billing_api_secret="bill-k", push_secrets={"sms-gateway": "push-k"})


@pytest.fixture
async def sim(tmp_path):
    app = create_app(S, state_file=tmp_path / "state.json")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as http:
        yield http, tmp_path / "state.json"


async def test_sms_send_is_signed_and_idempotent(sim):
    http, state = sim
    sms = SmsGateway("http://sim", "sms-k", client=http)
    assert await sms.send("m1", "13812345678", "hello") == "sent"
    assert await sms.send("m1", "13812345678", "hello again") == "sent"
    [msg] = (await http.get("/sim/sms", params={"to": "13812345678"})).json()
    assert msg["message_id"] == "m1" and msg["text"] == "hello"
    assert "m1" in state.read_text()  # survives a restart
    with pytest.raises(PeerRejected, match="bad signature"):
        await SmsGateway("http://sim", "wrong", client=http).send("m2", "13812345678", "x")


async def test_billing_credit_is_idempotent_and_refuses_a_changed_repeat(sim):
    http, _ = sim
    billing = BillingGateway("http://sim", "bill-k", client=http)
    ref = await billing.credit("FR1", "13812345678", 2000, "complaint C1")
    assert await billing.credit("FR1", "13812345678", 2000, "retry") == ref
    with pytest.raises(PeerRejected, match="another number or amount"):
        await billing.credit("FR1", "13812345678", 2001, "tampered")
    stats = (await http.get("/sim/stats")).json()
    assert stats["credits"] == 1 and stats["credited_fen"] == 2000


async def test_outage_is_retryable(sim):
    http, _ = sim
    await http.post("/sim/behaviour", json={"error_rate": 1.0})
    with pytest.raises(PeerUnavailable):
        await SmsGateway("http://sim", "sms-k", client=http).send("m3", "13812345678", "x")
    assert (await http.post("/sim/behaviour", json={"error_rate": 2})).status_code == 422


async def test_a_signed_but_malformed_request_is_refused_not_retried(sim):
    # a 5xx would read as "unavailable" and be retried forever; a broken body is the caller's fault
    http, _ = sim
    for secret, path in (("sms-k", "/sms/send"), ("bill-k", "/billing/credits")):
        with pytest.raises(PeerRejected) as err:
            await SmsGateway("http://sim", secret, client=http)._call("POST", path, {"message_id": "M-1"})
        assert err.value.status == 422

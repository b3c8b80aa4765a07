"""The payment-channel simulator and our gateway to it, over the signed protocol (in-process ASGI transport)."""

from datetime import datetime

import httpx
import pytest

from core.http import PeerRejected
from core.settings import get_settings
from domain.clock import SHANGHAI
from domain.refunds import ChannelState
from gateways.payment_channel import MerchantNotifier, PaymentChannelGateway
from simulators.payment_channel import create_app


@pytest.fixture
def sim():
    app = create_app(None, get_settings())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")
    return app, client


def _gateway(client, secret=None):
    return PaymentChannelGateway("http://sim", secret or get_settings().channel_api_secret, client=client)


async def _script(client, pid, behaviour, **kw):
    r = await client.post("/sim/payments", json=[{"payment_id": pid, "channel": "unionpay", "paid_fen": 10_000,
                                                  "behaviour": behaviour, **kw}])
    r.raise_for_status()


async def test_a_bad_signature_is_refused(sim):
    _, client = sim
    with pytest.raises(PeerRejected) as err:
        await _gateway(client, "wrong-secret").refund("unionpay", "S" * 16, "R1", "P1", 100)
    assert err.value.status == 401


async def test_a_channel_with_its_own_key_is_signed_with_it_and_refuses_the_shared_one():
    settings = get_settings().model_copy(update={"channel_api_secrets": {"alipay": "alipay-own-key"}})
    app = create_app(None, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        for pid, channel in (("P-OWN", "alipay"), ("P-SHARED", "unionpay")):
            r = await client.post("/sim/payments", json=[{"payment_id": pid, "channel": channel, "paid_fen": 10_000,
                                                          "behaviour": "ok"}])
            r.raise_for_status()
        ours = PaymentChannelGateway("http://sim", settings.channel_api_secret, client=client,
                                     channel_secrets=settings.channel_api_secrets)
        assert (await ours.refund("alipay", "SERIAL-OWN-01", "R1", "P-OWN", 100)).state == ChannelState.SUCCESS
        assert (await ours.refund("unionpay", "SERIAL-SHR-01", "R2", "P-SHARED", 100)).state == ChannelState.SUCCESS
        with pytest.raises(PeerRejected) as err:  # the shared key no longer speaks for alipay
            await _gateway(client).query("alipay", "SERIAL-OWN-01")
        assert err.value.status == 401


async def test_success_and_query_back_by_serial(sim):
    _, client = sim
    gw = _gateway(client)
    await _script(client, "P1", "ok")
    ans = await gw.refund("unionpay", "SERIAL-0001", "R1", "P1", 5_000)
    assert (ans.state, ans.serial, ans.amount_fen) == (ChannelState.SUCCESS, "SERIAL-0001", 5_000)
    assert (await gw.query("unionpay", "SERIAL-0001")).state == ChannelState.SUCCESS
    assert (await gw.query("unionpay", "SERIAL-NEVER")).state == ChannelState.NOT_FOUND


async def test_never_received_then_the_same_serial_is_accepted(sim):
    _, client = sim
    gw = _gateway(client)
    await _script(client, "P2", "never_received")
    first = await gw.refund("unionpay", "SERIAL-0002", "R2", "P2", 1_000)
    assert first.state == ChannelState.UNKNOWN and "504" in first.detail  # a 5xx is unknown, never a failure
    assert (await gw.query("unionpay", "SERIAL-0002")).state == ChannelState.NOT_FOUND
    assert (await gw.refund("unionpay", "SERIAL-0002", "R2", "P2", 1_000)).state == ChannelState.SUCCESS
    stats = (await client.get("/sim/stats")).json()
    assert stats["duplicate_serial_requests"] == 0 and stats["dropped_requests"] == 1


async def test_server_error_after_accepting_is_unknown_and_the_query_finds_the_success(sim):
    _, client = sim
    gw = _gateway(client)
    await _script(client, "P3", "server_error_after_accept")
    assert (await gw.refund("unionpay", "SERIAL-0003", "R3", "P3", 1_000)).state == ChannelState.UNKNOWN
    assert (await gw.query("unionpay", "SERIAL-0003")).state == ChannelState.SUCCESS


async def test_scripted_declines_carry_the_channel_codes(sim):
    _, client = sim
    gw = _gateway(client)
    for pid, behaviour, code in (("P4", "void_card", "CARD_VOID"), ("P5", "too_frequent", "TOO_FREQUENT"),
                                 ("P6", "daily_volume", "DAILY_VOLUME_LOW"), ("P7", "unknown_code", "E9999"),
                                 ("P8", "no_refund_api", "NO_REFUND_API")):
        await _script(client, pid, behaviour)
        ans = await gw.refund("unionpay", f"SERIAL-{pid}-1", f"R{pid}", pid, 1_000)
        assert (ans.state, ans.raw_code) == (ChannelState.FAILED, code)
    # a script applies to the refund's first `times` serials (default 1): a new serial goes through
    assert (await gw.refund("unionpay", "SERIAL-P5-2", "RP5", "P5", 1_000)).state == ChannelState.SUCCESS
    await _script(client, "P16", "void_card", times=5)
    for i in range(3):
        assert (await gw.refund("unionpay", f"SERIAL-P16-{i}", "RP16", "P16", 1_000)).raw_code == "CARD_VOID"


async def test_accepted_then_failed_and_reversal_show_on_query(sim):
    _, client = sim
    gw = _gateway(client)
    await _script(client, "P9", "accepted_then_failed", settle_after_s=0, code="TOO_FREQUENT")
    assert (await gw.refund("unionpay", "SERIAL-0009", "R9", "P9", 1_000)).state == ChannelState.PROCESSING
    q = await gw.query("unionpay", "SERIAL-0009")
    assert (q.state, q.raw_code) == (ChannelState.FAILED, "TOO_FREQUENT")
    await _script(client, "P10", "success_then_reversed", settle_after_s=0)
    assert (await gw.refund("unionpay", "SERIAL-0010", "R10", "P10", 1_000)).state == ChannelState.SUCCESS
    assert (await gw.query("unionpay", "SERIAL-0010")).state == ChannelState.REVERSED


async def test_statement_disagrees_with_the_query(sim):
    _, client = sim
    gw = _gateway(client)
    await _script(client, "P11", "statement_mismatch")
    assert (await gw.refund("unionpay", "SERIAL-0011", "R11", "P11", 1_000)).state == ChannelState.PROCESSING
    assert (await gw.query("unionpay", "SERIAL-0011")).state == ChannelState.PROCESSING
    lines = await gw.statement("unionpay", datetime.now(SHANGHAI).strftime("%Y%m%d"))
    assert [(line["serial"], line["status"]) for line in lines] == [("SERIAL-0011", "success")]


async def test_amount_mismatch_and_duplicates_are_counted(sim):
    _, client = sim
    gw = _gateway(client)
    await _script(client, "P12", "amount_mismatch")
    assert (await gw.refund("unionpay", "SERIAL-0012", "R12", "P12", 1_000)).amount_fen == 1_001
    await gw.refund("unionpay", "SERIAL-0012", "R12", "P12", 1_000)  # what our workflow never does
    await _script(client, "P13", "ok")
    await gw.refund("unionpay", "SERIAL-0013a", "R13", "P13", 1_000)
    await gw.refund("unionpay", "SERIAL-0013b", "R13", "P13", 1_000)  # a second success for one refund
    stats = (await client.get("/sim/stats")).json()
    assert stats["duplicate_serial_requests"] == 1 and stats["duplicate_channel_refunds"] == 1


async def test_payouts_are_idempotent_by_payout_id(sim):
    _, client = sim
    gw = _gateway(client)
    assert (await gw.query_payout("unionpay", "PAYOUT-0001")).state == ChannelState.NOT_FOUND
    a = await gw.payout("unionpay", "PAYOUT-0001", "R14", 2_000, "6222****1234")
    b = await gw.payout("unionpay", "PAYOUT-0001", "R14", 2_000, "6222****1234")
    assert a.state == b.state == ChannelState.SUCCESS and a.channel_serial == b.channel_serial
    assert (await gw.query_payout("unionpay", "PAYOUT-0001")).state == ChannelState.SUCCESS
    assert (await client.get("/sim/stats")).json()["payouts"] == 1


async def test_merchant_callbacks_are_verified_and_can_be_refused_first(sim):
    _, client = sim
    notifier = MerchantNotifier(client)
    await client.post("/sim/merchant-failures/R15", params={"times": 1})
    with pytest.raises(RuntimeError, match="HTTP 500"):
        await notifier.notify("http://sim/merchant/callbacks", get_settings().merchant_notify_secret,
                              {"refund_id": "R15", "status": "succeeded"})
    await notifier.notify("http://sim/merchant/callbacks", get_settings().merchant_notify_secret,
                          {"refund_id": "R15", "status": "succeeded"})
    with pytest.raises(RuntimeError, match="HTTP 401"):
        await notifier.notify("http://sim/merchant/callbacks", "forged", {"refund_id": "R15", "status": "failed"})
    assert [c["status"] for c in (await client.get("/sim/callbacks/R15")).json()] == ["succeeded"]

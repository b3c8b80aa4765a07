"""Our signed HTTP client to the payment channels (refund, query-back, payout, statement) and to merchants.

The one rule that keeps refunds from being paid twice lives here: a refund or payout request whose
answer does not come back clearly (timeout, connection error, 5xx, an unreadable body) is UNKNOWN,
never a failure. The caller settles it by querying back with the same serial. Query-backs, on the
other hand, are safe to repeat, so their transport failures raise `PeerUnavailable` (retry).
A 4xx or an answer that breaks the protocol raises `PeerRejected` (do not retry: a human looks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from core.http import SOURCE, PeerRejected, PeerUnavailable, SignedJsonClient, segment, signed_request
from domain.refunds import ChannelAnswer, ChannelState

STATES = {"success": ChannelState.SUCCESS, "processing": ChannelState.PROCESSING, "failed": ChannelState.FAILED,
          "not_found": ChannelState.NOT_FOUND, "reversed": ChannelState.REVERSED}


class PaymentChannelGateway(SignedJsonClient):
    """`secret` signs the calls to every channel that has no key ring of its own in `channel_secrets`."""

    def __init__(self, base_url: str, secret: str, timeout_s: float = 10.0, client: httpx.AsyncClient | None = None,
                 channel_secrets: Mapping[str, str] | None = None) -> None:
        super().__init__(base_url, secret, client=client,
                         timeout=httpx.Timeout(timeout_s, connect=min(3.0, timeout_s)),
                         limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        self._channel_secrets = dict(channel_secrets or {})

    @classmethod
    def from_settings(cls, s: Any) -> PaymentChannelGateway:
        return cls(s.channel_base_url, s.channel_api_secret, s.channel_timeout_s,
                   channel_secrets=s.channel_api_secrets)

    async def _channel_call(self, channel: str, method: str, path: str, body: dict | None) -> Any:
        return await self._call(method, f"/channels/{segment(channel)}{path}", body,
                                secret=self._channel_secrets.get(channel))

    # ---- refunds -----------------------------------------------------------------------------------

    async def refund(self, channel: str, serial: str, refund_id: str, payment_id: str, amount_fen: int) -> ChannelAnswer:
        body = {"serial": serial, "refund_id": refund_id, "payment_id": payment_id, "amount_fen": amount_fen}
        try:
            data = await self._channel_call(channel, "POST", "/refunds", body)
        except PeerUnavailable as err:
            return ChannelAnswer(state=ChannelState.UNKNOWN, serial=serial, detail=str(err))
        return _answer(data, "serial")

    async def query(self, channel: str, serial: str) -> ChannelAnswer:
        data = await self._channel_call(channel, "POST", "/refunds/query", {"serial": serial})
        return _answer(data, "serial")

    async def payout(self, channel: str, payout_id: str, refund_id: str, amount_fen: int, card: str) -> ChannelAnswer:
        body = {"payout_id": payout_id, "refund_id": refund_id, "amount_fen": amount_fen, "card": card}
        try:
            data = await self._channel_call(channel, "POST", "/payouts", body)
        except PeerUnavailable as err:
            return ChannelAnswer(state=ChannelState.UNKNOWN, serial=payout_id, detail=str(err))
        return _payout_answer(data)

    async def query_payout(self, channel: str, payout_id: str) -> ChannelAnswer:
        data = await self._channel_call(channel, "POST", "/payouts/query", {"payout_id": payout_id})
        return _payout_answer(data)

    async def statement(self, channel: str, day: str) -> list[dict]:
        data = await self._channel_call(channel, "GET", f"/statements/{segment(day)}", None)
        return list(data.get("lines", []))


def _answer(data: Any, serial_key: str) -> ChannelAnswer:
    try:
        state = STATES[data["status"]]
        return ChannelAnswer(state=state, serial=str(data[serial_key]), channel_serial=data.get("channel_serial"),
                             amount_fen=data.get("amount_fen"), raw_code=data.get("code"), raw_message=data.get("message"))
    except (KeyError, TypeError, ValueError) as err:
        raise PeerRejected(200, f"answer breaks the protocol: {err!r}") from err


def _payout_answer(data: Any) -> ChannelAnswer:
    try:
        return ChannelAnswer(state=STATES[data["status"]], serial=str(data["payout_id"]),
                             channel_serial=data.get("reference"), amount_fen=data.get("amount_fen"))
    except (KeyError, TypeError, ValueError) as err:
        raise PeerRejected(200, f"payout answer breaks the protocol: {err!r}") from err


class MerchantNotifier:
    """Signed POST of a refund's outcome to the merchant's callback URL; 2xx = acknowledged."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout_s: float = 10.0) -> None:
        self._client = client or httpx.AsyncClient(timeout=timeout_s)

    async def notify(self, url: str, secret: str, payload: dict) -> None:
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        resp = await self._client.send(signed_request(self._client, "POST", url, raw, secret, SOURCE))  # transport errors propagate: retried
        if not 200 <= resp.status_code < 300:
            raise RuntimeError(f"merchant answered HTTP {resp.status_code}: {resp.text[:200]}")

    async def aclose(self) -> None:
        await self._client.aclose()

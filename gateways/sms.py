"""Our signed HTTP client to the SMS gateway.

Same signed transport and the same failure split as the carrier gateway (gateways/carrier.py):
`GatewayUnavailable` (5xx, 408/429, timeouts, connection errors) is worth retrying; `GatewayRejected`
(any other 4xx, an answer that breaks the protocol) is not. Both calls are idempotent at the other end
by the message_id we send, so a retried activity never texts twice.
"""

from __future__ import annotations

from pydantic import BaseModel

from gateways.carrier import CarrierGateway as _SignedJson
from gateways.carrier import CarrierRejected as GatewayRejected
from gateways.carrier import CarrierUnavailable as GatewayUnavailable
from gateways.carrier import _parse

__all__ = ["GatewayRejected", "GatewayUnavailable", "SmsGateway"]


class _Sent(BaseModel):
    message_id: str
    status: str


class SmsGateway(_SignedJson):
    async def send(self, message_id: str, to: str, text: str) -> str:
        data = await self._call("POST", f"{self.base_url}/sms/send", {"message_id": message_id, "to": to, "text": text})
        sent = _parse(_Sent, data)
        if sent.message_id != message_id:
            raise GatewayRejected(200, f"gateway answered about {sent.message_id!r}, sent {message_id!r}")
        if sent.status != "sent":
            raise GatewayRejected(200, f"message {message_id} status {sent.status!r}")
        return sent.status


def sms_gateway_from_settings(settings) -> SmsGateway:
    return SmsGateway(settings.sms_base_url, settings.sms_api_secret)

"""Our signed HTTP client to the SMS gateway.

The signed transport of core.http, with its failure split: `PeerUnavailable` is worth retrying,
`PeerRejected` is not. Both calls are idempotent at the other end
by the message_id we send, so a retried activity never texts twice.
"""

from __future__ import annotations

from pydantic import BaseModel

from core.http import PeerRejected, SignedJsonClient, parse


class _Sent(BaseModel):
    message_id: str
    status: str


class SmsGateway(SignedJsonClient):
    async def send(self, message_id: str, to: str, text: str) -> str:
        data = await self._call("POST", f"{self.base_url}/sms/send", {"message_id": message_id, "to": to, "text": text})
        sent = parse(_Sent, data)
        if sent.message_id != message_id:
            raise PeerRejected(200, f"gateway answered about {sent.message_id!r}, sent {message_id!r}")
        if sent.status != "sent":
            raise PeerRejected(200, f"message {message_id} status {sent.status!r}")
        return sent.status


def sms_gateway_from_settings(settings) -> SmsGateway:
    return SmsGateway(settings.sms_base_url, settings.sms_api_secret)

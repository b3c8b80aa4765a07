"""Our signed HTTP client to the billing system: credit a fee return to the customer's phone account.

The signed transport of core.http and its failure split; idempotent at the billing system by credit_id.
"""

from __future__ import annotations

from pydantic import BaseModel

from core.http import PeerRejected, SignedJsonClient, parse


class _Credited(BaseModel):
    credit_id: str
    status: str
    reference: str


class BillingGateway(SignedJsonClient):
    async def credit(self, credit_id: str, msisdn: str, amount_fen: int, note: str) -> str:
        """Credit the phone account; returns the billing system's reference."""
        body = {"credit_id": credit_id, "msisdn": msisdn, "amount_fen": amount_fen, "note": note}
        data = await self._call("POST", f"{self.base_url}/billing/credits", body)
        done = parse(_Credited, data)
        if done.credit_id != credit_id:
            raise PeerRejected(200, f"billing answered about {done.credit_id!r}, sent {credit_id!r}")
        if done.status != "credited":
            raise PeerRejected(200, f"credit {credit_id} status {done.status!r}")
        return done.reference


def billing_gateway_from_settings(settings) -> BillingGateway:
    return BillingGateway(settings.billing_base_url, settings.billing_api_secret)

"""Our signed HTTP client to the carriers (order submission, number status, monthly audit, account cancellation) and the
payout bank.

Every request is signed with `carrier_api_secret` (a GET signs the empty body); failures split as in
core.http: `PeerUnavailable` is retried, `PeerRejected` is not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel

from core.http import DEFAULT_TIMEOUT, PeerRejected, SignedJsonClient, parse, segment
from domain.cancellations import AccountFacts, ClearAction
from domain.orders.order import InNetworkAnswer, StatusCause, SuspensionMode


class _NumberStatus(BaseModel):
    order_id: str
    in_network: bool
    mode: SuspensionMode | None = None
    cause: StatusCause | None = None
    cancelled: bool = False


class _AuditRow(BaseModel):
    order_id: str
    approved: bool
    commission_fen: int = 0
    reason: str | None = None


class _AuditPage(BaseModel):
    month: str
    ready: bool
    results: list[_AuditRow] = []
    next_page_token: str | None = None


class _Payout(BaseModel):
    payout_id: str
    status: str
    reference: str


class _Precheck(BaseModel):
    cancellation_id: str
    facts: AccountFacts


class AccountAnswer(BaseModel):
    """The carrier's answer to a clearing or a cancellation: done with its reference, or refused with its reason."""

    cancellation_id: str
    done: bool
    reference: str = ""
    reason: str = ""


class SubmissionAnswer(BaseModel):
    """The carrier's answer to an order: accepted with its own order number, or refused with its reason code
    (`real_name_check_failed`, `outside_coverage`, `number_unavailable`, `incomplete_order_data`, or its own)."""

    order_id: str
    accepted: bool
    carrier_order_no: str = ""
    reason: str = ""
    detail: str = ""


class CarrierGateway(SignedJsonClient):
    """One client for all four carriers (`{base}/carriers/{segment(carrier)}/...`) and the payout bank."""

    def __init__(self, base_url: str, secret: str, payout_base_url: str | None = None,
                 client: httpx.AsyncClient | None = None, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        super().__init__(base_url, secret, client=client, timeout=timeout)
        self.payout_base_url = (payout_base_url or base_url).rstrip("/")

    @classmethod
    def from_settings(cls, settings: Any, client: httpx.AsyncClient | None = None) -> CarrierGateway:
        return cls(settings.carrier_base_url, settings.carrier_api_secret, settings.payout_base_url, client=client)

    # -- calls -------------------------------------------------------------------------------

    async def submit_order(self, carrier: str, order: dict) -> SubmissionAnswer:
        """Tell the carrier of an order: the chosen number, the recipient, the real-name holder. Idempotent at the
        carrier by the order id (`order["order_id"]`): a retried call gets the first answer, never a second order."""
        data = await self._call("POST", f"{self.base_url}/carriers/{segment(carrier)}/orders", order)
        answer = parse(SubmissionAnswer, data)
        if answer.order_id != order["order_id"]:
            raise PeerRejected(200, f"answer is about order {answer.order_id!r}, sent {order['order_id']!r}")
        if answer.accepted and not answer.carrier_order_no:
            raise PeerRejected(200, "accepted without a carrier order number")
        return answer

    async def number_status(self, carrier: str, order_id: str) -> InNetworkAnswer:
        """The number's status now (asked at the check point)."""
        data = await self._call("POST", f"{self.base_url}/carriers/{segment(carrier)}/number-status", {"order_id": order_id})
        answer = parse(_NumberStatus, data)
        if answer.order_id != order_id:
            raise PeerRejected(200, f"answer is about order {answer.order_id!r}, asked about {order_id!r}")
        return InNetworkAnswer(
            in_network=answer.in_network,
            asked_at=datetime.now(UTC),
            mode=answer.mode,
            cause=answer.cause,
            cancelled=answer.cancelled,
        )

    async def audit_page(self, carrier: str, month: str, page_token: str | None, page_size: int = 500) -> dict:
        """One page of the carrier's audit of `month` (yyyymm). `ready=False`: not published yet."""
        params: dict[str, str | int] = {"page_size": page_size}
        if page_token:
            params["page_token"] = page_token
        data = await self._call("GET", f"{self.base_url}/carriers/{segment(carrier)}/audits/{segment(month)}", None, params)
        page = parse(_AuditPage, data)
        if page.month != month:
            raise PeerRejected(200, f"audit page is for month {page.month!r}, asked for {month!r}")
        return page.model_dump()

    async def precheck(self, carrier: str, cancellation_id: str, msisdn: str) -> AccountFacts:
        """Account cancellation 1.1: what stands in the way of cancelling this number now."""
        data = await self._call("POST", f"{self.base_url}/carriers/{segment(carrier)}/accounts/precheck",
                                {"cancellation_id": cancellation_id, "msisdn": msisdn})
        answer = parse(_Precheck, data)
        if answer.cancellation_id != cancellation_id:
            raise PeerRejected(200, f"pre-check answers {answer.cancellation_id!r}, asked for {cancellation_id!r}")
        return answer.facts

    async def clear(self, carrier: str, cancellation_id: str, msisdn: str, item_id: str,
                    action: ClearAction) -> AccountAnswer:
        """Clear one to-do item at the carrier (pay, cancel the service, leave the plan). Idempotent there by
        (cancellation, item): a retried call returns the first answer."""
        body = {"cancellation_id": cancellation_id, "msisdn": msisdn, "item_id": item_id, "action": action.value}
        return self._account(cancellation_id, await self._call(
            "POST", f"{self.base_url}/carriers/{segment(carrier)}/accounts/clear", body))

    async def cancel_number(self, carrier: str, cancellation_id: str, msisdn: str) -> AccountAnswer:
        """Cancel the number for good. Idempotent at the carrier by the cancellation id."""
        body = {"cancellation_id": cancellation_id, "msisdn": msisdn}
        return self._account(cancellation_id, await self._call(
            "POST", f"{self.base_url}/carriers/{segment(carrier)}/accounts/cancel", body))

    @staticmethod
    def _account(cancellation_id: str, data: object) -> AccountAnswer:
        answer = parse(AccountAnswer, data)
        if answer.cancellation_id != cancellation_id:
            raise PeerRejected(200, f"answer is about {answer.cancellation_id!r}, asked about {cancellation_id!r}")
        return answer

    async def payout(self, payout_id: str, agent_id: str, amount_fen: int, account: str = "") -> dict:
        """Pay an agent. Idempotent by payout_id at the bank: a repeat returns the first reference. `account`: the
        agent's new bank details finance gave with a retry (empty: the account the bank has on file)."""
        body: dict[str, str | int] = {"payout_id": payout_id, "agent_id": agent_id, "amount_fen": amount_fen}
        if account:
            body["account"] = account
        data = await self._call("POST", f"{self.payout_base_url}/payouts", body)
        paid = parse(_Payout, data)
        if paid.payout_id != payout_id:
            raise PeerRejected(200, f"bank answered about payout {paid.payout_id!r}, sent {payout_id!r}")
        if paid.status != "paid":
            raise PeerRejected(200, f"payout {payout_id} status {paid.status!r}")
        return paid.model_dump()

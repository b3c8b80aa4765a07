"""Our signed HTTP client to the carriers (number status, monthly audit) and the payout bank.

Every request is signed with `signed_headers(carrier_api_secret, body, source="simbo")`; a GET signs
the empty body. Failures split in two so activities can pick a retry policy:

- `CarrierUnavailable`: 5xx, 408/429, timeouts, connection errors, an unreadable answer -> retry.
- `CarrierRejected(status, reason)`: any other 4xx or an answer that breaks the protocol -> do not retry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from domain.orders.order import InNetworkAnswer, StatusCause, SuspensionMode
from core.signing import signed_headers

SOURCE = "simbo"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
RETRYABLE_4XX = {408, 429}
M = TypeVar("M", bound=BaseModel)


class CarrierUnavailable(Exception):
    """The carrier (or bank) could not answer now; trying again later may work."""


class CarrierRejected(Exception):
    """The carrier (or bank) refused the request; repeating it will not change the answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


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


class CarrierGateway:
    """One client for all four carriers (`{base}/carriers/{carrier}/...`) and the payout bank."""

    def __init__(
        self,
        base_url: str,
        secret: str,
        payout_base_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.payout_base_url = (payout_base_url or base_url).rstrip("/")
        self._secret = secret
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Any, client: httpx.AsyncClient | None = None) -> CarrierGateway:
        return cls(settings.carrier_base_url, settings.carrier_api_secret, settings.payout_base_url, client=client)

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> CarrierGateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- calls -------------------------------------------------------------------------------

    async def number_status(self, carrier: str, order_id: str) -> InNetworkAnswer:
        """The number's status now (asked at the check point)."""
        data = await self._call("POST", f"{self.base_url}/carriers/{carrier}/number-status", {"order_id": order_id})
        answer = _parse(_NumberStatus, data)
        if answer.order_id != order_id:
            raise CarrierRejected(200, f"answer is about order {answer.order_id!r}, asked about {order_id!r}")
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
        data = await self._call("GET", f"{self.base_url}/carriers/{carrier}/audits/{month}", None, params)
        page = _parse(_AuditPage, data)
        if page.month != month:
            raise CarrierRejected(200, f"audit page is for month {page.month!r}, asked for {month!r}")
        return page.model_dump()

    async def payout(self, payout_id: str, agent_id: str, amount_fen: int) -> dict:
        """Pay an agent. Idempotent by payout_id at the bank: a repeat returns the first reference."""
        body = {"payout_id": payout_id, "agent_id": agent_id, "amount_fen": amount_fen}
        data = await self._call("POST", f"{self.payout_base_url}/payouts", body)
        paid = _parse(_Payout, data)
        if paid.payout_id != payout_id:
            raise CarrierRejected(200, f"bank answered about payout {paid.payout_id!r}, sent {payout_id!r}")
        if paid.status != "paid":
            raise CarrierRejected(200, f"payout {payout_id} status {paid.status!r}")
        return paid.model_dump()

    # -- transport ---------------------------------------------------------------------------

    async def _call(self, method: str, url: str, body: dict | None, params: dict | None = None) -> Any:
        raw = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = signed_headers(self._secret, raw, source=SOURCE)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            resp = await self._client.request(method, url, content=raw or None, params=params, headers=headers)
        except httpx.TimeoutException as err:
            raise CarrierUnavailable(f"{method} {url}: timed out ({type(err).__name__})") from err
        except httpx.TransportError as err:
            raise CarrierUnavailable(f"{method} {url}: {type(err).__name__}: {err}") from err
        if resp.status_code >= 500 or resp.status_code in RETRYABLE_4XX:
            raise CarrierUnavailable(f"{method} {url}: HTTP {resp.status_code} {_reason(resp)}")
        if resp.status_code >= 400:
            raise CarrierRejected(resp.status_code, _reason(resp))
        if resp.status_code != 200:
            raise CarrierRejected(resp.status_code, f"unexpected status: {_reason(resp)}")
        try:
            return resp.json()
        except ValueError as err:
            # A garbled 200 (a proxy's error page, a cut-off body) is worth another try.
            raise CarrierUnavailable(f"{method} {url}: answer is not JSON") from err


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise CarrierRejected(200, f"answer breaks the protocol: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}") from err


def _reason(resp: httpx.Response) -> str:
    try:
        detail = resp.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if detail is None:
        detail = resp.text[:200] or resp.reason_phrase
    return detail if isinstance(detail, str) else json.dumps(detail)[:200]

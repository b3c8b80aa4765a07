"""The signed HTTP transport every gateway uses: JSON bodies signed with core.signing, and one split of failures.

- `PeerUnavailable`: 5xx, 408/429, timeouts, connection errors, an unreadable answer. Trying again may work.
- `PeerRejected(status, reason)`: any other 4xx, or an answer that breaks the protocol. Repeating it will not
  change the answer; a human looks.

Each gateway (carriers and the payout bank, payment channels, SMS, billing) adds its calls on top.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from core.signing import signed_headers

SOURCE = "simbo"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
RETRYABLE_4XX = {408, 429}
M = TypeVar("M", bound=BaseModel)


def segment(value: object) -> str:
    """One path segment of an outgoing URL: an id from a request never adds a segment, a query or a fragment
    ("/", "?", "#", control characters are escaped), whatever the API's own patterns let through."""
    return quote(str(value), safe="")


class PeerUnavailable(Exception):
    """The other side could not answer now; trying again later may work."""


class PeerRejected(Exception):
    """The other side refused the request; repeating it will not change the answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


class SignedJsonClient:
    def __init__(self, base_url: str, secret: str, client: httpx.AsyncClient | None = None,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, limits: httpx.Limits | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout, **({"limits": limits} if limits else {}))

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(self, method: str, url: str, body: dict | None, params: dict | None = None,
                    secret: str | None = None) -> Any:
        """`url` is absolute, or a path under `base_url`; `secret` replaces the client's key ring for this call."""
        if url.startswith("/"):
            url = self.base_url + url
        raw = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        request = signed_request(self._client, method, url, raw, secret or self._secret, SOURCE, params=params,
                                 content_type="application/json" if body is not None else None)
        try:
            resp = await self._client.send(request)
        except httpx.TimeoutException as err:
            raise PeerUnavailable(f"{method} {url}: timed out ({type(err).__name__})") from err
        except httpx.HTTPError as err:
            raise PeerUnavailable(f"{method} {url}: {type(err).__name__}: {err}") from err
        if resp.status_code >= 500 or resp.status_code in RETRYABLE_4XX:
            raise PeerUnavailable(f"{method} {url}: HTTP {resp.status_code} {_reason(resp)}")
        if resp.status_code >= 400:
            raise PeerRejected(resp.status_code, _reason(resp))
        if resp.status_code != 200:
            raise PeerRejected(resp.status_code, f"unexpected status: {_reason(resp)}")
        try:
            return resp.json()
        except ValueError as err:
            # A garbled 200 (a proxy's error page, a cut-off body) is worth another try.
            raise PeerUnavailable(f"{method} {url}: answer is not JSON") from err


def signed_request(client: httpx.AsyncClient, method: str, url: str, body: bytes, secret: str, source: str, *,
                   params: dict | None = None, content_type: str | None = "application/json") -> httpx.Request:
    """A request signed as `source` over its method, exact target (path and query as sent), time and body."""
    request = client.build_request(method, url, content=body or None, params=params,
                                   headers={"Content-Type": content_type} if content_type else None)
    request.headers.update(signed_headers(secret, body, source=source, method=method,
                                          target=request.url.raw_path.decode("ascii")))
    return request


def parse(model: type[M], data: Any) -> M:
    """The answer as the protocol's model, or PeerRejected naming the first field that breaks it."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise PeerRejected(200, f"answer breaks the protocol: {first['loc']}: {first['msg']}") from err


def _reason(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        detail = body.get("reason", body.get("detail")) if isinstance(body, dict) else None
    except ValueError:
        detail = None
    if detail is None:
        detail = resp.text[:200] or resp.reason_phrase
    return detail if isinstance(detail, str) else json.dumps(detail)[:200]

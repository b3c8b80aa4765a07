"""The signed HTTP protocol shared by carriers, couriers, the SMS gateway, payment channels and us.

HMAC-SHA256 over one canonical text: version, timestamp, request id, source, method, request target (the
path and query as sent) and body, so a captured request cannot be replayed under another source, to another
path, or after the time window; a request id seen within the window is refused by the receiver.

Each source has its own key ring (`"new,old"`): the first key signs, every key verifies, so a key rotates
with two live at once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

TIMESTAMP_HEADER = "X-Simbo-Timestamp"
SIGNATURE_HEADER = "X-Simbo-Signature"
SOURCE_HEADER = "X-Simbo-Source"
REQUEST_ID_HEADER = "X-Simbo-Request-Id"
MAX_SKEW_S = 300
VERSION = "v2"


class BadSignature(Exception):
    pass


@dataclass(frozen=True)
class SignedRequest:
    """Who sent a request whose signature holds, and its id (for the replay check)."""

    source: str
    request_id: str
    timestamp: int


def key_ring(value: str | Sequence[str]) -> list[str]:
    """`"new,old"` -> ["new", "old"]: the first key signs, all verify."""
    keys = value.split(",") if isinstance(value, str) else list(value)
    return [k.strip() for k in keys if k and k.strip()]


def request_target(path: str, query: str = "") -> str:
    return path + (f"?{query}" if query else "")


def _canonical(timestamp: str, request_id: str, source: str, method: str, target: str, body: bytes) -> bytes:
    head = "\n".join((VERSION, timestamp, request_id, source, method.upper(), target))
    return head.encode() + b"\n" + body


def sign(secret: str, timestamp: str, request_id: str, source: str, method: str, target: str, body: bytes) -> str:
    return hmac.new(secret.encode(), _canonical(timestamp, request_id, source, method, target, body),
                    hashlib.sha256).hexdigest()


def signed_headers(secret: str | Sequence[str], body: bytes, *, source: str, method: str, target: str) -> dict[str, str]:
    ts, request_id = str(int(time.time())), uuid.uuid4().hex
    return {TIMESTAMP_HEADER: ts, REQUEST_ID_HEADER: request_id, SOURCE_HEADER: source,
            SIGNATURE_HEADER: sign(key_ring(secret)[0], ts, request_id, source, method, target, body)}


def verify(keys: str | Sequence[str] | Callable[[str], Sequence[str]], headers: Mapping[str, str], body: bytes,
           method: str, target: str, now: float | None = None) -> SignedRequest:
    """The request's sender, once its signature holds under one of the sender's keys (`keys` is a ring, or a
    function from source to ring: unknown sources have none)."""
    ts, sig = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
    source, request_id = (headers.get(SOURCE_HEADER) or "").strip(), (headers.get(REQUEST_ID_HEADER) or "").strip()
    if not ts or not sig or not source or not request_id:
        raise BadSignature(f"missing {TIMESTAMP_HEADER}, {REQUEST_ID_HEADER}, {SOURCE_HEADER} or {SIGNATURE_HEADER}")
    if len(request_id) > 64:
        raise BadSignature(f"{REQUEST_ID_HEADER} is longer than 64 characters")
    try:
        sent = int(ts)
    except ValueError:
        raise BadSignature(f"{TIMESTAMP_HEADER} must be unix seconds") from None
    if abs((now if now is not None else time.time()) - sent) > MAX_SKEW_S:
        raise BadSignature(f"timestamp outside the {MAX_SKEW_S}s window")
    ring = key_ring(keys(source) if callable(keys) else keys)
    if not ring:
        raise BadSignature(f"no key for source {source!r}")
    if not any(hmac.compare_digest(sign(k, ts, request_id, source, method, target, body), sig) for k in ring):
        raise BadSignature("signature does not match the source, method, path, time and body")
    return SignedRequest(source=source, request_id=request_id, timestamp=sent)


class RecentRequests:
    """Request ids seen within the time window, in memory (a simulator's replay check; the API keeps its own in
    the database so every replica sees it)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}

    def first_time(self, signed: SignedRequest, now: float | None = None) -> bool:
        now = now if now is not None else time.time()
        if len(self._seen) > 10_000:
            self._seen = {k: t for k, t in self._seen.items() if now - t <= 2 * MAX_SKEW_S}
        key = (signed.source, signed.request_id)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

"""The signed HTTP protocol shared by carriers, payment channels and us: HMAC-SHA256 over "<ts>.<body>"."""

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Simbo-Timestamp"
SIGNATURE_HEADER = "X-Simbo-Signature"
SOURCE_HEADER = "X-Simbo-Source"
MAX_SKEW_S = 300


class BadSignature(Exception):
    pass


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, source: str | None = None) -> dict[str, str]:
    ts = str(int(time.time()))
    headers = {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(secret, ts, body)}
    if source:
        headers[SOURCE_HEADER] = source
    return headers


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None) -> None:
    if not timestamp or not signature:
        raise BadSignature(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    try:
        ts = int(timestamp)
    except ValueError:
        raise BadSignature(f"{TIMESTAMP_HEADER} must be unix seconds") from None
    if abs((now if now is not None else time.time()) - ts) > MAX_SKEW_S:
        raise BadSignature(f"timestamp outside the {MAX_SKEW_S}s window")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise BadSignature("signature does not match the body")

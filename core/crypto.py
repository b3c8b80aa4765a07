"""Customer data protection: the one home of the project's encryption (docs/data-protection.md).

One key ring (`SIMBO_DATA_KEYS`, several keys readable, `SIMBO_DATA_KEY_ACTIVE` the one that writes) serves
three uses, each with its own key derived from the ring's key (HKDF), so one rotation covers them all:

- `PayloadCodec` (`data_converter`): every payload sent to Temporal, AES-256-GCM, key id in the metadata.
  Payloads without the marker (histories recorded before encryption) pass through unchanged.
- `seal` / `unseal` and the `Sealed` column type (`core.db`): full numbers, names, ID numbers, addresses and
  free text at rest in the business database, as `enc1:<key id>:<base64 nonce+ciphertext>`.
- `fingerprint` / `fingerprints`: a keyed hash (HMAC-SHA256, `<key id>.<hex>`) where a workflow or a
  lookup compares numbers by equality; `fingerprints` gives one per readable key for `IN (...)` lookups.

A new business applies it so: a personal column is `Sealed(...)` (plus a `fingerprint` column when looked
up by equality), an API field shows `domain.msisdn.mask_msisdn` unless the caller may read customer data,
and every Temporal client comes from `core.temporal.connect` (or uses `data_converter()`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import os
from collections.abc import Sequence
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from core.settings import Settings, get_settings

ENCODING = b"binary/encrypted"  # the payload's "encoding" once encrypted (what the Web UI shows without the codec)
KEY_ID = "encryption-key-id"
SEALED_PREFIX = "enc1:"
SEALED_BYTES_PREFIX = b"enc1b:"  # then the key id, ":", nonce and ciphertext (bytes columns: documents)
NONCE = 12
# The repository's own development key ring: known to anyone who reads the code, refused outside development.
DEV_DATA_KEYS = Settings.model_fields["data_keys"].default


class KeyRingError(ValueError):
    pass


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"simbo/" + purpose).derive(key)


@dataclasses.dataclass(frozen=True)
class KeyRing:
    """Readable keys by id and the one that writes. Rotation: add a key, make it active, re-seal, retire."""

    keys: dict[str, bytes]
    active: str

    @classmethod
    def parse(cls, spec: str, active: str = "") -> KeyRing:
        keys: dict[str, bytes] = {}
        for item in (p.strip() for p in spec.split(",")):
            if not item:
                continue
            kid, sep, b64 = item.partition(":")
            if not sep or not kid or "." in kid or ":" in b64:
                raise KeyRingError(f"a data key is <id>:<base64 of 32 bytes>, got {kid or item[:8]!r}...")
            try:
                key = base64.b64decode(b64, validate=True)
            except binascii.Error:
                raise KeyRingError(f"data key {kid}: not base64") from None
            if len(key) != 32:
                raise KeyRingError(f"data key {kid}: {len(key)} bytes, AES-256 needs 32")
            keys[kid] = key
        if not keys:
            raise KeyRingError("no data key: set SIMBO_DATA_KEYS")
        active = active or next(iter(keys))
        if active not in keys:
            raise KeyRingError(f"the active data key {active} is not in SIMBO_DATA_KEYS")
        return cls(keys=keys, active=active)

    # ---- bytes --------------------------------------------------------------------------------------------

    def _aead(self, kid: str, purpose: bytes) -> AESGCM:
        try:
            return _aeads(self.keys[kid], purpose)
        except KeyError:
            raise KeyRingError(f"data key {kid} is not readable here (retired, or SIMBO_DATA_KEYS incomplete)") from None

    def encrypt(self, data: bytes, purpose: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE)
        return self.active, nonce + self._aead(self.active, purpose).encrypt(nonce, data, purpose)

    def decrypt(self, kid: str, blob: bytes, purpose: bytes) -> bytes:
        return self._aead(kid, purpose).decrypt(blob[:NONCE], blob[NONCE:], purpose)

    # ---- text at rest -------------------------------------------------------------------------------------

    def seal(self, text: str) -> str:
        kid, blob = self.encrypt(text.encode(), b"db")
        return f"{SEALED_PREFIX}{kid}:{base64.b64encode(blob).decode()}"

    def unseal(self, value: str) -> str:
        """The clear text; a value written before encryption (no prefix) is returned as it is."""
        if not value.startswith(SEALED_PREFIX):
            return value
        kid, _, b64 = value[len(SEALED_PREFIX):].partition(":")
        return self.decrypt(kid, base64.b64decode(b64), b"db").decode()

    # ---- files at rest (documents) ------------------------------------------------------------------------

    def seal_bytes(self, data: bytes) -> bytes:
        kid, blob = self.encrypt(data, b"db-bytes")
        return SEALED_BYTES_PREFIX + kid.encode() + b":" + blob

    def unseal_bytes(self, value: bytes) -> bytes:
        """The clear bytes; bytes written before encryption (no prefix) are returned as they are."""
        if not value.startswith(SEALED_BYTES_PREFIX):
            return value
        kid, _, blob = value[len(SEALED_BYTES_PREFIX):].partition(b":")
        return self.decrypt(kid.decode(), blob, b"db-bytes")

    # ---- keyed hashes -------------------------------------------------------------------------------------

    def fingerprint(self, value: str, kid: str | None = None) -> str:
        kid = kid or self.active
        if kid not in self.keys:
            raise KeyRingError(f"data key {kid} is not readable here")
        mac = hmac.new(_derive(self.keys[kid], b"fingerprint"), value.strip().encode(), hashlib.sha256)
        return f"{kid}.{mac.hexdigest()[:32]}"

    def fingerprints(self, value: str) -> list[str]:
        return [self.fingerprint(value, kid) for kid in self.keys]

    def matches(self, value: str, fingerprint: str) -> bool:
        """Whether a fingerprint (under any readable key) is this value's."""
        kid = fingerprint.partition(".")[0]
        return kid in self.keys and hmac.compare_digest(self.fingerprint(value, kid), fingerprint)


@lru_cache(maxsize=64)
def _aeads(key: bytes, purpose: bytes) -> AESGCM:
    return AESGCM(_derive(key, purpose))


def key_ring(s: Settings | None = None) -> KeyRing:
    s = s or get_settings()
    return _ring(s.data_keys, s.data_key_active)


@lru_cache(maxsize=8)
def _ring(spec: str, active: str) -> KeyRing:
    return KeyRing.parse(spec, active)


def check_settings(s: Settings) -> None:
    """Every process refuses to start outside development with the repository's key ring (anyone who read the
    code could decrypt every history) or an unreadable one."""
    ring = key_ring(s)
    dev = KeyRing.parse(DEV_DATA_KEYS)
    if not s.demo_users and any(ring.keys.get(kid) == key for kid, key in dev.keys.items()):
        raise RuntimeError("set SIMBO_DATA_KEYS to your own key ring (<id>:<base64 of 32 random bytes>; "
                           "`python -m scripts.keys new`) before serving without demo users")


def legacy_fingerprint(msisdn: str) -> str:
    """The unkeyed SHA-256 prefix used before the key ring; only to recognise rows and histories written then."""
    return hashlib.sha256(msisdn.strip().encode()).hexdigest()[:16]


def seal(text: str) -> str:
    return key_ring().seal(text)


def unseal(value: str) -> str:
    return key_ring().unseal(value)


def seal_bytes(data: bytes) -> bytes:
    return key_ring().seal_bytes(data)


def unseal_bytes(value: bytes) -> bytes:
    return key_ring().unseal_bytes(value)


def fingerprint(value: str, kid: str | None = None) -> str:
    return key_ring().fingerprint(value, kid)


def fingerprints(value: str) -> list[str]:
    return key_ring().fingerprints(value)


# ---- Temporal --------------------------------------------------------------------------------------------


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole payload (metadata and data), the key id beside it in clear."""

    def __init__(self, ring: KeyRing | None = None) -> None:
        self._ring = ring

    @property
    def ring(self) -> KeyRing:
        return self._ring or key_ring()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        ring = self.ring
        out = []
        for p in payloads:
            kid, blob = ring.encrypt(p.SerializeToString(), b"payload")
            out.append(Payload(metadata={"encoding": ENCODING, KEY_ID: kid.encode()}, data=blob))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        ring = self.ring
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)  # recorded before encryption, or never encrypted (search attributes)
                continue
            clear = Payload()
            clear.ParseFromString(ring.decrypt(p.metadata[KEY_ID].decode(), p.data, b"payload"))
            out.append(clear)
        return out


def data_converter(ring: KeyRing | None = None) -> DataConverter:
    """The converter of every Temporal client and worker of the project: pydantic models, then encryption."""
    # failure messages and stack traces too: an error can quote what a person typed
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(ring),
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


def clear_payload(text: str) -> Payload:
    """A Web UI summary kept readable without the codec: the SDK sends a ready Payload as it is (a `str` summary
    goes through the codec like every payload). Only business codes in it: anyone with Web UI access reads it."""
    return pydantic_data_converter.payload_converter.to_payloads([text])[0]

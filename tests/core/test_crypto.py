"""The key ring: payloads, sealed columns and keyed fingerprints, across a key rotation."""

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload

from core import crypto
from core.settings import Settings


def ring_spec(*ids: str) -> str:
    return ",".join(f"{i}:{base64.b64encode(os.urandom(32)).decode()}" for i in ids)


async def test_payloads_are_encrypted_with_the_key_id_beside_them_and_clear_ones_pass_through():
    codec = crypto.EncryptionCodec(crypto.KeyRing.parse(ring_spec("k1")))
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b'{"msisdn":"13800138000"}')
    [sealed] = await codec.encode([clear])
    assert sealed.metadata["encoding"] == crypto.ENCODING and sealed.metadata[crypto.KEY_ID] == b"k1"
    assert b"13800138000" not in sealed.SerializeToString()
    assert await codec.decode([sealed, clear]) == [clear, clear]  # a history recorded before encryption reads on


async def test_a_rotated_ring_reads_old_payloads_and_writes_with_the_new_key():
    old = ring_spec("k1")
    before = crypto.EncryptionCodec(crypto.KeyRing.parse(old))
    after = crypto.EncryptionCodec(crypto.KeyRing.parse(ring_spec("k2") + "," + old, active="k2"))
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    [by_old] = await before.encode([clear])
    [by_new] = await after.encode([clear])
    assert by_new.metadata[crypto.KEY_ID] == b"k2" and await after.decode([by_old, by_new]) == [clear, clear]
    with pytest.raises(crypto.KeyRingError, match="k2"):
        await before.decode([by_new])  # a key the process does not hold: said so, never garbage


async def test_a_tampered_payload_is_refused():
    codec = crypto.EncryptionCodec(crypto.KeyRing.parse(ring_spec("k1")))
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(InvalidTag):
        await codec.decode([sealed])


def test_sealed_text_and_keyed_fingerprints():
    ring = crypto.KeyRing.parse(ring_spec("k1"))
    sealed = ring.seal("张三 13800138000")
    assert sealed.startswith("enc1:k1:") and "13800138000" not in sealed and ring.seal("张三 13800138000") != sealed
    assert ring.unseal(sealed) == "张三 13800138000" and ring.unseal("written before") == "written before"
    fp = ring.fingerprint("13800138000")
    assert fp.startswith("k1.") and ring.matches("13800138000", fp) and not ring.matches("13800138001", fp)
    other = crypto.KeyRing.parse(ring_spec("k1"))  # the same id with another secret: another fingerprint
    assert other.fingerprint("13800138000") != fp


def test_a_fingerprint_survives_rotation_and_lookups_try_every_readable_key():
    old = ring_spec("k1")
    fp = crypto.KeyRing.parse(old).fingerprint("13800138000")
    rotated = crypto.KeyRing.parse(ring_spec("k2") + "," + old, active="k2")
    assert rotated.matches("13800138000", fp) and fp in rotated.fingerprints("13800138000")
    assert rotated.fingerprint("13800138000").startswith("k2.")


@pytest.mark.parametrize("spec, problem", [("", "no data key"), ("k1", "<id>:<base64"), ("k1:bm9wZQ==", "32"),
                                           ("k1:***", "base64")])
def test_a_broken_key_ring_is_refused_with_the_reason(spec, problem):
    with pytest.raises(crypto.KeyRingError, match=problem):
        crypto.KeyRing.parse(spec)
    with pytest.raises(crypto.KeyRingError, match="active"):
        crypto.KeyRing.parse(ring_spec("k1"), active="k9")


def test_outside_development_the_repository_key_ring_is_refused():
    crypto.check_settings(Settings())  # development: demo users, the built-in ring
    with pytest.raises(RuntimeError, match="SIMBO_DATA_KEYS"):
        crypto.check_settings(Settings(demo_users=False))
    with pytest.raises(RuntimeError, match="SIMBO_DATA_KEYS"):  # hiding it beside a key of one's own does not help
        crypto.check_settings(Settings(demo_users=False, data_keys=ring_spec("k2") + "," + crypto.DEV_DATA_KEYS,
                                       data_key_active="k2"))
    crypto.check_settings(Settings(demo_users=False, data_keys=ring_spec("k1")))

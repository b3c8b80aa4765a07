"""The API and the worker reach a production Temporal cluster or Temporal Cloud with mTLS and/or an API key."""

from core.settings import Settings
from core.temporal import connect_options


def test_the_dev_server_needs_nothing():
    assert connect_options(Settings()) == {}


def test_mtls_reads_the_pem_files_and_an_api_key_goes_along(tmp_path):
    for name in ("client.pem", "client.key", "ca.pem"):
        (tmp_path / name).write_bytes(f"-----{name}-----".encode())
    s = Settings(temporal_tls_client_cert=str(tmp_path / "client.pem"), temporal_tls_client_key=str(tmp_path / "client.key"),
                 temporal_tls_server_ca=str(tmp_path / "ca.pem"), temporal_tls_server_name="temporal.internal",
                 temporal_api_key="cloud-key")
    options = connect_options(s)
    tls = options["tls"]
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert, tls.domain) == (
        b"-----client.pem-----", b"-----client.key-----", b"-----ca.pem-----", "temporal.internal")
    assert options["api_key"] == "cloud-key"


def test_an_api_key_alone_still_speaks_tls():
    options = connect_options(Settings(temporal_api_key="cloud-key"))
    assert options["api_key"] == "cloud-key" and options["tls"].client_cert is None


async def test_every_client_encrypts_and_outside_development_the_built_in_key_ring_is_refused(monkeypatch):
    import pytest

    from core import temporal
    from core.crypto import EncryptionCodec

    monkeypatch.setattr(temporal, "get_settings", lambda: Settings(demo_users=False, temporal_address="127.0.0.1:1"))
    with pytest.raises(RuntimeError, match="SIMBO_DATA_KEYS"):
        await temporal.connect()  # refused before any connection is tried
    captured = {}

    async def fake_connect(address, **kw):
        captured.update(kw)

    monkeypatch.setattr(temporal, "get_settings", lambda: Settings())
    monkeypatch.setattr(temporal.Client, "connect", fake_connect)
    await temporal.connect()
    assert isinstance(captured["data_converter"].payload_codec, EncryptionCodec)

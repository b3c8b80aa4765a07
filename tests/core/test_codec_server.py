"""The codec server the Temporal Web UI asks: decodes only for a role that may read customer data, every call on
the audit log, CORS for the UI's origin (preflight with the UI's own headers), cookie sign-in for the dev server."""

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from sqlmodel import Session, select
from temporalio.api.common.v1 import Payload, Payloads

from core import crypto
from core.access import Role
from db.identity import AuditEntry
from services import identity
from tests.fixtures_db import bearer

UI = "http://localhost:8233"
CLEAR = Payload(metadata={"encoding": b"json/plain"}, data='{"msisdn_masked":"138****8000","text":"张三"}'.encode())


@pytest.fixture
def codec_client(db) -> Iterator[TestClient]:
    from api.codec import create_app
    from api.deps import get_db_engine

    app = create_app()
    app.dependency_overrides[get_db_engine] = lambda: db
    with TestClient(app) as client:
        yield client


async def encrypted_body() -> dict:
    [sealed] = await crypto.EncryptionCodec().encode([CLEAR])
    return json_format.MessageToDict(Payloads(payloads=[sealed]))


def audit_lines(db) -> list[tuple[str, str, int, str]]:
    with Session(db) as s:
        return [(e.actor, e.action, e.outcome, e.target) for e in s.exec(select(AuditEntry).order_by(AuditEntry.id))]


async def test_a_role_that_reads_customer_data_gets_the_clear_payload_and_the_decode_is_audited(codec_client, db):
    body = await encrypted_body()
    assert "138****8000" not in str(body)  # what the Web UI holds without the codec
    r = codec_client.post("/decode", json=body, headers={**bearer("ops", user="ops:wang"), "X-Namespace": "default"})
    assert r.status_code == 200
    [payload] = r.json()["payloads"]
    assert base64.b64decode(payload["data"]) == CLEAR.data
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
    assert audit_lines(db) == [("ops:wang", "POST /decode", 200, "namespace=default payloads=1")]


async def test_a_role_without_it_is_refused_on_the_record_and_anonymous_callers_too(codec_client, db):
    body = await encrypted_body()
    r = codec_client.post("/decode", json=body, headers=bearer("read_only", user="viewer"))
    assert r.status_code == 403 and r.json()["type"] == "permission_denied"
    assert codec_client.post("/decode", json=body).status_code == 401
    assert codec_client.post("/encode", json=body, headers=bearer("finance")).status_code == 403
    assert [(a, act, o) for a, act, o, _ in audit_lines(db)] == [("viewer", "POST /decode", 403),
                                                                ("test-admin", "POST /encode", 403)]


async def test_encode_then_decode_round_trip_and_unencrypted_payloads_come_back_as_they_are(codec_client):
    plain = json_format.MessageToDict(Payloads(payloads=[CLEAR]))
    enc = codec_client.post("/encode", json=plain, headers=bearer("complaint_handler", department="d1"))
    assert enc.status_code == 200 and base64.b64decode(enc.json()["payloads"][0]["metadata"]["encoding"]) == crypto.ENCODING
    dec = codec_client.post("/decode", json={"payloads": enc.json()["payloads"] + plain["payloads"]}, headers=bearer())
    assert [base64.b64decode(p["data"]) for p in dec.json()["payloads"]] == [CLEAR.data, CLEAR.data]
    assert codec_client.post("/decode", content=b"not json", headers=bearer()).status_code == 400


def test_preflight_from_the_web_ui_allows_its_headers_and_credentials(codec_client):
    r = codec_client.options("/decode", headers={"Origin": UI, "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "authorization,content-type,x-namespace"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == UI
    assert r.headers["access-control-allow-credentials"] == "true"
    assert {"authorization", "content-type", "x-namespace"} <= {
        h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    other = codec_client.options("/decode", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers


async def test_dev_sign_in_sets_a_cookie_the_web_ui_sends_with_its_requests(codec_client, db):
    with Session(db) as s:
        identity.add_user(s, "ops.li", "correct horse 42", [Role.OPS])
        identity.add_user(s, "viewer.li", "correct horse 42", [Role.READ_ONLY])
    body = await encrypted_body()
    assert codec_client.post("/sign-in", data={"username": "ops.li", "password": "wrong"}).status_code == 401
    r = codec_client.post("/sign-in", data={"username": "ops.li", "password": "correct horse 42"}, follow_redirects=False)
    assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
    assert "payloads are decoded for you" in codec_client.get("/sign-in").text
    assert codec_client.post("/decode", json=body, headers={"Origin": UI}).status_code == 200
    codec_client.post("/sign-in", data={"username": "viewer.li", "password": "correct horse 42"})
    assert "stay encrypted" in codec_client.get("/sign-in").text
    assert codec_client.post("/decode", json=body).status_code == 403
    actors = [(a, act, o) for a, act, o, _ in audit_lines(db)]
    assert actors == [("ops.li", "POST /sign-in", 401), ("ops.li", "POST /sign-in", 303), ("ops.li", "POST /decode", 200),
                      ("viewer.li", "POST /sign-in", 303), ("viewer.li", "POST /decode", 403)]

"""Signing in with the embedded issuer, refresh, lock-out after failures, and merchants' API keys."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from core.access import Role
from core.db import utcnow
from core.settings import get_settings
from db.refunds import Merchant
from services import identity
from tests.fixtures_db import bearer

PASSWORD = "correct horse 42"


@pytest.fixture
def users(db):
    with Session(db) as s:
        identity.add_user(s, "li.auditor", PASSWORD, [Role.AUDITOR])
        identity.add_user(s, "wang.desk", PASSWORD, [Role.COMPLAINT_HANDLER], department="billing")
        s.add(Merchant(id="M001", name="Shop One", notify_secret="k"))
        s.add(Merchant(id="M002", name="Shop Two", notify_secret="k"))
        s.commit()
    return db


@pytest.fixture
def client(api_app, users):
    with TestClient(api_app) as c:
        yield c


def _sign_in(client, name="li.auditor", password=PASSWORD):
    return client.post("/auth/token", data={"username": name, "password": password})


def test_a_user_signs_in_and_the_token_says_who_they_are(client):
    r = _sign_in(client)
    assert r.status_code == 200
    tokens = r.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == get_settings().access_token_ttl_s
    me = client.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert me["id"] == "li.auditor" and me["roles"] == ["auditor"] and "refunds.audit" in me["permissions"]
    desk = client.get("/me", headers={"Authorization": f"Bearer {_sign_in(client, 'wang.desk').json()['access_token']}"})
    assert desk.json()["department"] == "billing"


def test_wrong_passwords_lock_the_account_and_never_tell_which_part_was_wrong(client, users):
    unknown = _sign_in(client, name="nobody")
    assert unknown.status_code == 401 and unknown.json()["type"] == "bad_credentials"
    for _ in range(get_settings().sign_in_max_failures):
        r = _sign_in(client, password="wrong")
        assert r.status_code == 401 and r.json()["reason"] == unknown.json()["reason"]
    locked = _sign_in(client)  # even the right password, while locked
    assert locked.status_code == 401 and locked.json()["type"] == "account_locked"
    with Session(users) as s:  # the lock ends by itself
        user = s.get(identity.User, "li.auditor")
        user.locked_until = utcnow() - timedelta(seconds=1)
        s.add(user)
        s.commit()
    assert _sign_in(client).status_code == 200


def test_a_disabled_user_cannot_sign_in_or_refresh(client, users):
    refresh_token = _sign_in(client).json()["refresh_token"]
    with Session(users) as s:
        identity.set_disabled(s, "li.auditor", True)
    assert _sign_in(client).status_code == 401
    assert client.post("/auth/refresh", json={"refresh_token": refresh_token}).status_code == 401


def test_a_refresh_token_works_once(client):
    first = _sign_in(client).json()
    again = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 200 and again.json()["access_token"] != first["access_token"]
    reused = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["type"] == "bad_refresh_token"


def test_expired_and_forged_tokens_are_refused(client):
    from core.access import Principal

    old = identity.access_token(Principal(id="x", roles=frozenset({Role.ADMIN})), now=utcnow() - timedelta(hours=1))
    r = client.get("/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and r.json()["type"] == "token_expired"
    forged = old[:-4] + ("AAAA" if not old.endswith("AAAA") else "BBBB")
    assert client.get("/me", headers={"Authorization": f"Bearer {forged}"}).json()["type"] == "invalid_token"


def test_merchant_keys_are_shown_once_stored_hashed_rotated_and_revoked(client, users):
    ops = bearer("admin", user="admin-wu")  # only admins issue keys: whoever holds one can refund as the merchant
    first = client.post("/merchants/M001/api-keys", headers=ops).json()
    second = client.post("/merchants/M001/api-keys", headers=ops).json()
    assert first["key"].startswith(first["id"] + ".") and first["id"].startswith("sk_M001_")
    with Session(users) as s:
        stored = s.get(identity.ApiKey, first["id"])
        assert first["key"] not in stored.secret_hash  # only the hash is kept
    for key in (first["key"], second["key"]):  # both live during a rotation
        me = client.get("/me", headers={"X-Api-Key": key}).json()
        assert me["merchant_id"] == "M001" and me["roles"] == ["merchant"]
    listed = client.get("/merchants/M001/api-keys", headers=ops).json()
    assert [k["id"] for k in listed] == [first["id"], second["id"]] and "key" not in listed[0]
    assert client.delete(f"/merchants/M001/api-keys/{first['id']}", headers=ops).json()["revoked_at"]
    r = client.get("/me", headers={"X-Api-Key": first["key"]})
    assert r.status_code == 401 and r.json()["type"] == "invalid_api_key"
    assert client.get("/me", headers={"X-Api-Key": second["key"]}).status_code == 200
    assert client.delete(f"/merchants/M002/api-keys/{second['id']}", headers=ops).status_code == 404
    assert client.post("/merchants/M001/api-keys", headers=bearer("finance")).status_code == 403
    assert client.post("/merchants/M001/api-keys", headers=bearer("ops")).status_code == 403

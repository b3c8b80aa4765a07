"""POST/GET /orders against SQLite and PostgreSQL with a fake Temporal client."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from db.orders import Order
from domain.orders.order import OrderFacts, ProductTerms, evaluate
from services.orders import order as svc
from tests.fixtures_db import AGENT, PRODUCT, PRODUCT_CU, SUSPENDED
from workflows.orders import contract
from workflows.orders.contract import OrderInput, OrderView

MSISDN = "13812345678"
BODY = {"agent_id": AGENT, "product_id": PRODUCT, "msisdn": MSISDN, "customer_name": "张三"}


def place(client, body=BODY, key="key-1"):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/orders", json=body, headers=headers)


def rows(engine) -> list[Order]:
    with Session(engine) as s:
        return list(s.exec(select(Order)).all())


def test_place_order_starts_the_workflow(seeded, api_client, fake_temporal):
    r = place(api_client)
    assert r.status_code == 201, r.text
    order = r.json()
    assert re.fullmatch(r"O[0-9A-F]{12}", order["id"])
    assert order["status"] == "placed"
    assert order["carrier"] == "china_mobile"
    assert order["msisdn_masked"] == "138****5678"
    assert MSISDN not in r.text and "张三" not in r.text

    [start] = fake_temporal.started
    assert start["workflow"] == "OrderSettlement"
    assert start["id"] == f"order-{order['id']}"
    assert start["task_queue"] == contract.TASK_QUEUE == "orders"
    assert start["id_conflict_policy"] == WorkflowIDConflictPolicy.USE_EXISTING
    assert start["id_reuse_policy"] == WorkflowIDReusePolicy.REJECT_DUPLICATE
    attrs = start["search_attributes"]
    assert attrs.get(contract.CARRIER) == "china_mobile"
    assert attrs.get(contract.AGENT_ID) == AGENT
    assert attrs.get(contract.ORDER_STATUS) == "placed"
    assert "138****5678" in start["memo"]["summary"]
    arg = start["arg"]
    assert isinstance(arg, OrderInput)
    assert arg.order_id == order["id"] and arg.agent_id == AGENT and arg.carrier == "china_mobile"
    assert arg.terms == ProductTerms(product_id=PRODUCT, carrier="china_mobile", activation_window_days=15,
                                     recharge_window_days=30, min_first_recharge_fen=5000, commission_fen=12000,
                                     parent_override_bp=1000)
    payload = arg.model_dump_json() + repr(start)
    assert MSISDN not in payload and "张三" not in payload  # no personal data in workflow payloads

    [row] = rows(seeded)
    assert row.id == order["id"] and row.idempotency_key == "key-1"
    assert row.msisdn_fingerprint == arg.msisdn_fingerprint and row.placed_at.tzinfo is not None


def test_same_key_returns_the_same_order_and_only_ensures_the_workflow(seeded, api_client, fake_temporal):
    first = place(api_client)
    again = place(api_client)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(rows(seeded)) == 1
    wid = f"order-{first.json()['id']}"
    assert len(fake_temporal.starts_of(wid)) == 2  # the retry ensures the (same) workflow
    assert all(s["id_conflict_policy"] == WorkflowIDConflictPolicy.USE_EXISTING for s in fake_temporal.started)

    other = place(api_client, key="key-2")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert len(rows(seeded)) == 2


@pytest.mark.parametrize(
    "change", [{"msisdn": "13900000000"}, {"product_id": PRODUCT_CU}, {"agent_id": "A002"}], ids=str
)
def test_same_key_different_body_is_a_conflict(seeded, api_client, change):
    assert place(api_client).status_code == 201
    r = place(api_client, body={**BODY, **change})
    assert r.status_code == 409
    assert "Idempotency-Key already used" in r.json()["reason"]
    assert len(rows(seeded)) == 1


def test_concurrent_duplicate_resolves_to_the_existing_order(seeded, monkeypatch):
    req = svc.NewOrder(agent_id=AGENT, product_id=PRODUCT, msisdn=MSISDN)
    with Session(seeded) as s:
        first = svc.place_order(s, "race", req)
    real = svc._by_key
    calls = []

    def blind_first_lookup(session, key):
        calls.append(key)
        return None if len(calls) == 1 else real(session, key)  # the racer did not see the row yet

    monkeypatch.setattr(svc, "_by_key", blind_first_lookup)
    with Session(seeded) as s:
        second = svc.place_order(s, "race", req)
    assert len(calls) == 2  # the insert hit the unique constraint and looked again
    assert second.created is False and second.order.id == first.order.id
    calls.clear()
    with Session(seeded) as s, pytest.raises(svc.IdempotencyConflict):
        svc.place_order(s, "race", svc.NewOrder(agent_id=AGENT, product_id=PRODUCT, msisdn="13700000000"))
    assert len(rows(seeded)) == 1


@pytest.mark.parametrize(
    ("key", "reason"),
    [(None, "Idempotency-Key is required"), ("", "Idempotency-Key is required"), ("k" * 129, "1 to 128")],
)
def test_idempotency_key_is_required(seeded, api_client, fake_temporal, key, reason):
    r = place(api_client, key=key)
    assert r.status_code == 400
    assert reason in r.json()["reason"]
    assert rows(seeded) == [] and fake_temporal.started == []


def test_key_of_128_chars_is_fine(seeded, api_client):
    assert place(api_client, key="k" * 128).status_code == 201


@pytest.mark.parametrize(
    ("change", "status", "type_", "reason"),
    [
        ({"agent_id": "NOPE"}, 422, "unknown_reference", "unknown agent NOPE"),
        ({"product_id": "NOPE"}, 422, "unknown_reference", "unknown product NOPE"),
        ({"agent_id": SUSPENDED}, 403, "agent_suspended", f"agent {SUSPENDED} is suspended: fake promotion"),
    ],
)
def test_refusals_with_reasons(seeded, api_client, fake_temporal, change, status, type_, reason):
    r = place(api_client, body={**BODY, **change})
    assert r.status_code == status
    assert r.json() == {"status": status, "type": type_, "reason": reason}
    assert rows(seeded) == [] and fake_temporal.started == []


@pytest.mark.parametrize("msisdn", ["1381234567", "138123456789", "23812345678", "1381234567a", ""])
def test_bad_msisdn_is_refused(seeded, api_client, msisdn):
    r = place(api_client, body={**BODY, "msisdn": msisdn})
    assert r.status_code == 422
    assert r.json()["type"] == "invalid_request" and [e["field"] for e in r.json()["errors"]] == ["msisdn"]
    assert rows(seeded) == []


def test_missing_field_is_refused(seeded, api_client):
    r = place(api_client, body={"agent_id": AGENT, "msisdn": MSISDN})
    assert r.status_code == 422
    assert r.json()["type"] == "invalid_request" and "product_id" in [e["field"] for e in r.json()["errors"]]


def test_temporal_down_keeps_the_order_and_a_retry_starts_the_workflow(seeded, api_client, fake_temporal):
    fake_temporal.unavailable = True
    r = place(api_client)
    assert r.status_code == 503
    assert "retry with the same Idempotency-Key" in r.json()["reason"]
    [row] = rows(seeded)
    fake_temporal.unavailable = False
    r = place(api_client)
    assert r.status_code == 200 and r.json()["id"] == row.id
    assert [s["id"] for s in fake_temporal.started] == [f"order-{row.id}"]


def test_get_order_with_live_checklist(seeded, api_client, fake_temporal):
    order = place(api_client).json()
    start = fake_temporal.started[0]
    view = OrderView(
        order_id=order["id"],
        verdict=evaluate(start["arg"].terms, OrderFacts(), datetime.now(UTC)),
        facts=OrderFacts(),
        events_seen=0,
    )
    fake_temporal.views[f"order-{order['id']}"] = view
    r = api_client.get(f"/orders/{order['id']}")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == order["id"] and body["status"] == "placed"
    live = body["live"]
    assert [c["number"] for c in live["verdict"]["checklist"]] == [1, 2, 3, 4, 5]
    assert live["verdict"]["waiting_for"] == "shipment with a tracking number"
    assert fake_temporal.queries == [(f"order-{order['id']}", "checklist", OrderView)]


def test_get_order_without_temporal_returns_the_row(seeded, api_client, fake_temporal):
    order = place(api_client).json()
    fake_temporal.unavailable = True
    r = api_client.get(f"/orders/{order['id']}")
    assert r.status_code == 200
    assert r.json()["live"] is None and r.json()["id"] == order["id"]
    assert "UNAVAILABLE" in r.json()["live_error"] or "connection refused" in r.json()["live_error"]


def test_unknown_order_is_404(seeded, api_client):
    r = api_client.get("/orders/O000000000000")
    assert r.status_code == 404 and "unknown order" in r.json()["reason"]


def _insert_orders(engine) -> list[Order]:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    specs = [
        ("O00000000000A", AGENT, PRODUCT, "china_mobile", "settled", None, "202604"),
        ("O00000000000B", AGENT, PRODUCT, "china_mobile", "failed", "recharge_missing", "202604"),
        ("O00000000000C", "A002", PRODUCT_CU, "china_unicom", "failed", "activation_timeout", None),
        ("O00000000000D", "A002", PRODUCT_CU, "china_unicom", "shipped", None, None),
        ("O00000000000E", AGENT, PRODUCT_CU, "china_unicom", "failed", "recharge_missing", "202605"),
    ]
    out = []
    with Session(engine) as s:
        for i, (oid, agent, product, carrier, status, reason, month) in enumerate(specs):
            o = Order(id=oid, idempotency_key=f"k-{oid}", agent_id=agent, product_id=product, carrier=carrier,
                      msisdn_masked="138****0000", msisdn_fingerprint=f"fp{i}", placed_at=base + timedelta(days=i % 3),
                      status=status, failure_reason=reason, settlement_month=month)
            s.add(o)
            out.append(o)
        s.commit()
    return out


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [o["id"] for o in resp.json()["items"]]


def test_list_orders_filters_and_order(seeded, api_client):
    _insert_orders(seeded)
    # placed_at desc, then id: A and D share day 0, B and E day 1, C day 2
    assert ids(api_client.get("/orders")) == ["O00000000000C", "O00000000000B", "O00000000000E",
                                             "O00000000000A", "O00000000000D"]
    assert ids(api_client.get("/orders", params={"status": "failed"})) == ["O00000000000C", "O00000000000B",
                                                                          "O00000000000E"]
    assert ids(api_client.get("/orders", params={"carrier": "china_unicom", "agent_id": "A002"})) == [
        "O00000000000C", "O00000000000D"]
    assert ids(api_client.get("/orders", params={"settlement_month": "202604"})) == ["O00000000000B", "O00000000000A"]
    assert ids(api_client.get("/orders", params={"failure_reason": "recharge_missing", "agent_id": AGENT})) == [
        "O00000000000B", "O00000000000E"]
    assert ids(api_client.get("/orders", params={"agent_id": "nobody"})) == []


def test_list_orders_pagination(seeded, api_client):
    _insert_orders(seeded)
    r = api_client.get("/orders", params={"limit": 2, "offset": 0})
    assert r.json()["total"] == 5 and r.json()["limit"] == 2 and r.json()["offset"] == 0
    pages = [ids(api_client.get("/orders", params={"limit": 2, "offset": off})) for off in (0, 2, 4)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sum(pages, []) == ids(api_client.get("/orders", params={"limit": 500}))
    r = api_client.get("/orders", params={"status": "failed", "limit": 1, "offset": 1})
    assert r.json()["total"] == 3 and ids(r) == ["O00000000000B"]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"status": "lost"}, {"carrier": "att"},
     {"settlement_month": "2026-04"}, {"failure_reason": "bad_luck"}],
    ids=str,
)
def test_list_orders_bad_filters(seeded, api_client, params):
    assert api_client.get("/orders", params=params).status_code == 422

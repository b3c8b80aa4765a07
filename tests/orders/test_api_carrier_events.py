"""Signed carrier / logistics pushes: single, JSON lines and CSV; duplicates, unknown orders, rejects."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from core.crypto import fingerprint as msisdn_fingerprint
from core.settings import get_settings
from core.signing import REQUEST_ID_HEADER, SIGNATURE_HEADER, SOURCE_HEADER, TIMESTAMP_HEADER, signed_headers
from db.orders import CarrierEventRecord, EventOutcome, Order
from domain.orders.carrier_events import WIRE_FIELDS
from domain.orders.order import EventKind, OrderEvent
from tests.fixtures_db import AGENT, PRODUCT


def signed(body: bytes, source: str = "china_mobile", path: str = "/carrier-events", secret: str | None = None,
           content_type: str = "application/json") -> dict[str, str]:
    """Headers as the source signs them: its own key (from settings) over source, method, path, time and body."""
    key = secret if secret is not None else get_settings().push_keys(source)[0]
    return {**signed_headers(key, body, source=source, method="POST", target=path), "Content-Type": content_type}
T0 = "2026-03-02T10:00:00+08:00"


def make_order(engine, oid: str) -> str:
    with Session(engine) as s:
        s.add(Order(id=oid, idempotency_key=f"k-{oid}", agent_id=AGENT, product_id=PRODUCT, carrier="china_mobile",
                    msisdn_masked="138****5678", msisdn_fingerprint=msisdn_fingerprint("13812345678"),
                    placed_at=datetime(2026, 3, 1, tzinfo=UTC), status="placed"))
        s.commit()
    return oid


@pytest.fixture
def order_id(seeded) -> str:
    return make_order(seeded, "O0000000000A1")


def shipped(event_id: str, order: str, **extra) -> dict:
    return {"event_id": event_id, "order_id": order, "kind": "shipped", "occurred_at": T0, "tracking_no": "SF123", **extra}


def push(client, event, source="china_mobile", secret=None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(event, ensure_ascii=False).encode()
    return client.post("/carrier-events", content=body, headers=signed(body, source, secret=secret))


def push_batch(client, body: bytes, content_type: str, source="china_mobile"):
    return client.post("/carrier-events/batch", content=body,
                       headers=signed(body, source, "/carrier-events/batch", content_type=content_type))


def ndjson(*events) -> bytes:
    return ("\n".join(e if isinstance(e, str) else json.dumps(e) for e in events) + "\n").encode()


def sent(fake) -> list[tuple[str, OrderEvent]]:
    """Every event signalled, with its workflow id, in the order sent (one signal carries an order's events of a push)."""
    out = []
    for wid, name, arg in fake.signals:
        assert name == "carrier_events"
        out += [(wid, e) for e in arg.events]
    return out


def records(engine) -> list[CarrierEventRecord]:
    with Session(engine) as s:
        return list(s.exec(select(CarrierEventRecord).order_by(CarrierEventRecord.id)).all())


def record(engine, event_id: str) -> CarrierEventRecord:
    with Session(engine) as s:
        return s.exec(select(CarrierEventRecord).where(CarrierEventRecord.event_id == event_id)).one()


# ---- single events ------------------------------------------------------------------------------


def test_accepted_event_is_stored_and_signalled(seeded, api_client, fake_temporal, order_id):
    r = push(api_client, shipped("E1", order_id))
    assert r.status_code == 202, r.text
    assert r.json() == {"event_id": "E1", "order_id": order_id, "outcome": "accepted", "error": ""}
    [(wid, name, push_)] = fake_temporal.signals
    assert wid == f"order-{order_id}" and name == "carrier_events"
    [arg] = push_.events
    assert isinstance(arg, OrderEvent)
    assert arg.event_id == "E1" and arg.kind == EventKind.SHIPPED and arg.tracking_no == "SF123"
    rec = record(seeded, "E1")
    assert rec.outcome == EventOutcome.ACCEPTED and rec.source == "china_mobile" and rec.order_id == order_id
    assert rec.kind == "shipped" and json.loads(rec.raw)["tracking_no"] == "SF123"
    assert rec.signalled_at is not None


def test_recharge_signal_carries_a_fingerprint_and_listing_masks_the_number(seeded, api_client, fake_temporal, order_id):
    ev = {"event_id": "R1", "order_id": order_id, "kind": "recharged", "occurred_at": T0, "amount_fen": 5000,
          "to_msisdn": "13812345678"}
    assert push(api_client, ev).status_code == 202
    [(_, arg)] = sent(fake_temporal)
    assert arg.to_msisdn_fingerprint == msisdn_fingerprint("13812345678") and arg.to_msisdn_matches is True
    assert "13812345678" not in arg.model_dump_json()
    listing = api_client.get("/carrier-events", params={"order_id": order_id})
    assert listing.status_code == 200
    assert "13812345678" not in listing.text and "138****5678" in listing.json()["items"][0]["raw"]
    other = {**ev, "event_id": "R2", "to_msisdn": "13900000000"}
    assert push(api_client, other).status_code == 202
    assert sent(fake_temporal)[-1][1].to_msisdn_matches is False
    assert "13812345678" in record(seeded, "R1").raw  # the raw text itself is kept as received


def test_duplicate_is_recognised_and_not_signalled_again(seeded, api_client, fake_temporal, order_id):
    assert push(api_client, shipped("E1", order_id)).status_code == 202
    r = push(api_client, shipped("E1", order_id))
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
    assert len(fake_temporal.signals) == 1 and len(records(seeded)) == 1
    # the same event id from another source is another event
    assert push(api_client, shipped("E1", order_id), source="logistics").json()["outcome"] == "accepted"
    assert len(records(seeded)) == 2


def test_unsignalled_duplicate_is_signalled_again(seeded, api_client, fake_temporal, order_id):
    assert push(api_client, shipped("E1", order_id)).status_code == 202
    with Session(seeded) as s:  # a crash between storing and signalling
        rec = s.exec(select(CarrierEventRecord)).one()
        rec.signalled_at = None
        s.add(rec)
        s.commit()
    r = push(api_client, shipped("E1", order_id))
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
    assert [e.event_id for _, e in sent(fake_temporal)] == ["E1", "E1"]
    assert record(seeded, "E1").signalled_at is not None
    push(api_client, shipped("E1", order_id))
    assert len(fake_temporal.signals) == 2  # now signalled: a further copy is a plain duplicate


def test_temporal_down_stores_the_event_and_a_resend_delivers_it(seeded, api_client, fake_temporal, order_id):
    fake_temporal.unavailable = True
    r = push(api_client, shipped("E1", order_id))
    assert r.status_code == 503 and "resend" in r.json()["reason"]
    rec = record(seeded, "E1")
    assert rec.outcome == EventOutcome.ACCEPTED and rec.signalled_at is None
    fake_temporal.unavailable = False
    assert push(api_client, shipped("E1", order_id)).json()["outcome"] == "duplicate"
    assert len(fake_temporal.signals) == 1 and record(seeded, "E1").signalled_at is not None


def test_unknown_order_is_stored_and_listed(seeded, api_client, fake_temporal):
    r = push(api_client, shipped("E9", "O_NOT_OURS"))
    assert r.status_code == 202
    body = r.json()
    assert body["outcome"] == "unknown_order" and "no order O_NOT_OURS" in body["error"]
    assert fake_temporal.signals == []
    listed = api_client.get("/carrier-events", params={"outcome": "unknown_order"}).json()
    assert listed["total"] == 1 and listed["items"][0]["event_id"] == "E9"
    assert listed["items"][0]["signalled_at"] is None
    assert api_client.get("/carrier-events", params={"outcome": "accepted"}).json()["total"] == 0


def test_unknown_order_event_is_accepted_when_resent_after_the_order_exists(seeded, api_client, fake_temporal):
    assert push(api_client, shipped("E9", "O0000000000B2")).json()["outcome"] == "unknown_order"
    make_order(seeded, "O0000000000B2")
    r = push(api_client, shipped("E9", "O0000000000B2"))
    assert r.json()["outcome"] == "accepted"
    assert [s[0] for s in fake_temporal.signals] == ["order-O0000000000B2"]
    rec = record(seeded, "E9")
    assert rec.outcome == EventOutcome.ACCEPTED and rec.signalled_at is not None and len(records(seeded)) == 1


def test_malformed_event_is_stored_as_rejected_and_refused(seeded, api_client, fake_temporal, order_id):
    ev = shipped("E2", order_id)
    del ev["tracking_no"]
    r = push(api_client, ev)
    assert r.status_code == 422
    assert "a shipped event needs tracking_no" in r.json()["reason"]
    assert r.json()["outcome"] == "rejected" and r.json()["event_id"] == "E2"
    [rec] = records(seeded)
    assert rec.outcome == EventOutcome.REJECTED and "tracking_no" in rec.error and json.loads(rec.raw) == ev
    assert fake_temporal.signals == []
    # a corrected event with the same id is not mistaken for a duplicate of the bad one
    assert push(api_client, shipped("E2", order_id)).json()["outcome"] == "accepted"
    # the same bad text again adds no second row
    assert push(api_client, ev).status_code == 422
    assert len(records(seeded)) == 2


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "Invalid JSON"),
        (json.dumps({"event_id": "E3", "order_id": "O1", "kind": "shipped", "occurred_at": "2026-03-02T10:00:00",
                     "tracking_no": "x"}).encode(), "occurred_at"),
        (json.dumps({"event_id": "E4", "order_id": "O1", "kind": "teleported", "occurred_at": T0}).encode(), "kind"),
    ],
)
def test_malformed_variants(seeded, api_client, raw, reason):
    r = push(api_client, None, raw=raw)
    assert r.status_code == 422 and reason in r.json()["reason"]
    assert [rec.outcome for rec in records(seeded)] == [EventOutcome.REJECTED]


def test_order_closed(seeded, api_client, fake_temporal, order_id):
    fake_temporal.closed.add(f"order-{order_id}")
    r = push(api_client, shipped("E1", order_id))
    assert r.status_code == 200
    assert r.json()["outcome"] == "order_closed" and "already ended" in r.json()["error"]
    rec = record(seeded, "E1")
    assert rec.outcome == EventOutcome.ORDER_CLOSED
    assert api_client.get("/carrier-events", params={"outcome": "order_closed"}).json()["total"] == 1
    assert push(api_client, shipped("E1", order_id)).json()["outcome"] == "duplicate"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h, b: {k: v for k, v in h.items() if k != SIGNATURE_HEADER},
        lambda h, b: {k: v for k, v in h.items() if k != TIMESTAMP_HEADER},
        lambda h, b: {**h, SIGNATURE_HEADER: "0" * 64},
        lambda h, b: {**h, TIMESTAMP_HEADER: "1000"},
        lambda h, b: signed(b, secret="wrong-secret"),
        lambda h, b: {**h, SOURCE_HEADER: "china_unicom"},  # captured, replayed as another carrier
        lambda h, b: signed(b, path="/carrier-events/batch"),  # signed for another path
        lambda h, b: {**h, REQUEST_ID_HEADER: "another-id"},
        lambda h, b: signed(b, secret=get_settings().push_keys("logistics")[0]),  # another source's key
    ],
    ids=["no-signature", "no-timestamp", "wrong-signature", "stale", "wrong-secret", "other-source", "other-path",
         "other-request-id", "other-sources-key"],
)
def test_bad_signature_is_401(seeded, api_client, fake_temporal, order_id, mangle):
    body = json.dumps(shipped("E1", order_id)).encode()
    headers = mangle(signed(body), body)
    r = api_client.post("/carrier-events", content=body, headers=headers)
    assert r.status_code == 401 and r.json()["reason"].startswith("bad signature")
    assert records(seeded) == [] and fake_temporal.signals == []


def test_tampered_body_is_401(seeded, api_client, order_id):
    body = json.dumps(shipped("E1", order_id)).encode()
    headers = signed(body)
    r = api_client.post("/carrier-events", content=body.replace(b"SF123", b"SF999"), headers=headers)
    assert r.status_code == 401 and "does not match" in r.json()["reason"]
    assert records(seeded) == []


@pytest.mark.parametrize("source", ["att", "simbo"])
def test_a_source_without_a_key_is_401(seeded, api_client, order_id, source):
    body = json.dumps(shipped("E1", order_id)).encode()
    r = api_client.post("/carrier-events", content=body, headers=signed(body, source, secret="any-key"))
    assert r.status_code == 401 and "no key for source" in r.json()["reason"]
    assert records(seeded) == []


def test_the_sms_gateway_may_not_push_order_events(seeded, api_client, order_id):
    body = json.dumps(shipped("E1", order_id)).encode()
    r = api_client.post("/carrier-events", content=body, headers=signed(body, "sms-gateway"))
    assert r.status_code == 403 and r.json()["type"] == "source_not_allowed"


def test_a_replayed_request_is_refused_and_a_resend_is_a_duplicate(seeded, api_client, fake_temporal, order_id):
    body = json.dumps(shipped("E1", order_id)).encode()
    headers = signed(body)
    assert api_client.post("/carrier-events", content=body, headers=headers).status_code == 202
    replay = api_client.post("/carrier-events", content=body, headers=headers)
    assert replay.status_code == 409 and replay.json()["type"] == "replayed_request"
    resend = api_client.post("/carrier-events", content=body, headers=signed(body))  # the carrier's own retry
    assert resend.status_code == 200 and resend.json()["outcome"] == "duplicate"
    assert len(records(seeded)) == 1


def test_a_key_rotates_with_two_live_at_once(seeded, api_client, order_id, monkeypatch):
    old = get_settings().push_keys("china_mobile")[0]
    monkeypatch.setitem(get_settings().push_secrets, "china_mobile", f"new-key-of-china-mobile,{old}")
    for n, key in enumerate(("new-key-of-china-mobile", old)):
        body = json.dumps(shipped(f"E{n}", order_id)).encode()
        assert api_client.post("/carrier-events", content=body, headers=signed(body, secret=key)).status_code == 202
    monkeypatch.setitem(get_settings().push_secrets, "china_mobile", "new-key-of-china-mobile")  # rotation done
    body = json.dumps(shipped("E9", order_id)).encode()
    assert api_client.post("/carrier-events", content=body, headers=signed(body, secret=old)).status_code == 401


def test_the_same_event_id_from_a_carrier_and_logistics_both_count(seeded, api_client, fake_temporal, order_id):
    body = shipped("SAME-1", order_id)
    assert push(api_client, body).json()["outcome"] == "accepted"
    assert push(api_client, {**body, "kind": "delivery", "delivery_status": "signed"},
                source="logistics").json()["outcome"] == "accepted"
    sources = [(e.source, e.event_id) for _, e in sent(fake_temporal)]
    assert sources == [("china_mobile", "SAME-1"), ("logistics", "SAME-1")]


# ---- batches --------------------------------------------------------------------------------------


def test_ndjson_batch_with_every_outcome(seeded, api_client, fake_temporal, order_id):
    closed = make_order(seeded, "O0000000000C1")
    fake_temporal.closed.add(f"order-{closed}")
    push(api_client, shipped("OLD", order_id))
    body = ndjson(
        shipped("B1", order_id),
        {"event_id": "B2", "order_id": order_id, "kind": "delivery", "occurred_at": T0, "delivery_status": "signed"},
        shipped("B1", order_id),  # repeated inside the batch
        shipped("OLD", order_id),  # seen before
        "",
        shipped("B3", "O_UNKNOWN"),
        '{"event_id": "B4", "order_id": "x", "kind": "recharged", "occurred_at": "2026-03-02T10:00:00+08:00"}',
        "garbage",
        shipped("B5", closed),
    )
    r = push_batch(api_client, body, "application/x-ndjson")
    assert r.status_code == 207, r.text
    out = r.json()
    assert {k: out[k] for k in ("accepted", "duplicate", "unknown_order", "rejected", "order_closed")} == {
        "accepted": 2, "duplicate": 2, "unknown_order": 1, "rejected": 2, "order_closed": 1}
    got = [(x["line"], x["event_id"], x["outcome"]) for x in out["results"]]
    assert got == [
        (1, "B1", "accepted"), (2, "B2", "accepted"), (3, "B1", "duplicate"), (4, "OLD", "duplicate"),
        (6, "B3", "unknown_order"), (7, "B4", "rejected"), (8, None, "rejected"), (9, "B5", "order_closed"),
    ]
    assert "a recharged event needs amount_fen" in out["results"][5]["error"]
    assert {e.event_id for _, e in sent(fake_temporal)} == {"OLD", "B1", "B2"}
    by_outcome = {}
    for rec in records(seeded):
        by_outcome.setdefault(rec.outcome.value, []).append(rec.event_id)
    assert sorted(by_outcome["accepted"]) == ["B1", "B2", "OLD"]
    assert by_outcome["unknown_order"] == ["B3"] and by_outcome["order_closed"] == ["B5"]
    assert len(by_outcome["rejected"]) == 2


def test_ndjson_batch_all_good_is_200_and_signals_concurrently(seeded, api_client, fake_temporal):
    order_ids = [make_order(seeded, f"O{n:012X}") for n in range(120)]
    fake_temporal.signal_delay = 0.01
    r = push_batch(api_client, ndjson(*(shipped(f"S{n}", oid) for n, oid in enumerate(order_ids))), "application/x-ndjson")
    assert r.status_code == 200
    assert r.json()["accepted"] == 120 and r.json()["rejected"] == 0
    assert len(fake_temporal.signals) == 120
    assert fake_temporal.max_in_flight > 1 and fake_temporal.max_in_flight <= 50  # concurrent, and bounded
    assert all(rec.signalled_at is not None for rec in records(seeded))


def test_a_push_signals_each_order_once_with_its_events_in_the_push_order(seeded, api_client, fake_temporal, order_id):
    other = make_order(seeded, "O0000000000D1")
    delivery = {"event_id": "D2", "order_id": order_id, "kind": "delivery", "occurred_at": T0, "delivery_status": "signed"}
    body = ndjson(shipped("D1", order_id), shipped("X1", other), shipped("D1", order_id), delivery,
                  {**delivery, "event_id": "X2", "order_id": other})
    assert push_batch(api_client, body, "application/x-ndjson").status_code == 200
    by_order = {wid: [e.event_id for e in arg.events] for wid, _, arg in fake_temporal.signals}
    assert len(fake_temporal.signals) == 2  # one per order, not one per event
    assert by_order == {f"order-{order_id}": ["D1", "D2"], f"order-{other}": ["X1", "X2"]}  # repeats left out
    assert all(rec.signalled_at is not None for rec in records(seeded))


def csv_body(rows: list[dict], fields=WIRE_FIELDS, bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in fields})
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def test_csv_daily_status_file(seeded, api_client, fake_temporal, order_id):
    rows = [
        {"event_id": "C1", "order_id": order_id, "kind": "activated", "occurred_at": T0},
        {"event_id": "C2", "order_id": order_id, "kind": "recharged", "occurred_at": T0, "amount_fen": "5000",
         "to_msisdn": "13812345678"},
        {"event_id": "C3", "order_id": order_id, "kind": "suspended", "occurred_at": T0},  # needs mode
    ]
    r = push_batch(api_client, csv_body(rows, bom=True), "text/csv; charset=utf-8")
    assert r.status_code == 207, r.text
    out = r.json()
    assert out["accepted"] == 2 and out["rejected"] == 1
    assert [(x["line"], x["event_id"], x["outcome"]) for x in out["results"]] == [
        (2, "C1", "accepted"), (3, "C2", "accepted"), (4, "C3", "rejected")]
    assert "a suspended event needs mode" in out["results"][2]["error"]
    recharge = next(e for _, e in sent(fake_temporal) if e.event_id == "C2")
    assert recharge.amount_fen == 5000 and recharge.to_msisdn_fingerprint == msisdn_fingerprint("13812345678")
    ok = push_batch(api_client, csv_body(rows[:1], fields=("order_id", "event_id", "kind", "occurred_at")), "text/csv")
    assert ok.status_code == 200 and ok.json()["duplicate"] == 1


def test_csv_with_unknown_columns_is_400(seeded, api_client):
    body = csv_body([{"event_id": "C1"}], fields=(*WIRE_FIELDS, "customer_name"))
    r = push_batch(api_client, body, "text/csv")
    assert r.status_code == 400 and "customer_name" in r.json()["reason"]
    assert records(seeded) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"event_id": "x"}\n', "application/json", 415),
        (b"hello", "text/plain", 415),
        (b"", "application/x-ndjson", 400),
        (b"\n\n", "application/x-ndjson", 400),
        (b"", "text/csv", 400),
        (b"\xff\xfe\x00bad", "application/x-ndjson", 400),
    ],
)
def test_batch_body_refused_as_a_whole(seeded, api_client, body, content_type, status):
    r = push_batch(api_client, body, content_type)
    assert r.status_code == status, r.text
    assert r.json()["reason"]
    assert records(seeded) == []


def test_batch_requires_a_signature(seeded, api_client):
    r = api_client.post("/carrier-events/batch", content=b"{}", headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 401


def test_event_listing_pagination(seeded, api_client, order_id):
    push_batch(api_client, ndjson(*(shipped(f"P{n}", "O_NOPE") for n in range(5))), "application/x-ndjson")
    first = api_client.get("/carrier-events", params={"outcome": "unknown_order", "limit": 2}).json()
    rest = api_client.get("/carrier-events", params={"outcome": "unknown_order", "limit": 2, "offset": 2}).json()
    assert first["total"] == 5 and len(first["items"]) == 2 and len(rest["items"]) == 2
    assert not {i["event_id"] for i in first["items"]} & {i["event_id"] for i in rest["items"]}
    assert api_client.get("/carrier-events", params={"outcome": "lost"}).status_code == 422


def test_a_recharge_for_an_order_still_holding_the_old_unkeyed_fingerprint_is_judged_right(seeded, api_client, fake_temporal, order_id):
    from sqlmodel import Session

    from core.crypto import legacy_fingerprint
    from db.orders import Order

    with Session(seeded) as s:
        row = s.get(Order, order_id)
        row.msisdn_fingerprint = legacy_fingerprint("13812345678")
        s.add(row)
        s.commit()
    base = {"order_id": order_id, "kind": "recharged", "occurred_at": T0, "amount_fen": 5000}
    assert push(api_client, {**base, "event_id": "L1", "to_msisdn": "13812345678"}).status_code == 202
    assert push(api_client, {**base, "event_id": "L2", "to_msisdn": "13900000000"}).status_code == 202
    right, wrong = (e for _, e in sent(fake_temporal)[-2:])
    assert right.to_msisdn_matches is True and wrong.to_msisdn_matches is False
    assert legacy_fingerprint("13812345678") not in right.model_dump_json()  # never sent on

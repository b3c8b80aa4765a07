"""Bad input gets a small 4xx with the error body, never a 500 nor a request held whole in memory: body limits
per route, batches refused at the first line past the limit, JSON nested without end, values past the bounds."""

from __future__ import annotations

import json

import pytest

from api.orders.carrier_events import MAX_BATCH_LINES
from core.limits import BATCH_BODY_MAX, JSON_BODY_MAX, MAX_JSON_DEPTH, too_deep
from tests.orders.test_api_carrier_events import push, push_batch

DEEP = "[" * 100_000 + "]" * 100_000


def _error(r, status: int, type_: str | None = None) -> dict:
    assert r.status_code == status, r.text[:300]
    body = r.json()
    assert body["status"] == status and body["reason"]
    if type_:
        assert body["type"] == type_
    return body


def test_depth_scan_counts_brackets_outside_strings_only():
    assert not too_deep(json.dumps({"a": [1, {"b": "[[[[{{{{" * 100}], "c": '\\"[[['}))
    assert not too_deep("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert too_deep("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert too_deep('{"a":' * 40 + "1" + "}" * 40)


def test_a_json_body_past_the_limit_is_refused_before_it_is_read(api_client):
    body = b'{"agent_id": "' + b"x" * JSON_BODY_MAX + b'"}'
    _error(api_client.post("/orders", content=body, headers={"Content-Type": "application/json",
                                                             "Idempotency-Key": "big"}), 413, "too_large")


def test_a_body_without_length_is_counted_as_it_streams(api_client):
    def chunks():
        yield b'{"agent_id": "'
        for _ in range(JSON_BODY_MAX // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    _error(api_client.post("/orders", content=chunks(), headers={"Content-Type": "application/json",
                                                                 "Idempotency-Key": "stream"}), 413, "too_large")


def test_a_422_never_echoes_the_input(api_client):
    r = api_client.post("/orders", json={"agent_id": "x" * 500_000, "product_id": ["y" * 100_000] * 3},
                        headers={"Idempotency-Key": "echo"})
    body = _error(r, 422, "invalid_request")
    assert len(r.content) < 4000 and "xxxxxxxxxx" not in r.text and body["errors"]


@pytest.mark.parametrize("path", ["/orders", "/payments", "/complaints"])
def test_json_nested_without_end_is_a_400(api_client, path):
    r = api_client.post(path, content=DEEP, headers={"Content-Type": "application/json", "Idempotency-Key": "deep"})
    _error(r, 400)


def test_a_deeply_nested_carrier_event_is_recorded_as_rejected(api_client, seeded):
    r = push(api_client, None, raw=('{"event_id": "E1", "order_id": "O1", "x": ' + DEEP + "}").encode())
    assert r.status_code == 422 and r.json()["type"] == "malformed_event"
    assert f"deeper than {MAX_JSON_DEPTH}" in r.json()["reason"]
    r = push_batch(api_client, (DEEP + "\n").encode(), "application/x-ndjson")
    assert r.status_code == 207 and r.json()["rejected"] == 1


def test_a_batch_past_the_line_limit_is_refused_early(api_client, seeded):
    # short lines: under the byte limit, over the line limit; refused as they stream in, never parsed
    body = b"order_id,event_id,kind,occurred_at\n" + b"O1,E,shipped,x\n" * (MAX_BATCH_LINES + 10)
    assert len(body) < BATCH_BODY_MAX
    body_json = _error(push_batch(api_client, body, "text/csv"), 413, "too_large")
    assert str(MAX_BATCH_LINES) in body_json["reason"]


def test_a_batch_past_the_byte_limit_is_refused(api_client, seeded):
    body = b'{"event_id": "' + b"e" * BATCH_BODY_MAX + b'"}\n'
    _error(push_batch(api_client, body, "application/x-ndjson"), 413, "too_large")


@pytest.mark.parametrize("query", [
    "offset=18446744073709551616", "offset=1000001", "limit=0", "limit=501",
])
def test_paging_past_its_bounds_is_a_422(api_client, query):
    _error(api_client.get(f"/orders?{query}"), 422, "invalid_request")


@pytest.mark.parametrize("month", ["000001", "999912", "202613", "20261"])
def test_a_month_outside_the_calendar_is_a_422(api_client, month):
    _error(api_client.get(f"/cancellations/report?month={month}"), 422, "invalid_request")


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"])
def test_a_moment_at_the_calendar_edge_is_a_422(api_client, at):
    _error(api_client.get("/audit", params={"since": at}), 422, "invalid_request")


def test_an_amount_past_the_bound_is_a_422(api_client):
    r = api_client.post("/payments", json={"id": "P1", "merchant_id": "M1", "merchant_order_no": "SO1",
                                           "channel": "unionpay", "product": "quick", "paid_fen": 10**19,
                                           "fee_fen": 0})
    _error(r, 422, "invalid_request")


@pytest.mark.parametrize("refund_id", ["R%0A1", "R%3Fa%3D1", "R%201", "R%00", "x" * 65])
def test_a_path_id_with_control_or_url_characters_is_a_422(api_client, refund_id):
    _error(api_client.get(f"/refunds/{refund_id}"), 422, "invalid_request")


async def test_an_id_in_an_outgoing_url_stays_one_path_segment():
    import httpx

    from core.http import segment
    from gateways.payment_channel import PaymentChannelGateway

    assert segment("a/b?c#d\n e") == "a%2Fb%3Fc%23d%0A%20e"
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return httpx.Response(200, json={"lines": []})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://channel")
    gateway = PaymentChannelGateway("http://channel", "secret", client=client)
    await gateway.statement("ali/../refunds?x=1#", "20260301")
    await client.aclose()
    assert seen == [b"/channels/ali%2F..%2Frefunds%3Fx%3D1%23/statements/20260301"]


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"])
def test_a_carrier_event_at_the_calendar_edge_is_rejected(api_client, seeded, at):
    r = push(api_client, {"event_id": "E-edge", "order_id": "O1", "kind": "shipped", "occurred_at": at,
                          "tracking_no": "SF1"})
    assert r.status_code == 422 and r.json()["type"] == "malformed_event" and "year" in r.json()["reason"]

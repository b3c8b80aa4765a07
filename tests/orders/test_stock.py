"""The number stock on SQLite and PostgreSQL: import (duplicates refused with the line), listing with patterns,
the atomic reservation at placement (a concurrent race never gives one number to two orders), lapses, release
to quarantine and back, levels, alerts, the report; and the customer data of an order, sealed and masked."""

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlmodel import Session, select

from db.fulfilment import OrderCustomer, StockAlert, StockNumber
from domain.orders.customer import RealName, id_number_problem, mask_id_number
from domain.orders.stock import NumberPattern, NumberState, number_after, parse_import
from scripts.demo.people import CUSTOMER, REAL_NAME, RECIPIENT, id_number
from services.orders import order as orders
from services.orders import stock
from tests.fixtures_db import AGENT, CHILD, PRODUCT, PRODUCT_CU, bearer

OPS = bearer("ops", user="ops-1")
AGENT_A = bearer("agent", user="agent-a001", agent_id=AGENT)
CSV_HEADERS = {"Content-Type": "text/csv"}


def import_csv(client, lines: list[str], headers=OPS):
    return client.post("/stock/imports", content=("msisdn,product_id\n" + "\n".join(lines) + "\n").encode(),
                       headers={**headers, **CSV_HEADERS})


def states(engine) -> dict[str, tuple[str, str | None]]:
    with Session(engine) as s:
        return {n.msisdn: (n.state, n.order_id) for n in s.exec(select(StockNumber)).all()}


def place(client, msisdn: str, key: str, headers=None, **extra):
    body = {"agent_id": AGENT, "product_id": PRODUCT, "msisdn": msisdn, **CUSTOMER, **extra}
    return client.post("/orders", json=body, headers={"Idempotency-Key": key, **(headers or {})})


# ---- pure rules ----------------------------------------------------------------------------------------------


def test_the_import_file_names_every_bad_line():
    parsed = parse_import("msisdn,product_id\n13800000001,P1\n12345,P1\n13800000002,NOPE\n13800000001,P1\n\n", {"P1"})
    assert [(p.line, p.problem) for p in parsed.problems] == [
        (3, "not a mainland mobile number (11 digits, 13x-19x)"),
        (4, "unknown product 'NOPE'"),
        (5, "duplicate: the same number as line 2"),
    ]
    assert parsed.problems[2].msisdn_masked == "138****0001"
    assert parse_import("number\n13800000001\n", {"P1"}).problems[0].line == 1
    assert parse_import("msisdn,product_id\n", {"P1"}).problems[0].problem == "the file names no number"


def test_patterns_and_what_the_end_of_an_order_does_to_its_number():
    assert NumberPattern(ends_with="8").matches("13800000008") and not NumberPattern(ends_with="8").matches("13800000009")
    assert not NumberPattern(without_digit="4").matches("13800000004")
    assert number_after("failed", "delivery_failed") == NumberState.QUARANTINED
    assert number_after("delivery_failed", None) == NumberState.QUARANTINED  # a terminal status of its own
    assert number_after("failed", "activation_timeout") == NumberState.QUARANTINED
    assert number_after("failed", "outside_coverage") == NumberState.AVAILABLE  # refused: it never left the pool
    assert number_after("failed", "number_unavailable") == NumberState.RETIRED
    assert number_after("failed", "recharge_missing") is None  # the customer keeps the number
    assert number_after("settled", None) is None and number_after("shipped", None) is None


def test_identity_card_numbers_are_checked_by_their_check_digit():
    good = id_number("11010519491231002")
    assert good.endswith("X") and id_number_problem(good) is None
    assert id_number_problem(good[:-1] + "1") == "the identity card number's check digit is wrong"
    assert id_number_problem("110105194913310021") == "the birth date in the identity card number is not a date"
    assert mask_id_number(good) == "110*************2X"
    assert RealName(name="张三", id_number=good.lower()).id_number == good


# ---- the API on both databases -------------------------------------------------------------------------------


def test_ops_import_numbers_and_a_bad_file_imports_nothing(seeded, api_client):
    r = import_csv(api_client, ["13800000008", "13800000018"], headers=AGENT_A)
    assert r.status_code == 403  # agents do not import stock
    r = import_csv(api_client, [f"13800000008,{PRODUCT}", f"13800000018,{PRODUCT}", f"13000000001,{PRODUCT_CU}"])
    assert r.status_code == 201, r.text
    assert r.json()["numbers"] == 3 and r.json()["by_product"] == {PRODUCT: 2, PRODUCT_CU: 1}
    r = import_csv(api_client, [f"13800000028,{PRODUCT}", f"13800000008,{PRODUCT}"])
    assert r.status_code == 422 and r.json()["type"] == "stock_file_refused"
    assert "line 3: duplicate: already in the stock (138****0008)" in r.json()["reason"]
    assert "13800000008" not in r.text  # masked in the answer
    assert len(states(seeded)) == 3  # nothing of the refused file
    r = api_client.post("/stock/imports", content=b"msisdn,product_id\n", headers={**OPS, "Content-Type": "text/plain"})
    assert r.status_code == 415


def test_listing_available_numbers_with_a_pattern(seeded, api_client):
    import_csv(api_client, [f"1380000000{i},{PRODUCT}" for i in range(10)])
    r = api_client.get("/stock/numbers", params={"product_id": PRODUCT, "ends_with": "8"}, headers=AGENT_A)
    assert r.status_code == 200 and [n["msisdn"] for n in r.json()["items"]] == ["13800000008"]
    r = api_client.get("/stock/numbers", params={"product_id": PRODUCT, "without_digit": "4", "limit": 500},
                       headers=AGENT_A)
    assert r.json()["total"] == 9
    assert api_client.get("/stock/numbers", params={"ends_with": "x8"}).status_code == 422


def test_placing_an_order_reserves_its_number_and_a_taken_number_is_refused(seeded, api_client, fake_temporal):
    import_csv(api_client, [f"13800000008,{PRODUCT}", f"13800000018,{PRODUCT}"])
    r = place(api_client, "13800000008", "k1", headers=AGENT_A)
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    assert states(seeded)["13800000008"] == ("reserved", order_id)
    listed = api_client.get("/stock/numbers", params={"product_id": PRODUCT}, headers=AGENT_A).json()
    assert [n["msisdn"] for n in listed["items"]] == ["13800000018"]
    r = place(api_client, "13800000008", "k2")
    assert r.status_code == 409 and r.json()["type"] == "number_unavailable"
    assert place(api_client, "13900000000", "k3").status_code == 409  # not a number of this product's stock
    assert len([s for s in fake_temporal.started if s["id"].startswith("order-")]) == 1
    assert place(api_client, "13800000008", "k1", headers=AGENT_A).json()["id"] == order_id  # the same key again


def test_concurrent_orders_never_get_one_number_twice(seeded, api_client):
    """Eight threads place orders for the same two numbers at once: exactly two orders, each its own number."""
    import_csv(api_client, [f"13800000008,{PRODUCT}", f"13800000018,{PRODUCT}"])
    barrier = threading.Barrier(8)

    def one(i: int) -> str:
        barrier.wait()
        with Session(seeded) as s:
            try:
                placed = orders.place_order(s, f"race-{i}", orders.NewOrder(
                    agent_id=CHILD, product_id=PRODUCT, msisdn=["13800000008", "13800000018"][i % 2]))
            except stock.NumberUnavailable:
                return "refused"
            return placed.order.id

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(one, range(8)))
    won = [o for o in outcomes if o != "refused"]
    assert len(won) == 2 and outcomes.count("refused") == 6
    held = states(seeded)
    assert {held["13800000008"][1], held["13800000018"][1]} == set(won)
    with Session(seeded) as s:
        n = s.exec(text("SELECT COUNT(*) FROM stock_number WHERE state = 'reserved'")).one()[0]
    assert n == 2


def test_a_lapsed_reservation_frees_the_number_and_its_order_loses_it(seeded, api_client):
    import_csv(api_client, [f"13800000008,{PRODUCT}"])
    first = place(api_client, "13800000008", "k1").json()["id"]
    later = datetime.now(UTC) + timedelta(minutes=31)
    with Session(seeded) as s:  # the reservation lapsed: another order may take it, the first cannot confirm
        second = orders.place_order(s, "k2", orders.NewOrder(agent_id=CHILD, product_id=PRODUCT,
                                                             msisdn="13800000008"), now=later).order.id
        assert stock.confirm(s, first, later) is False
        assert stock.confirm(s, second, later) is True
        s.commit()
    assert states(seeded)["13800000008"] == ("assigned", second)


def test_the_sweep_writes_down_lapses_and_quarantine_ends_and_alerts_low_stock(seeded, api_client):
    import_csv(api_client, [f"1380000000{i},{PRODUCT}" for i in range(3)])
    oid = place(api_client, "13800000000", "k1").json()["id"]
    now = datetime.now(UTC)
    with Session(seeded) as s:
        stock.confirm(s, oid, now)
        assert stock.release(s, oid, "failed", "delivery_failed", now) == "quarantined"
        s.commit()
    assert states(seeded)["13800000000"] == ("quarantined", oid)
    levels = api_client.get("/stock/levels", params={"product_id": PRODUCT}, headers=AGENT_A).json()
    assert levels == [{"product_id": PRODUCT, "carrier": "china_mobile", "available": 2, "reserved": 0,
                       "assigned": 0, "quarantined": 1, "retired": 0, "low": True}]
    with Session(seeded) as s:
        report = stock.sweep(s, now)
        assert report.alerts == 1 and stock.sweep(s, now).alerts == 0  # one alert per product and day
        [alert] = s.exec(select(StockAlert)).all()
        assert alert.available == 2 and alert.low_level == 20
        assert stock.sweep(s, now + timedelta(days=31)).back_from_quarantine == 1
    assert states(seeded)["13800000000"][0] == "available"
    assert api_client.get("/stock/alerts", headers=OPS).json()["total"] == 2  # 3 of 20 still low, a month later
    assert api_client.get("/stock/alerts", headers=AGENT_A).status_code == 403
    csv_body = api_client.get("/stock/report.csv", headers=OPS)
    assert csv_body.status_code == 200 and f"{PRODUCT},china_mobile,3,0,0,0,0,yes" in csv_body.content.decode("utf-8-sig")
    xlsx = load_workbook(io.BytesIO(api_client.get("/stock/report.xlsx", headers=OPS).content)).active
    assert [c.value for c in xlsx[2]] == [PRODUCT, "china_mobile", 3, 0, 0, 0, 0, "yes"]


def test_the_customer_is_sealed_at_rest_and_masked_in_answers(seeded, api_client):
    r = place(api_client, "13812345678", "k1")
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    with seeded.connect() as conn:
        raw = " ".join(str(v) for v in conn.execute(text("SELECT * FROM order_customer")).one())
    assert REAL_NAME["id_number"] not in raw and RECIPIENT["phone"] not in raw and "张三" not in raw
    with Session(seeded) as s:
        assert s.get(OrderCustomer, oid).id_number == REAL_NAME["id_number"]  # read back through the key ring
    detail = api_client.get(f"/orders/{oid}", headers=AGENT_A).json()
    assert detail["customer"]["revealed"] is False
    assert detail["customer"]["real_name"]["id_number"] == "110*************" + REAL_NAME["id_number"][-2:]
    assert detail["customer"]["recipient"]["phone"] == "139****0000"
    assert detail["customer"]["recipient"]["address"]["street"] == "****"
    assert api_client.get(f"/orders/{oid}", params={"reveal": "true"}, headers=AGENT_A).status_code == 403
    full = api_client.get(f"/orders/{oid}", params={"reveal": "true"}, headers=OPS).json()
    assert full["customer"]["real_name"]["id_number"] == REAL_NAME["id_number"]


@pytest.mark.parametrize("change, field", [
    ({"real_name": {**REAL_NAME, "id_number": REAL_NAME["id_number"][:-1] + ("0" if REAL_NAME["id_number"][-1] != "0" else "1")}},
     "real_name.id_number"),
    ({"recipient": {**RECIPIENT, "phone": "12012345678"}}, "recipient.phone"),
    ({"recipient": {**RECIPIENT, "address": {**RECIPIENT["address"], "street": ""}}}, "recipient.address.street"),
    ({"recipient": None}, "body"),
])
def test_bad_customer_data_is_refused_field_by_field(seeded, api_client, change, field):
    r = api_client.post("/orders", json={"agent_id": AGENT, "product_id": PRODUCT, "msisdn": "13812345678",
                                         **CUSTOMER, **change}, headers={"Idempotency-Key": "bad"})
    assert r.status_code == 422 and r.json()["type"] == "invalid_request"
    assert any(e["field"].startswith(field) for e in r.json()["errors"]), r.json()
    assert REAL_NAME["id_number"][:10] not in r.text

"""The order-tracking table (filters, scope, CSV/XLSX), the agents' monthly figures, stale orders and the rescue
tasks the agent works, against SQLite and PostgreSQL with a fake Temporal client."""

import csv
import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from sqlmodel import Session

from activities.orders.order import OrderActivities
from db.orders import AuditRow, Order, RescueContact, RescueTask
from domain.orders.delivery import StaleReason
from domain.orders.order import ConditionState, OrderFacts, ProductTerms, evaluate
from tests.fixtures_db import AGENT, CHILD, PRODUCT, PRODUCT_CU, bearer
from workflows.orders.contract import OrderProgress, RescueClosed

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 Shanghai, March 2026
TERMS = ProductTerms(product_id=PRODUCT, carrier="china_mobile", activation_window_days=15, recharge_window_days=30,
                     min_first_recharge_fen=5000, commission_fen=12000)
AGENT_HEADERS = bearer("agent", user="agent-a001", agent_id=AGENT)
OTHER_AGENT = bearer("agent", user="agent-a002", agent_id=CHILD)


def _order(s: Session, oid: str, agent: str = AGENT, placed: datetime = T0, product: str = PRODUCT, **kw) -> Order:
    o = Order(id=oid, idempotency_key=f"k-{oid}", agent_id=agent, product_id=product,
              carrier="china_unicom" if product == PRODUCT_CU else "china_mobile", msisdn_masked="138****0001",
              msisdn_fingerprint=f"fp-{oid}", placed_at=placed, status=kw.pop("status", "placed"), **kw)
    s.add(o)
    return o


def _world(engine) -> None:
    """Four orders of A001 placed in March (shipped 4, signed 3, activated 2, settled 1) and one of A002."""
    with Session(engine) as s:
        _order(s, "O1", status="settled", shipped_at=T0 + timedelta(days=1), tracking_no="SF1",
               signed_at=T0 + timedelta(days=2), activated_at=T0 + timedelta(days=3),
               recharged_at=T0 + timedelta(days=4), in_network_at=datetime(2026, 5, 1, tzinfo=UTC),
               carrier_accepted_at=T0 + timedelta(hours=2))
        _order(s, "O2", status="failed", shipped_at=T0 + timedelta(days=1), signed_at=T0 + timedelta(days=2),
               activated_at=T0 + timedelta(days=3), failure_reason="recharge_missing")
        _order(s, "O3", status="signed", shipped_at=T0 + timedelta(days=1), signed_at=T0 + timedelta(days=2))
        _order(s, "O4", status="shipped", shipped_at=T0 + timedelta(days=1), stale_reason="no_logistics_update",
               stale_since=T0 + timedelta(days=4))
        _order(s, "O5", agent=CHILD, product=PRODUCT_CU)
        _order(s, "O6", placed=datetime(2026, 2, 27, tzinfo=UTC))  # February
        s.add(AuditRow(carrier="china_mobile", month="202604", order_id="O1", approved=True,
                       applied_at=datetime(2026, 5, 3, tzinfo=UTC)))
        s.commit()


def test_tracking_table_shows_each_link_and_filters(seeded, api_client):
    _world(seeded)
    r = api_client.get("/orders/tracking", params={"month": "202603", "agent_id": AGENT})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 4 and {i["order_id"] for i in page["items"]} == {"O1", "O2", "O3", "O4"}
    o1 = next(i for i in page["items"] if i["order_id"] == "O1")
    assert o1["tracking_no"] == "SF1"
    assert datetime.fromisoformat(o1["accepted_at"]) == T0 + timedelta(hours=2)
    assert datetime.fromisoformat(o1["signed_at"]) == T0 + timedelta(days=2)
    assert datetime.fromisoformat(o1["in_network_at"]) == datetime(2026, 5, 1, tzinfo=UTC)
    assert datetime.fromisoformat(o1["audited_at"]) == datetime(2026, 5, 3, tzinfo=UTC)
    assert next(i for i in page["items"] if i["order_id"] == "O3")["activated_at"] is None

    stale = api_client.get("/orders/tracking", params={"stale": "true"}).json()
    assert [i["order_id"] for i in stale["items"]] == ["O4"]
    assert api_client.get("/orders/tracking", params={"status": "failed"}).json()["total"] == 1
    assert api_client.get("/orders/tracking", params={"carrier": "china_unicom"}).json()["total"] == 1
    assert api_client.get("/orders/tracking", params={"month": "202602"}).json()["total"] == 1
    assert api_client.get("/orders/tracking", params={"month": "202613"}).status_code == 422
    assert api_client.get("/orders/tracking", params={"limit": 501}).status_code == 422


def test_an_agent_sees_only_its_own_rows(seeded, api_client):
    _world(seeded)
    mine = api_client.get("/orders/tracking", headers=AGENT_HEADERS).json()
    assert mine["total"] == 5 and all(i["agent_id"] == AGENT for i in mine["items"])
    r = api_client.get("/orders/tracking", params={"agent_id": CHILD}, headers=AGENT_HEADERS)
    assert r.status_code == 403 and r.json()["type"] == "other_agent"
    assert api_client.get("/orders/kpis", params={"month": "202603"}, headers=OTHER_AGENT).json()[0]["agent_id"] == CHILD
    assert api_client.get("/orders/stale", headers=OTHER_AGENT).json()["total"] == 0
    every = api_client.get("/orders/tracking", headers=bearer("ops", user="ops-1")).json()
    assert every["total"] == 6


def test_tracking_exports_csv_and_xlsx_with_the_same_rows(seeded, api_client):
    _world(seeded)
    r = api_client.get("/orders/tracking.csv", params={"month": "202603", "agent_id": AGENT})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="order-tracking-A001-202603.csv"' in r.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["order_id", "agent_id", "carrier"] and len(lines) == 5
    o1 = next(line for line in lines if line[0] == "O1")
    assert o1[lines[0].index("audited_at")] == "2026-05-03T00:00:00+00:00"

    x = api_client.get("/orders/tracking.xlsx", params={"month": "202603", "agent_id": AGENT})
    assert x.status_code == 200
    ws = load_workbook(io.BytesIO(x.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == lines[0] and len(rows) == 5
    x1 = next(row for row in rows if row[0] == "O1")
    assert x1[lines[0].index("signed_at")] == datetime(2026, 3, 12, 10, 0)  # Shanghai wall clock


def test_agent_kpis_per_month(seeded, api_client):
    _world(seeded)
    [k] = api_client.get("/orders/kpis", params={"month": "202603", "agent_id": AGENT}).json()
    assert (k["placed"], k["shipped"], k["signed"], k["activated"], k["settled"], k["failed"]) == (4, 4, 3, 2, 1, 1)
    assert k["sign_for_rate"] == 0.75 and k["activation_rate"] == 0.6667 and k["settlement_rate"] == 0.5
    every = api_client.get("/orders/kpis", params={"month": "202603"}).json()
    assert [e["agent_id"] for e in every] == [AGENT, CHILD]
    child = every[1]
    assert child["placed"] == 1 and child["sign_for_rate"] is None  # nothing shipped: no rate, not 0
    [empty] = api_client.get("/orders/kpis", params={"month": "202601", "agent_id": AGENT}).json()
    assert empty["placed"] == 0 and empty["settlement_rate"] is None
    c = api_client.get("/orders/kpis.csv", params={"month": "202603"})
    assert c.status_code == 200 and c.content.decode("utf-8-sig").splitlines()[1].startswith("A001,202603,4,4,3,2,1,1,")
    assert api_client.get("/orders/kpis.xlsx", params={"month": "202603"}).status_code == 200
    assert api_client.get("/orders/kpis").status_code == 422  # the month is required


def test_stale_orders_list(seeded, api_client):
    _world(seeded)
    r = api_client.get("/orders/stale").json()
    assert [o["id"] for o in r["items"]] == ["O4"] and r["items"][0]["stale_reason"] == "no_logistics_update"
    assert api_client.get("/orders/stale", params={"reason": StaleReason.NO_SHIPMENT.value}).json()["total"] == 0
    assert api_client.get("/orders/stale", params={"reason": "bogus"}).status_code == 422


def test_progress_writes_each_met_link_time(seeded):
    with Session(seeded) as s:
        _order(s, "O7")
        s.commit()
    from domain.orders.order import EventKind, OrderEvent

    facts = OrderFacts()
    facts.record(OrderEvent(event_id="e1", order_id="O7", kind=EventKind.SHIPPED, occurred_at=T0, tracking_no="SF7"),
                 T0, "fp")
    v = evaluate(TERMS, facts, T0)
    assert v.checklist[0].state == ConditionState.MET
    OrderActivities(seeded).record_order_progress(OrderProgress(order_id="O7", verdict=v, tracking_no="SF7"))
    with Session(seeded) as s:
        o = s.get(Order, "O7")
        assert o.shipped_at == T0 and o.tracking_no == "SF7" and o.signed_at is None and o.status == "shipped"


# ---- rescue tasks ---------------------------------------------------------------------------------------------


def _task(engine, order_id: str = "O3", agent: str = AGENT) -> int:
    with Session(engine) as s:
        t = RescueTask(order_id=order_id, agent_id=agent, exception_event_id=f"ex-{order_id}", kind="unreachable",
                       msisdn_masked="138****0001", opened_at=T0, give_up_at=T0 + timedelta(days=7))
        s.add(t)
        s.commit()
        return int(t.id)


def test_the_agent_records_contact_attempts_and_closes_the_task(seeded, api_client, fake_temporal):
    _world(seeded)
    task_id = _task(seeded)
    h = AGENT_HEADERS
    listed = api_client.get("/rescue-tasks", params={"state": "open"}, headers=h).json()
    assert [t["id"] for t in listed["items"]] == [task_id] and listed["items"][0]["open"]

    for at, channel, outcome in ((T0 + timedelta(hours=1), "phone", "no_answer"),  # 11:00 Shanghai
                                 (T0 + timedelta(hours=9), "wechat", "reached")):  # 19:00 Shanghai
        r = api_client.post(f"/rescue-tasks/{task_id}/contacts", headers=h,
                            json={"at": at.isoformat(), "channel": channel, "outcome": outcome,
                                  "note": "客户说明天在家 13912345678"})
        assert r.status_code == 201, r.text
    task = r.json()
    assert [c["outcome"] for c in task["contacts"]] == ["no_answer", "reached"]
    assert task["channels_tried"] == ["phone", "wechat"] and task["day_slots_tried"] == ["evening", "morning"]
    assert "13912345678" not in r.text and "139****5678" in r.text  # the agent reads its notes masked
    with Session(seeded) as s:
        assert s.get(RescueContact, task["contacts"][0]["id"]).note.startswith("客户")  # sealed at rest, clear in

    r = api_client.post(f"/rescue-tasks/{task_id}/close", headers=h, json={"resolution": "redelivery_arranged"})
    assert r.status_code == 200, r.text
    closed = r.json()
    assert not closed["open"] and closed["resolution"] == "redelivery_arranged" and closed["closed_by"] == "agent-a001"
    assert closed["close_signalled"]
    [(wid, name, arg)] = fake_temporal.signals
    assert wid == "order-O3" and name == "rescue_closed"
    assert arg == RescueClosed(exception_event_id="ex-O3", resolution="redelivery_arranged", by="agent-a001")

    again = api_client.post(f"/rescue-tasks/{task_id}/close", headers=h, json={"resolution": "redelivery_arranged"})
    assert again.status_code == 200 and len(fake_temporal.signals) == 1  # a retry: same answer, no second signal
    other = api_client.post(f"/rescue-tasks/{task_id}/close", headers=h, json={"resolution": "given_up"})
    assert other.status_code == 409
    late = api_client.post(f"/rescue-tasks/{task_id}/contacts", headers=h,
                           json={"at": T0.isoformat(), "channel": "sms", "outcome": "no_answer"})
    assert late.status_code == 409 and late.json()["type"] == "rescue_closed_already"


def test_rescue_task_bad_input_and_other_agents(seeded, api_client, fake_temporal):
    _world(seeded)
    task_id = _task(seeded)
    url = f"/rescue-tasks/{task_id}/contacts"
    future = datetime.now(UTC) + timedelta(days=1)
    assert api_client.post(url, json={"at": future.isoformat(), "channel": "phone", "outcome": "reached"}).status_code == 422
    before = api_client.post(url, json={"at": (T0 - timedelta(hours=1)).isoformat(), "channel": "phone",
                                        "outcome": "reached"})
    assert before.status_code == 422 and before.json()["type"] == "contact_before_task"
    assert api_client.post(url, json={"at": T0.isoformat(), "channel": "pigeon", "outcome": "reached"}).status_code == 422
    assert api_client.post(url, json={"at": "2026-03-10T10:00:00", "channel": "phone",
                                      "outcome": "reached"}).status_code == 422  # no offset
    assert api_client.get(f"/rescue-tasks/{task_id}", headers=OTHER_AGENT).status_code == 404
    assert api_client.post(f"/rescue-tasks/{task_id}/close", headers=OTHER_AGENT,
                           json={"resolution": "given_up"}).status_code == 404
    assert api_client.get("/rescue-tasks", headers=OTHER_AGENT).json()["total"] == 0
    viewer = bearer("read_only", user="viewer")
    assert api_client.get(f"/rescue-tasks/{task_id}", headers=viewer).status_code == 200
    assert api_client.post(f"/rescue-tasks/{task_id}/close", headers=viewer,
                           json={"resolution": "given_up"}).status_code == 403
    assert api_client.get("/rescue-tasks/0").status_code == 422
    assert api_client.get("/rescue-tasks/999999").status_code == 404


def test_a_close_not_signalled_goes_out_with_the_next_request(seeded, api_client, fake_temporal):
    _world(seeded)
    task_id = _task(seeded)
    fake_temporal.unavailable = True
    r = api_client.post(f"/rescue-tasks/{task_id}/close", json={"resolution": "given_up"})
    assert r.status_code == 200 and not r.json()["close_signalled"]  # the close is recorded all the same
    fake_temporal.unavailable = False
    listed = api_client.get("/rescue-tasks").json()
    assert listed["items"][0]["close_signalled"]
    assert [name for _, name, _ in fake_temporal.signals] == ["rescue_closed"]

"""Settlement batches, agent statements and the CSV / XLSX exports."""

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlmodel import Session

from db.orders import AgentStatement, BatchStatus, CommissionLineRecord, LineStatus, Order, SettlementBatch
from tests.fixtures_db import AGENT, CHILD, PRODUCT, PRODUCT_CU

MONTH = "202604"


def _order(oid, agent, product, carrier, status, month, reason=None, detail=""):
    return Order(id=oid, idempotency_key=f"k-{oid}", agent_id=agent, product_id=product, carrier=carrier,
                 msisdn_masked="138****0000", msisdn_fingerprint=oid, placed_at=datetime(2026, 2, 1, tzinfo=UTC),
                 status=status, settlement_month=month, failure_reason=reason, failure_detail=detail)


@pytest.fixture
def settled(seeded):
    with Session(seeded) as s:
        s.add(SettlementBatch(id=f"settlement-china_mobile-{MONTH}", carrier="china_mobile", month=MONTH,
                              status=BatchStatus.CLOSED, orders_settled=2, orders_failed=1, commission_fen=25200))
        s.add(SettlementBatch(id=f"settlement-china_unicom-{MONTH}", carrier="china_unicom", month=MONTH))
        s.add(SettlementBatch(id="settlement-china_mobile-202603", carrier="china_mobile", month="202603"))
        s.add(AgentStatement(id=f"settlement-china_mobile-{MONTH}-{AGENT}", batch_id=f"settlement-china_mobile-{MONTH}",
                             agent_id=AGENT, carrier="china_mobile", month=MONTH, orders_settled=1, amount_fen=13200))
        s.add(AgentStatement(id=f"settlement-china_mobile-{MONTH}-{CHILD}", batch_id=f"settlement-china_mobile-{MONTH}",
                             agent_id=CHILD, carrier="china_mobile", month=MONTH, orders_settled=1, amount_fen=12000))
        s.add(_order("O1", AGENT, PRODUCT, "china_mobile", "settled", MONTH))
        s.add(_order("O2", CHILD, PRODUCT, "china_mobile", "settled", MONTH))
        s.add(_order("O3", AGENT, PRODUCT, "china_mobile", "failed", MONTH, "recharge_insufficient",
                     "first recharge 3000 fen < 5000 fen"))
        s.add(_order("O4", AGENT, PRODUCT_CU, "china_unicom", "failed", MONTH, "agent_violation", "=HYPERLINK(\"x\")"))
        s.add(_order("O5", AGENT, PRODUCT, "china_mobile", "failed", "202605", "policy_change"))  # other month
        s.add(_order("O6", AGENT, PRODUCT, "china_mobile", "awaiting_audit", MONTH))  # not failed
        s.add(CommissionLineRecord(order_id="O1", agent_id=AGENT, role="agent", carrier="china_mobile", month=MONTH,
                                   amount_fen=12000, status=LineStatus.PAID))
        s.add(CommissionLineRecord(order_id="O2", agent_id=CHILD, role="agent", carrier="china_mobile", month=MONTH,
                                   amount_fen=12000))
        s.add(CommissionLineRecord(order_id="O2", agent_id=AGENT, role="parent_override", carrier="china_mobile",
                                   month=MONTH, amount_fen=1205, status=LineStatus.HELD))
        s.add(CommissionLineRecord(order_id="O9", agent_id=AGENT, role="agent", carrier="china_mobile", month="202605",
                                   amount_fen=99999))
        s.commit()
    return seeded


def test_list_and_filter_batches(settled, api_client):
    r = api_client.get("/settlements")
    assert r.status_code == 200 and r.json()["total"] == 3
    assert [b["id"] for b in r.json()["items"]] == [
        f"settlement-china_mobile-{MONTH}", f"settlement-china_unicom-{MONTH}", "settlement-china_mobile-202603"]
    r = api_client.get("/settlements", params={"carrier": "china_mobile", "month": MONTH})
    assert [b["id"] for b in r.json()["items"]] == [f"settlement-china_mobile-{MONTH}"]
    assert api_client.get("/settlements", params={"month": "2026-04"}).status_code == 422
    assert api_client.get("/settlements", params={"carrier": "att"}).status_code == 422


def test_batch_detail_and_404(settled, api_client):
    r = api_client.get(f"/settlements/settlement-china_mobile-{MONTH}")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "closed" and body["commission_fen"] == 25200
    assert [s["agent_id"] for s in body["statements"]] == [AGENT, CHILD]
    assert api_client.get("/settlements/settlement-nope-202601").status_code == 404


def test_agent_statements(settled, api_client):
    r = api_client.get(f"/agents/{AGENT}/statements", params={"month": MONTH})
    assert r.status_code == 200
    assert [(s["batch_id"], s["amount_fen"]) for s in r.json()] == [(f"settlement-china_mobile-{MONTH}", 13200)]
    assert api_client.get(f"/agents/{AGENT}/statements", params={"month": "202601"}).json() == []
    assert api_client.get("/agents/NOPE/statements").status_code == 404


def _sections(text: str) -> dict[str, list[list[str]]]:
    """The CSV report: the header block under "", then each [sheet] with its rows (column names first)."""
    out: dict[str, list[list[str]]] = {"": []}
    name = ""
    for row in csv.reader(io.StringIO(text)):
        if row and row[0].startswith("[") and row[0].endswith("]"):
            name = row[0][1:-1]
            out[name] = []
        elif row:
            out[name].append(row)
    return out


def test_statement_csv(settled, api_client):
    r = api_client.get(f"/agents/{AGENT}/statements/{MONTH}.csv")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == f'attachment; filename="statement-{AGENT}-{MONTH}.csv"'
    assert r.content.startswith(b"\xef\xbb\xbf")
    parts = _sections(r.content.decode("utf-8-sig"))
    head = dict(parts[""])
    assert head["agent"] == AGENT and head["month"] == MONTH and head["generated at"]
    assert (head["commission (fen)"], head["paid (fen)"], head["held (fen)"]) == ("13205", "12000", "1205")
    assert parts["commission lines"] == [
        ["order_id", "carrier", "role", "state", "amount_fen", "amount_yuan"],
        ["O1", "china_mobile", "agent", "paid", "12000", "120.00"],
        ["O2", "china_mobile", "parent_override", "held", "1205", "12.05"]]
    assert parts["failed orders"][1:] == [
        ["O3", "china_mobile", "recharge_insufficient", "first recharge 3000 fen < 5000 fen"],
        ["O4", "china_unicom", "agent_violation", "'=HYPERLINK(\"x\")"]]  # formula injection guard
    assert ["order failed", "agent_violation", "1", "", ""] in parts["failures by reason"]


def test_statement_xlsx(settled, api_client):
    r = api_client.get(f"/agents/{AGENT}/statements/{MONTH}.xlsx")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert r.headers["content-disposition"] == f'attachment; filename="statement-{AGENT}-{MONTH}.xlsx"'
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["commission lines", "failed orders", "failures by reason"]
    rows = list(wb["commission lines"].iter_rows(values_only=True))
    head = {row[0]: row[1] for row in rows[:rows.index((None, None, None, None, None, None))]}
    table = rows[rows.index(("order_id", "carrier", "role", "state", "amount_fen", "amount_yuan")) + 1:]
    assert all(isinstance(r[4], int) and isinstance(r[5], int | float) for r in table)  # numbers, never text
    assert sum(r[4] for r in table) == head["commission (fen)"] == 13205
    assert round(sum(r[5] for r in table), 2) == head["commission (yuan)"] == 132.05


def test_statement_of_a_month_without_lines(settled, api_client):
    r = api_client.get(f"/agents/{CHILD}/statements/202601.csv")
    parts = _sections(r.content.decode("utf-8-sig"))
    assert dict(parts[""])["commission (fen)"] == "0" and parts["commission lines"] == [
        ["order_id", "carrier", "role", "state", "amount_fen", "amount_yuan"]]


@pytest.mark.parametrize("path", [f"/agents/NOPE/statements/{MONTH}.csv", f"/agents/NOPE/statements/{MONTH}.xlsx"])
def test_statement_of_unknown_agent_is_404(settled, api_client, path):
    r = api_client.get(path)
    assert r.status_code == 404 and "unknown agent NOPE" in r.json()["reason"]


@pytest.mark.parametrize("month", ["2026-04", "202613", "2026"])
def test_statement_month_is_validated(settled, api_client, month):
    assert api_client.get(f"/agents/{AGENT}/statements/{month}.csv").status_code == 422

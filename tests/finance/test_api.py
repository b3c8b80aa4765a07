"""Finance's routes (SQLite and PostgreSQL, the fake Temporal): who may do what, the answers' shapes, the processes
started, and the exports served."""

import io
import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session

from db.finance import PayoutException
from db.orders import AgentStatement, BatchStatus, CommissionLineRecord, SettlementBatch
from tests.fixtures_db import AGENT, CHILD, bearer

MONTH = "202610"
BATCH = f"settlement-china_mobile-{MONTH}"
STATEMENT = f"{BATCH}-{AGENT}"


@pytest.fixture
def books(seeded):
    with Session(seeded) as s:
        s.add(SettlementBatch(id=BATCH, carrier="china_mobile", month=MONTH, status=BatchStatus.CLOSED,
                              closed_at=datetime.now(UTC), exceptions=1, exceptions_fen=1200))
        s.add(AgentStatement(id=STATEMENT, batch_id=BATCH, agent_id=AGENT, carrier="china_mobile", month=MONTH,
                             amount_fen=12000, paid_fen=12000))
        s.add(AgentStatement(id=f"{BATCH}-{CHILD}", batch_id=BATCH, agent_id=CHILD, carrier="china_mobile", month=MONTH,
                             amount_fen=1200))
        paid = CommissionLineRecord(order_id="O1", agent_id=AGENT, role="agent", carrier="china_mobile", month=MONTH,
                                    amount_fen=12000, status="paid", statement_id=STATEMENT)
        waiting = CommissionLineRecord(order_id="O2", agent_id=CHILD, role="agent", carrier="china_mobile",
                                       month=MONTH, amount_fen=1200, statement_id=f"{BATCH}-{CHILD}")
        s.add_all([paid, waiting])
        s.flush()
        s.add(PayoutException(id=f"{BATCH}-{CHILD}-abc", batch_id=BATCH, statement_id=f"{BATCH}-{CHILD}",
                              agent_id=CHILD, carrier="china_mobile", month=MONTH, amount_fen=1200,
                              line_ids=json.dumps([waiting.id]), cause="rejected", reason="account_closed",
                              state="open", new_account=""))
        s.commit()
    return seeded


def test_an_agent_requests_finance_issues_and_the_pdf_is_served(books, api_app, fake_temporal):
    with TestClient(api_app, headers=bearer("agent", user="agent-1", agent_id=AGENT)) as agent, \
            TestClient(api_app, headers=bearer("finance", user="fin-1")) as fin:
        body = {"title": "Shanghai North Ltd", "tax_number": "91310000MA1ABCDE2X"}
        r = agent.post(f"/statements/{STATEMENT}/invoice", json=body)
        assert r.status_code == 201, r.text
        inv = r.json()
        assert (inv["state"], inv["amount_fen"], inv["number"]) == ("requested", 12000, None)
        assert agent.post(f"/statements/{STATEMENT}/invoice", json=body).json()["type"] == "invoice_exists"
        assert agent.post(f"/statements/{BATCH}-{CHILD}/invoice", json=body).json()["type"] == "not_own_statement"
        assert agent.post(f"/statements/{STATEMENT}/invoice", json={**body, "amount_fen": 1}).status_code == 422
        assert fin.post(f"/statements/{STATEMENT}/invoice", json=body).status_code == 403  # finance does not ask
        assert agent.post(f"/invoices/{inv['id']}/issue", json={}).status_code == 403  # nor the agent issue
        assert fin.post(f"/invoices/{inv['id']}/issue", json={"tax_rate_bp": 700}).status_code == 422
        r = fin.post(f"/invoices/{inv['id']}/issue", json={"tax_rate_bp": 600})
        assert r.status_code == 200 and r.json()["tax_fen"] == 679 and r.json()["number"].startswith("SB")
        assert [s["id"] for s in fake_temporal.started] == [f"invoice-mail-{inv['id']}"]
        assert fake_temporal.started[0]["task_queue"] == "finance"
        assert fin.post(f"/invoices/{inv['id']}/refuse", json={"reason": "too late now"}).status_code == 409
        pdf = agent.get(f"/invoices/{inv['id']}.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert [i["id"] for i in agent.get("/invoices").json()["items"]] == [inv["id"]]
        with TestClient(api_app, headers=bearer("agent", user="agent-2", agent_id=CHILD)) as other:
            assert other.get(f"/invoices/{inv['id']}").status_code == 403
            assert other.get("/invoices").json()["items"] == []
        r = fin.post(f"/invoices/{inv['id']}/reissue", json={"reason": "title corrected", "title": "Shanghai North Co"})
        assert r.status_code == 201 and r.json()["replaces_id"] == inv["id"]
        assert fin.get(f"/invoices/{inv['id']}").json()["state"] == "voided"


def test_finance_retries_a_payout_exception_and_a_manual_payment_waits_for_it(books, api_app, fake_temporal):
    pid = f"{BATCH}-{CHILD}-abc"
    with TestClient(api_app, headers=bearer("finance", user="fin-1")) as fin, \
            TestClient(api_app, headers=bearer("ops", user="ops-1")) as ops:
        page = fin.get("/payout-exceptions", params={"state": "open"}).json()
        assert [e["id"] for e in page["items"]] == [pid] and page["items"][0]["reason"] == "account_closed"
        assert ops.post(f"/payout-exceptions/{pid}/retry", json={}).status_code == 403
        assert fin.post(f"/payout-exceptions/{pid}/retry", json={"new_account": "12ab"}).status_code == 422
        r = fin.post(f"/payout-exceptions/{pid}/retry", json={"new_account": "6222020200112233445"})
        assert r.status_code == 202, r.text
        assert r.json()["state"] == "retrying" and r.json()["new_account"] == "****3445"
        assert [s["id"] for s in fake_temporal.started] == [f"payout-retry-{pid}-2"]
        r = fin.post(f"/payout-exceptions/{pid}/manual-payment",
                     json={"reference": "TRF-0001", "evidence": "bank receipt, confirmed by phone"})
        assert r.status_code == 409 and "retry is on its way" in r.json()["reason"]
        assert [s["action"] for s in fin.get(f"/payout-exceptions/{pid}").json()["steps"]] == ["retry"]


def test_reconciliation_reports_and_month_end(books, api_client):
    r = api_client.get(f"/settlements/{BATCH}/reconciliation")
    assert r.status_code == 200
    assert r.json()["totals"] == {"lines_fen": 13200, "paid_fen": 12000, "held_fen": 0, "exceptions_fen": 1200,
                                  "payable_fen": 0, "balanced": True}
    xlsx = api_client.get(f"/settlements/{BATCH}/report.xlsx")
    assert xlsx.status_code == 200
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert "failures by reason" in wb.sheetnames
    assert api_client.get(f"/settlements/{BATCH}/report.csv").text.count("account_closed") == 2
    assert api_client.get("/settlements/settlement-nope-202601/report.csv").status_code == 404
    month = api_client.get(f"/finance/month-end/{MONTH}").json()
    assert month["carriers"][0]["exceptions_fen"] == 1200 and month["carriers"][0]["balanced"] is True
    assert api_client.get(f"/finance/month-end/{MONTH}.csv").status_code == 200
    sheet = load_workbook(io.BytesIO(api_client.get(f"/finance/month-end/{MONTH}.xlsx").content))["carriers"]
    assert any(row[0] == "exceptions (fen)" and row[1] == 1200 for row in sheet.iter_rows(values_only=True))
    assert api_client.get("/finance/month-end/2026-10").status_code == 422

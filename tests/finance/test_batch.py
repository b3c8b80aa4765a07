"""A carrier batch on the time-skipping server, for real: one agent's payout refused by the bank never stops the
others, the carrier's audit differs from our figures and the differences are listed by cause, the totals
reconcile to the fen, and the refused payout is retried with new bank details without anyone paid twice."""

import io
import json

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from core.exports import report_csv, report_xlsx
from core.settings import get_settings
from db.finance import PayoutException, ReconciliationLine
from db.orders import AgentStatement, CommissionLineRecord
from services.finance import payouts, processes, reconciliation, reports
from services.finance.payouts import PayoutExceptionClosed
from tests.finance.harness import CARRIER, MONTH, agent, database, order, seed, world
from workflows.finance import contract as finance
from workflows.finance.contract import PayoutRetryOutcome

BATCH = f"settlement-{CARRIER}-{MONTH}"
def agents():
    return [agent("A1"), agent("A2", parent="A1"), agent("A3"), agent("A4", suspended=True)]



ORDERS = [order("O1", "A2"), order("O2", "A3"), order("O3", "A4"), order("O4", "A1"), order("O5", "A2"),
          order("O6", "A1")]
AUDIT = [("O1", True, 12000, None),  # as expected
         ("O2", True, 12000, None),  # A3: the bank refuses its payout
         ("O3", True, 12000, None),  # A4 is suspended: held
         ("O4", True, 10000, None),  # the carrier's rate changed
         ("O5", False, 0, "policy_change"),  # rejected
         ("O-STRANGER", True, 9000, None)]  # an order we never had; O6 is absent from the audit


@pytest.fixture
def engine(tmp_path):
    engine = database(tmp_path)
    seed(engine, agents(), ORDERS)
    yield engine
    engine.dispose()


@pytest.fixture
def paid_figure():
    settings = get_settings()
    before = dict(settings.finance_paid_figure)
    yield settings.finance_paid_figure
    settings.finance_paid_figure.clear()
    settings.finance_paid_figure.update(before)


async def test_one_refused_payout_never_stops_the_others_and_is_retried_without_paying_twice(own_time_env, engine):
    async with world(own_time_env.client, engine) as w:
        (await w.sim.post("/sim/behaviour", json={"payout_bad_accounts": {"A3": "account_closed"}})).raise_for_status()
        await w.audit(AUDIT)
        await w.start_orders(ORDERS)
        summary = await w.run_batch()

        # the batch closed: everyone it could pay is paid, A3's payout is an exception, A4's commission held
        assert summary.exceptions == 1 and summary.exceptions_fen == 12000
        assert summary.paid_fen == 12000 + 1200 + 10000  # A2's order, A1's override on it, A1's own order
        bank = await w.payouts()
        assert sorted(p["agent_id"] for p in bank.values()) == ["A1", "A2"]
        with Session(engine) as s:
            exc = s.exec(select(PayoutException)).one()
            assert (exc.agent_id, exc.state, exc.cause, exc.reason) == ("A3", "open", "rejected", "account_closed")
            t = reconciliation.batch_totals(s, BATCH, CARRIER)
            assert (t.lines_fen, t.paid_fen, t.held_fen, t.exceptions_fen, t.payable_fen) == (47200, 23200, 12000, 12000, 0)
            assert t.balanced
            statements = {st.agent_id: st for st in s.exec(select(AgentStatement))}
            assert sum(st.amount_fen for st in statements.values()) == t.lines_fen
            assert sum(st.paid_fen for st in statements.values()) == t.paid_fen == summary.paid_fen

        # finance retries with the account on file: refused again, still open, nothing paid
        out = await _retry(w, exc.id, "")
        assert out.state == "open" and out.reason == "account_closed"
        # then with the agent's new bank details: paid, once
        out = await _retry(w, exc.id, "6222020200112233445")
        assert out.state == "paid" and out.reference
        with Session(engine) as s:
            with pytest.raises(PayoutExceptionClosed):  # a manual payment now would pay twice
                payouts.record_manual_payment(s, exc.id, "fin-1", "TRF-0001", "bank transfer receipt 0001 (test)")
            with pytest.raises(PayoutExceptionClosed):
                payouts.retry(s, exc.id, "fin-1", "")
            again = payouts.get_exception(s, exc.id)
            assert [st.action for st in again.steps] == ["raised", "retry", "refused_again", "retry", "paid"]
            assert again.exception.attempts == 3
        # the retry's activity run once more (a worker that died before recording): the bank answers with the
        # first payout, nothing is recorded twice
        replay = finance.PayoutRetryInput(payout_id=exc.id, attempt=3, actor="fin-1", agent_id="A3", amount_fen=12000)
        assert (await w.finance.retry_payout(replay)).state == "paid"
        bank = await w.payouts()
        assert [p["agent_id"] for p in bank.values()].count("A3") == 1 and len(bank) == 3
        with Session(engine) as s:
            st = s.get(AgentStatement, f"{BATCH}-A3")
            assert st.paid_fen == 12000
            t = reconciliation.batch_totals(s, BATCH, CARRIER)
            assert (t.paid_fen, t.held_fen, t.exceptions_fen) == (35200, 12000, 0) and t.balanced


async def _retry(w, payout_id: str, account: str) -> PayoutRetryOutcome:
    with Session(w.engine) as s:
        inp = payouts.retry(s, payout_id, "fin-1", account)
    await processes.start_retry(w.client, inp)
    handle = w.client.get_workflow_handle(finance.payout_retry_workflow_id(payout_id, inp.attempt),
                                          result_type=PayoutRetryOutcome)
    return await handle.result()


async def test_an_audit_that_differs_from_our_figures_is_listed_by_cause_and_paid_by_policy(own_time_env, engine,
                                                                                          paid_figure):
    paid_figure[CARRIER] = "audited"
    async with world(own_time_env.client, engine) as w:
        await w.audit(AUDIT)
        await w.start_orders(ORDERS)
        await w.run_batch()
    with Session(engine) as s:
        diffs = {d.order_id: d for d in s.exec(select(ReconciliationLine))}
        assert {o: (d.cause, d.expected_fen, d.audited_fen, d.paid_fen, d.difference_fen) for o, d in diffs.items()} == {
            "O4": ("rate_change", 12000, 10000, 10000, -2000),
            "O5": ("rejected", 12000, 0, 0, -12000),
            "O6": ("partial_audit", 12000, 0, 0, -12000),
            "O-STRANGER": ("unknown_order", 0, 9000, 0, 9000),
        }
        lines = {(ln.order_id, ln.role): ln.amount_fen for ln in s.exec(select(CommissionLineRecord))}
        assert lines[("O4", "agent")] == 10000  # the carrier's figure, under the "audited" policy
        figs = reconciliation.figures(s, CARRIER, MONTH)
        expected = sum(f.expected_fen for f, _ in figs if f.known)
        audited = sum(f.audited_fen or 0 for f, _ in figs if f.approved)
        assert (expected, audited) == (72000, 55000)
        assert audited - expected == sum(d.difference_fen for d in diffs.values())  # to the fen
        t = reconciliation.batch_totals(s, BATCH, CARRIER)
        assert t.balanced and t.lines_fen == 12000 + 1200 + 12000 + 12000 + 10000


async def test_the_lower_figure_policy_pays_the_product_figure_when_the_carrier_audits_more(own_time_env, engine,
                                                                                          paid_figure):
    paid_figure[CARRIER] = "lower"
    async with world(own_time_env.client, engine) as w:
        await w.audit([("O1", True, 15000, None), ("O4", True, 10000, None)])
        await w.start_orders([ORDERS[0], ORDERS[3]])
        await w.run_batch()
    with Session(engine) as s:
        lines = {(ln.order_id, ln.role): ln.amount_fen for ln in s.exec(select(CommissionLineRecord))}
        assert lines == {("O1", "agent"): 12000, ("O1", "parent_override"): 1200, ("O4", "agent"): 10000}
        d = {x.order_id: (x.cause, x.paid_fen) for x in s.exec(select(ReconciliationLine))}
        assert d["O1"] == ("rate_change", 12000) and d["O4"] == ("rate_change", 10000)


async def test_the_batch_and_statement_exports_open_with_numbers_that_sum_to_the_subtotals(own_time_env, engine):
    async with world(own_time_env.client, engine) as w:
        (await w.sim.post("/sim/behaviour", json={"payout_bad_accounts": {"A3": "account_closed"}})).raise_for_status()
        await w.audit(AUDIT)
        await w.start_orders(ORDERS)
        await w.run_batch()
    with Session(engine) as s:
        batch = report_xlsx(reports.batch_report(s, BATCH))
        statement = report_xlsx(reports.statement_report(s, "A1", MONTH))
        held = report_xlsx(reports.statement_report(s, "A4", MONTH))
        batch_csv = report_csv(reports.batch_report(s, BATCH)).decode("utf-8-sig")
    wb = load_workbook(io.BytesIO(batch))
    assert wb.sheetnames == ["orders", "statements", "differences", "payout exceptions", "failures by reason"]
    head = _header(wb["statements"])
    assert head["carrier"] == "China Mobile" and head["month"] == MONTH and head["generated at"]
    rows = _table(wb["statements"])
    for col in ("paid", "held", "exceptions", "commission"):
        fen = sum(r[f"{col}_fen"] for r in rows)
        assert all(isinstance(r[f"{col}_fen"], int) for r in rows)
        assert fen == head[f"{col} (fen)"]
        assert round(sum(r[f"{col}_yuan"] for r in rows), 2) == round(fen / 100, 2) == head[f"{col} (yuan)"]
    assert head["commission (fen)"] == head["paid (fen)"] + head["held (fen)"] + head["exceptions (fen)"] + head["payable (fen)"]
    assert head["balanced"] == "yes"
    failures = {(r["kind"], r["reason"]): r for r in _table(wb["failures by reason"])}
    assert failures[("order failed", "policy_change")]["count"] == 1
    assert failures[("order failed", "carrier_system_error")]["count"] == 1  # O6, absent from the audit
    assert failures[("payout exception", "account_closed")]["amount_fen"] == 12000
    assert sum(r["paid_fen"] for r in _table(wb["orders"])) == head["commission (fen)"]
    assert "[failures by reason]" in batch_csv and "commission (fen),47200" in batch_csv

    a1 = load_workbook(io.BytesIO(statement))
    head = _header(a1["commission lines"])
    lines = _table(a1["commission lines"])
    assert head["agent"] == "A1" and sum(r["amount_fen"] for r in lines) == head["commission (fen)"] == 11200
    assert round(sum(r["amount_yuan"] for r in lines), 2) == 112.0
    # the suspended agent's commission shows as held in its statement (agent accounts 3.2)
    a4 = load_workbook(io.BytesIO(held))
    head = _header(a4["commission lines"])
    assert head["held (fen)"] == 12000 and head["paid (fen)"] == 0 and head["agent status"] == "suspended"
    assert [r["state"] for r in _table(a4["commission lines"])] == ["held"]


def _header(ws) -> dict:
    out = {}
    for label, value, *_ in ws.iter_rows(values_only=True):
        if label is None:
            break
        out[label] = value
    return out


def _table(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] is None) + 1
    columns = rows[start]
    return [dict(zip(columns, r, strict=False)) for r in rows[start + 1:]]


def test_line_ids_of_an_exception_are_its_payout_id():
    from activities.orders.settlement import payout_id_of
    assert payout_id_of("s-1", [3, 1, 2]) == payout_id_of("s-1", [1, 2, 3]) != payout_id_of("s-1", [1, 2])
    assert json.loads(json.dumps([1, 2])) == [1, 2]

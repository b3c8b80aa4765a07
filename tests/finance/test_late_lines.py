"""An order that settles after its month's batch has closed is not forgotten: its commission line joins the next
batch's statement of its agent and is paid with it, once; a line whose own batch is still running waits for it."""

from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.orders.settlement import SettlementActivities
from db.orders import AgentStatement, BatchStatus, CommissionLineRecord, LineStatus, SettlementBatch
from services.finance import reconciliation
from tests.finance.harness import CARRIER, MONTH, agent, database, seed, world
from workflows.orders.contract import BatchRef, settlement_workflow_id

COLLECTING_MONTH, NEXT_MONTH = "202611", "202612"


def _line(order_id: str, month: str, fen: int) -> CommissionLineRecord:
    return CommissionLineRecord(order_id=order_id, agent_id="A1", role="agent", carrier=CARRIER, month=month,
                                amount_fen=fen)


async def test_a_line_settled_after_its_batch_closed_is_paid_with_the_next_batch(own_time_env, tmp_path):
    engine = database(tmp_path)
    seed(engine, [agent("A1")], [])
    with Session(engine) as s:
        s.add(SettlementBatch(id=settlement_workflow_id(CARRIER, MONTH), carrier=CARRIER, month=MONTH,
                              status=BatchStatus.CLOSED))
        s.add(SettlementBatch(id=settlement_workflow_id(CARRIER, COLLECTING_MONTH), carrier=CARRIER,
                              month=COLLECTING_MONTH, status=BatchStatus.COLLECTING))
        s.add(SettlementBatch(id=settlement_workflow_id(CARRIER, NEXT_MONTH), carrier=CARRIER, month=NEXT_MONTH))
        s.add(_line("O-LATE", MONTH, 12000))  # settled after the batch of its month closed
        s.add(_line("O-WAITING", COLLECTING_MONTH, 7000))  # its own batch is still collecting
        s.add(_line("O-NOW", NEXT_MONTH, 5000))
        s.commit()
    ref = BatchRef(carrier=CARRIER, month=NEXT_MONTH)
    try:
        async with world(own_time_env.client, engine) as w:
            acts = SettlementActivities(engine, own_time_env.client, w.gateway)
            assert acts.build_statements(ref) == 1
            paid = await ActivityEnvironment().run(acts.pay_agents, ref)
            assert paid == 12000 + 5000
            again = await ActivityEnvironment().run(acts.pay_agents, ref)
            assert again == 0  # nobody is paid twice
            payouts = await w.payouts()

        with Session(engine) as s:
            statement = s.get(AgentStatement, f"{ref.batch_id}-A1")
            assert statement is not None and statement.amount_fen == 17000 and statement.paid_fen == 17000
            lines = {ln.order_id: ln for ln in s.exec(select(CommissionLineRecord)).all()}
            assert lines["O-LATE"].statement_id == statement.id and lines["O-LATE"].status == LineStatus.PAID
            assert lines["O-WAITING"].statement_id is None and lines["O-WAITING"].status == LineStatus.PAYABLE
            totals = reconciliation.batch_totals(s, ref.batch_id, CARRIER)
            assert totals.lines_fen == totals.paid_fen == 17000
        assert sum(p["amount_fen"] for p in payouts.values()) == 17000
    finally:
        engine.dispose()

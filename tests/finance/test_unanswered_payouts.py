"""A payout the bank never answers: the step is tried again (the others paid once), and at the last attempt the
unanswered payout becomes an exception with cause `unavailable`, so the batch closes."""

import dataclasses

import pytest
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.orders.settlement import SettlementActivities
from core.http import PeerUnavailable
from db.finance import PayoutException
from db.orders import AgentStatement, CommissionLineRecord, LineStatus
from domain.finance.payouts import UNAVAILABLE_ATTEMPTS
from tests.finance.harness import CARRIER, MONTH, agent, database, seed
from workflows.orders.contract import BatchRef

BATCH = f"settlement-{CARRIER}-{MONTH}"


class SilentForA2:
    def __init__(self) -> None:
        self.paid: list[str] = []

    async def payout(self, payout_id: str, agent_id: str, amount_fen: int, account: str = "") -> dict:
        if agent_id == "A2":
            raise PeerUnavailable("POST /payouts: timed out")
        self.paid.append(payout_id)
        return {"payout_id": payout_id, "status": "paid", "reference": f"PAY-{len(self.paid)}"}


@pytest.fixture
def engine(tmp_path):
    engine = database(tmp_path)
    seed(engine, [agent("A1"), agent("A2")], [])
    with Session(engine) as s:
        for a, fen in (("A1", 12000), ("A2", 8000)):
            s.add(AgentStatement(id=f"{BATCH}-{a}", batch_id=BATCH, agent_id=a, carrier=CARRIER, month=MONTH,
                                 amount_fen=fen))
            s.add(CommissionLineRecord(order_id=f"O-{a}", agent_id=a, role="agent", carrier=CARRIER, month=MONTH,
                                       amount_fen=fen, statement_id=f"{BATCH}-{a}"))
        s.commit()
    yield engine
    engine.dispose()


async def test_an_unanswered_payout_becomes_an_exception_at_the_last_attempt(engine):
    bank = SilentForA2()
    acts = SettlementActivities(engine, client=None, gateway=bank)  # type: ignore[arg-type]
    env = ActivityEnvironment()
    ref = BatchRef(carrier=CARRIER, month=MONTH)
    with pytest.raises(ApplicationError, match="did not answer 1 payouts"):
        await env.run(acts.pay_agents, ref)  # attempt 1: A1 paid, A2 unanswered, the step again
    env.info = dataclasses.replace(env.info, attempt=UNAVAILABLE_ATTEMPTS)
    assert await env.run(acts.pay_agents, ref) == 0  # A1 is paid already: nothing paid twice
    assert len(bank.paid) == 1
    with Session(engine) as s:
        exc = s.exec(select(PayoutException)).one()
        assert (exc.agent_id, exc.cause, exc.reason, exc.state) == ("A2", "unavailable", "bank_unavailable", "open")
        assert {ln.agent_id: ln.status for ln in s.exec(select(CommissionLineRecord))} == {
            "A1": LineStatus.PAID, "A2": LineStatus.PAYABLE}
    assert await env.run(acts.pay_agents, ref) == 0  # a later payout leaves the exception's lines to finance
    assert len(bank.paid) == 1

"""Invoices on the time-skipping server, mailed for real over SMTP to a local sink: requested, issued (the PDF
attached), re-issued (the old one voided, a new number), and refused with its reason. The mail server is down
when the first mail goes out: the workflow tries again until it takes it."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from db.agents import Agent
from db.orders import AgentStatement, BatchStatus, SettlementBatch
from scripts.stack import free_port
from services.finance import invoices, processes
from services.finance.invoices import InvoiceExists, InvoiceNotInState, StatementNotSettled
from simulators import mail_sink
from tests.finance.harness import CARRIER, MONTH, database, world
from workflows.finance import contract as finance

STATEMENT = f"settlement-{CARRIER}-{MONTH}-A1"
OTHER = f"settlement-{CARRIER}-{MONTH}-A2"
OPEN_BATCH_STATEMENT = f"settlement-china_unicom-{MONTH}-A1"


@pytest.fixture
def engine(tmp_path):
    engine = database(tmp_path)
    with Session(engine) as s:
        s.add(Agent(id="A1", name="Shenzhen Hub", email="a1@agents.test"))
        s.add(Agent(id="A2", name="Futian Store", email="a2@agents.test"))
        s.add(SettlementBatch(id=f"settlement-{CARRIER}-{MONTH}", carrier=CARRIER, month=MONTH,
                              status=BatchStatus.CLOSED, closed_at=datetime.now(UTC)))
        s.add(SettlementBatch(id=f"settlement-china_unicom-{MONTH}", carrier="china_unicom", month=MONTH))
        for sid, agent, fen in ((STATEMENT, "A1", 13205), (OTHER, "A2", 12000), (OPEN_BATCH_STATEMENT, "A1", 8000)):
            batch = sid.rsplit("-", 1)[0]
            s.add(AgentStatement(id=sid, batch_id=batch, agent_id=agent, carrier=batch.split("-")[1], month=MONTH,
                                 amount_fen=fen, paid_fen=fen))
        s.commit()
    yield engine
    engine.dispose()


async def _mailed(w, inv) -> str:
    await processes.start_mail(w.client, invoices.mail_input(inv))
    return await w.client.get_workflow_handle(finance.invoice_mail_workflow_id(inv.id), result_type=str).result()


async def _until(predicate, what: str, attempts: int = 200):
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def test_an_invoice_requested_issued_reissued_and_refused(own_time_env, engine):
    port = free_port()
    async with world(own_time_env.client, engine, smtp_port=port) as w:
        with Session(engine) as s:
            inv = invoices.request_invoice(s, STATEMENT, "深圳市枢纽通信有限公司", "91440300MA5ABCDE1X", "agent-a1", "A1")
            assert (inv.state, inv.amount_fen, inv.number) == ("requested", 13205, None)
            with pytest.raises(InvoiceExists):  # one invoice per statement
                invoices.request_invoice(s, STATEMENT, "Another title", "91440300MA5ABCDE1X", "agent-a1", "A1")
            with pytest.raises(StatementNotSettled):  # its batch has not closed
                invoices.request_invoice(s, OPEN_BATCH_STATEMENT, "Shenzhen Hub", "91440300MA5ABCDE1X", "agent-a1", "A1")
            issued, _ = invoices.issue(s, inv.id, 600, "fin-1")
        assert issued.state == "issued" and issued.number.startswith("SB") and issued.tax_fen == 747  # 13205*6/106
        assert issued.email == "a1@agents.test"

        # the mail server is down when the invoice goes out: the workflow keeps trying
        mail = asyncio.create_task(_mailed(w, issued))

        def not_sent_yet() -> bool:
            with Session(engine) as s:
                return invoices.get_invoice(s, issued.id).mail_status.startswith("not sent yet")

        await _until(not_sent_yet, "a first attempt that found the mail server down")
        controller, sink = mail_sink.start(port)
        try:
            assert await asyncio.wait_for(mail, 60) == "sent"
            [msg] = sink.messages
            assert msg["To"] == "a1@agents.test" and issued.number in msg["Subject"]
            [pdf] = list(msg.iter_attachments())
            assert pdf.get_content_type() == "application/pdf" and pdf.get_content().startswith(b"%PDF")
            assert f"Invoice {issued.number}".encode() in pdf.get_content()
            assert await _mailed(w, issued) == "sent" and len(sink.messages) == 1  # asked again: not sent twice

            # re-issued with a corrected title: the old one void, a new number, the new PDF mailed
            with Session(engine) as s:
                new, _ = invoices.reissue(s, issued.id, "buyer's name corrected", 600, "fin-1", "深圳市枢纽通信股份有限公司", None)
                old = invoices.get_invoice(s, issued.id)
                assert (old.state, old.replaced_by_id, old.void_reason) == ("voided", new.id, "buyer's name corrected")
                assert new.state == "issued" and new.number != old.number and new.replaces_id == old.id
                assert new.amount_fen == old.amount_fen and new.title == "深圳市枢纽通信股份有限公司"
                with pytest.raises(InvoiceNotInState):
                    invoices.reissue(s, old.id, "twice", 600, "fin-1", None, None)
            assert await _mailed(w, new) == "sent"
            assert f"replaces invoice {old.number}" in sink.messages[-1].get_body().get_content()

            # another agent's request refused with a reason; the statement is free to be asked for again
            with Session(engine) as s:
                asked = invoices.request_invoice(s, OTHER, "Futian Store", "91440300MA5FUTIAN9", "agent-a2", "A2")
                refused, _ = invoices.refuse(s, asked.id, "the tax number does not match the business licence", "fin-1")
                assert refused.state == "refused" and refused.number is None
            assert await _mailed(w, refused) == "sent"
            body = sink.messages[-1].get_body().get_content()
            assert sink.messages[-1]["To"] == "a2@agents.test" and "does not match the business licence" in body
            with Session(engine) as s:
                again = invoices.request_invoice(s, OTHER, "Futian Store", "91440300MA5FUTIAN8", "agent-a2", "A2")
                assert again.state == "requested"
        finally:
            controller.stop()


def test_an_agent_asks_only_for_its_own_statement(tmp_path, engine):
    from core.errors import Forbidden

    with Session(engine) as s, pytest.raises(Forbidden):
        invoices.request_invoice(s, OTHER, "Not mine", "91440300MA5ABCDE1X", "agent-a1", "A1")

"""Record finance's workflow histories for the replay tests: `python -m tests.histories.record_finance`.

The settlement batch with finance's reconciliation step (patch `finance-reconciliation`), a payout retry the bank
pays, one it never answers (back to finance), and an invoice mail the server took at the second attempt. Keep old
files when a workflow version ships: every recorded history must replay against the current code.
"""

import asyncio
import uuid

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from tests.histories.record import settlement_fakes, write_histories
from tests.temporal_env import start_time_skipping
from workflows.finance import contract as finance
from workflows.finance.contract import (
    InvoiceMailInput,
    PayoutRetryInput,
    PayoutRetryOutcome,
    ReconcileOutcome,
    ReconcileRequest,
)
from workflows.finance.invoice import InvoiceMailWorkflow
from workflows.finance.payout import PayoutRetryWorkflow
from workflows.orders.contract import SettlementInput
from workflows.orders.settlement import CarrierSettlementWorkflow


def finance_fakes():
    @activity.defn(name=finance.RECONCILE_BATCH)
    async def reconcile(req: ReconcileRequest) -> ReconcileOutcome:
        return ReconcileOutcome(expected_fen=72000, audited_fen=55000, differences=4,
                                by_cause={"rate_change": 1, "rejected": 1, "partial_audit": 1, "unknown_order": 1})

    @activity.defn(name=finance.RETRY_PAYOUT)
    async def retry(inp: PayoutRetryInput) -> PayoutRetryOutcome:
        if inp.agent_id == "A-silent":
            raise ApplicationError("the bank did not answer", type="PayoutUnavailable")
        return PayoutRetryOutcome(state="paid", reference="PAY-1234")

    @activity.defn(name=finance.RETRY_UNANSWERED)
    async def unanswered(inp: PayoutRetryInput) -> PayoutRetryOutcome:
        return PayoutRetryOutcome(state="open", reason="bank_unavailable")

    @activity.defn(name=finance.SEND_INVOICE_MAIL)
    async def mail(inp: InvoiceMailInput) -> str:
        if activity.info().attempt == 1:
            raise ApplicationError("ConnectionRefusedError: [Errno 111]", type="MailUnavailable")
        return "sent"

    return [reconcile, retry, unanswered, mail]


def finance_worker(client) -> Worker:
    """Finance's queue with its fakes: every recorder whose settlement batch reaches the reconciliation needs it."""
    return Worker(client, task_queue=finance.TASK_QUEUE, workflows=[PayoutRetryWorkflow, InvoiceMailWorkflow],
                  activities=finance_fakes())


async def histories(env) -> dict[str, object]:
    tq = f"rec-finance-{uuid.uuid4().hex[:6]}"
    out: dict[str, object] = {}
    async with Worker(env.client, task_queue=tq, workflows=[CarrierSettlementWorkflow], activities=settlement_fakes()), \
            finance_worker(env.client):
        h = await env.client.start_workflow(CarrierSettlementWorkflow.run,
                                            SettlementInput(carrier="china_mobile", month="202610"),
                                            id=f"settlement-china_mobile-202610-{uuid.uuid4().hex[:4]}", task_queue=tq)
        await h.result()
        out["settlement_batch"] = (await h.fetch_history()).to_json_dict()

        for name, agent in (("payout_retry_paid", "A3"), ("payout_retry_unanswered", "A-silent")):
            inp = PayoutRetryInput(payout_id=f"settlement-china_mobile-202610-{agent}-abc", attempt=2, actor="fin-1",
                                   agent_id=agent, amount_fen=12000)
            h = await env.client.start_workflow(PayoutRetryWorkflow.run, inp, task_queue=finance.TASK_QUEUE,
                                                id=f"{finance.payout_retry_workflow_id(inp.payout_id, 2)}-{uuid.uuid4().hex[:4]}")
            await h.result()
            out[name] = (await h.fetch_history()).to_json_dict()

        h = await env.client.start_workflow(InvoiceMailWorkflow.run, InvoiceMailInput(invoice_id=1, agent_id="A1",
                                                                                    state="issued"),
                                            id=f"invoice-mail-1-{uuid.uuid4().hex[:4]}", task_queue=finance.TASK_QUEUE)
        await h.result()
        out["invoice_mail_retried"] = (await h.fetch_history()).to_json_dict()
    return out


async def record() -> None:
    env = await start_time_skipping()
    try:
        out = await histories(env)
    finally:
        await env.shutdown()
    write_histories({"settlement_batch": out.pop("settlement_batch")}, "v4")
    write_histories(out, "v1")


if __name__ == "__main__":
    asyncio.run(record())

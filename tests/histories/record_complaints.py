"""Record complaint-desk histories for the replay tests: `python -m tests.histories.record_complaints` (the first
set), `python -m tests.histories.record_complaints credit-failures-and-notices` (refused credits retried and
cancelled, a notice repeated then acknowledged: new files beside the old ones).

Keep old files when a workflow version ships: every recorded history must replay against the current
code (a behaviour change goes behind `workflow.patched`).
"""

import asyncio
import sys
import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.worker import Worker

from domain.complaints.complaint import Customer, Department, SurveyAnswer
from tests.complaints.world import ComplaintWorld, new_case, start
from tests.histories.record import write_histories
from tests.temporal_env import start_time_skipping
from workflows.complaints import contract
from workflows.complaints.complaint import CalendarCheckWorkflow, ComplaintWorkflow
from workflows.complaints.contract import (
    AcceptanceRequest,
    CreditFailure,
    CreditResolved,
    DeliverNotice,
    DepartmentAction,
    EscalateRequest,
    FeeReturnCredit,
    LevelCorrection,
    NoticeDelivered,
    NoticeDelivery,
    RecomputeDue,
    ReplyRequest,
    SurveyReply,
    TransferRequest,
)
from workflows.complaints.fee_return import FeeReturnCreditWorkflow
from workflows.complaints.notice import NoticeDeliveryWorkflow

REPLY = dict(findings="double charge found", handling="returned 2 x 5.00", reply_to_customer="we returned 10.00")


async def histories(env) -> dict[str, object]:
    """Each scenario's history as the server keeps it (payloads as stored: encrypted)."""
    world = ComplaintWorld()
    out: dict[str, object] = {}
    async with world.worker(env.client):
        now = await env.get_current_time()
        # transferred, replied, accepted, survey answered "dissatisfied", reopened, replied again, silence
        case = new_case(now)
        h = await start(env.client, world, case)
        await h.execute_update(ComplaintWorkflow.transfer, TransferRequest(department=Department.COMPLAINT_DESK,
                                                                          actor="wang", to=Department.BILLING))
        await h.execute_update(ComplaintWorkflow.accept, DepartmentAction(department=Department.BILLING, actor="zhao"))
        await h.execute_update(ComplaintWorkflow.reply, ReplyRequest(department=Department.BILLING, actor="zhao", **REPLY))
        await h.execute_update(ComplaintWorkflow.customer_acceptance, AcceptanceRequest(accepted=True, actor="wang"))
        await env.sleep(timedelta(hours=10))
        v = await h.query(ComplaintWorkflow.view)
        await h.execute_update(ComplaintWorkflow.survey_answer, SurveyReply(
            message_id="m1", answer=SurveyAnswer.DISSATISFIED, received_at=v.case.survey_sent_at + timedelta(minutes=5)))
        await h.execute_update(ComplaintWorkflow.accept, DepartmentAction(department=Department.BILLING, actor="zhao"))
        await h.execute_update(ComplaintWorkflow.reply, ReplyRequest(department=Department.BILLING, actor="zhao", **REPLY))
        await env.sleep(timedelta(days=8))
        await h.result()
        out["complaint_reopened_then_silent"] = (await h.fetch_history()).to_json_dict()

        # VIP found late, overdue with daily notices, escalated, recompute signal, then replied and accepted
        case = new_case(now)
        h = await start(env.client, world, case)
        await h.execute_update(ComplaintWorkflow.correct_level, LevelCorrection(actor="ops", reason="VIP",
                                                                               customer=Customer.VIP))
        await env.sleep(timedelta(days=3))
        await h.execute_update(ComplaintWorkflow.escalate, EscalateRequest(actor="ops", reason="press"))
        await h.signal(ComplaintWorkflow.recompute_due, RecomputeDue(reason="schedule loaded"))
        await h.execute_update(ComplaintWorkflow.accept, DepartmentAction(department=Department.COMPLAINT_DESK, actor="li"))
        await h.execute_update(ComplaintWorkflow.reply, ReplyRequest(department=Department.COMPLAINT_DESK, actor="li", **REPLY))
        await h.execute_update(ComplaintWorkflow.customer_acceptance, AcceptanceRequest(accepted=True, actor="li"))
        await env.sleep(timedelta(hours=10))
        v = await h.query(ComplaintWorkflow.view)
        await h.execute_update(ComplaintWorkflow.survey_answer, SurveyReply(
            message_id="m2", answer=SurveyAnswer.SATISFIED, received_at=v.case.survey_sent_at + timedelta(minutes=5)))
        await h.result()
        out["complaint_overdue_escalated"] = (await h.fetch_history()).to_json_dict()

        # the daily working-day calendar check its Schedule starts
        h = await env.client.start_workflow(CalendarCheckWorkflow.run, id=f"calendar-check-{uuid.uuid4().hex[:6]}",
                                            task_queue=world.tq)
        await h.result()
        out["calendar_check"] = (await h.fetch_history()).to_json_dict()

    @activity.defn(name=contract.CREDIT_FEE_RETURN)
    async def credit(inp: FeeReturnCredit) -> str:
        return f"B-{inp.fee_return_id}"

    @activity.defn(name=contract.SMS_FEE_RETURN_CREDITED)
    async def sms(inp: FeeReturnCredit) -> None:
        return None

    tq = f"rec-{uuid.uuid4().hex[:6]}"
    async with Worker(env.client, task_queue=tq, workflows=[FeeReturnCreditWorkflow], activities=[credit, sms]):
        h = await env.client.start_workflow(FeeReturnCreditWorkflow.run,
                                            FeeReturnCredit(fee_return_id="FR1", complaint_id="C1", amount_fen=2000),
                                            id=f"fee-return-FR1-{uuid.uuid4().hex[:4]}", task_queue=tq)
        await env.sleep(timedelta(hours=10))
        await h.result()
        out["fee_return_credit"] = (await h.fetch_history()).to_json_dict()
    return out


async def record() -> None:
    env = await start_time_skipping()
    try:
        write_histories(await histories(env), "v2")  # v2: every payload encrypted (core.crypto); v1 recorded in clear, kept
    finally:
        await env.shutdown()


async def credit_failures_and_notices(env) -> dict[str, object]:
    """Refused credits retried and cancelled, a notice repeated then acknowledged (payloads as stored: encrypted)."""
    out: dict[str, object] = {}
    refuse = {"on": True}

    @activity.defn(name=contract.CREDIT_FEE_RETURN)
    async def credit(inp: FeeReturnCredit) -> str:
        from temporalio.exceptions import ApplicationError
        if refuse["on"]:
            raise ApplicationError("billing refused: number suspended", type="CreditRejected", non_retryable=True)
        return f"B-{inp.fee_return_id}"

    @activity.defn(name=contract.SMS_FEE_RETURN_CREDITED)
    async def sms(inp: FeeReturnCredit) -> None:
        return None

    @activity.defn(name=contract.RECORD_CREDIT_FAILURE)
    async def failed(inp: CreditFailure) -> None:
        return None

    @activity.defn(name=contract.RECORD_CREDIT_RESOLUTION)
    async def resolved(inp: CreditResolved) -> None:
        refuse["on"] = False

    @activity.defn(name=contract.DELIVER_NOTICE)
    async def deliver(inp: DeliverNotice) -> NoticeDelivered:
        return NoticeDelivered(summary="billing (addressee): webhook ok")

    tq = f"rec-{uuid.uuid4().hex[:6]}"
    async with Worker(env.client, task_queue=tq, workflows=[FeeReturnCreditWorkflow, NoticeDeliveryWorkflow],
                      activities=[credit, sms, failed, resolved, deliver]):
        for name, resolution in (("fee_return_credit_refused_retried", "retry"), ("fee_return_credit_refused_cancelled", "cancel")):
            refuse["on"] = True
            h = await env.client.start_workflow(FeeReturnCreditWorkflow.run,
                                                FeeReturnCredit(fee_return_id="FR2", complaint_id="C2", amount_fen=1200),
                                                id=f"fee-return-FR2-{uuid.uuid4().hex[:4]}", task_queue=tq)
            while "waiting for an operator" not in await h.query(FeeReturnCreditWorkflow.progress):
                await asyncio.sleep(0.05)
            await h.signal(FeeReturnCreditWorkflow.resolve_credit, CreditResolved(resolution=resolution, actor="ops", reason="r"))
            await env.sleep(timedelta(hours=10))
            await h.result()
            out[name] = (await h.fetch_history()).to_json_dict()
        h = await env.client.start_workflow(NoticeDeliveryWorkflow.run, NoticeDelivery(notice_id=1, complaint_id="C3",
                                                                                       kind="supervision"),
                                            id=f"complaint-notice-{uuid.uuid4().hex[:4]}", task_queue=tq)
        await env.sleep(timedelta(hours=25))
        await h.signal(NoticeDeliveryWorkflow.acknowledged, "billing-lead")
        await h.result()
        out["complaint_notice_repeated_then_acknowledged"] = (await h.fetch_history()).to_json_dict()
    return out


async def record_credit_failures_and_notices() -> None:
    env = await start_time_skipping()
    try:
        # v2: every payload encrypted (core.crypto); v1 recorded in clear, kept
        write_histories(await credit_failures_and_notices(env), "v2")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record_credit_failures_and_notices() if sys.argv[1:] == ["credit-failures-and-notices"] else record())

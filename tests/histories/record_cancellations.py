"""Record account-cancellation histories for the replay tests: `python -m tests.histories.record_cancellations`.

Keep old files when a workflow version ships: every recorded history must replay against the current code (a
behaviour change goes behind `workflow.patched`).
"""

import asyncio
from datetime import date, datetime, time, timedelta

from domain.cancellations import (
    AccountFacts,
    ClearVia,
    ContractFact,
    DeviceFact,
    FollowUpOutcome,
    ValueAddedFact,
)
from domain.clock import SHANGHAI
from tests.cancellations.world import CancellationWorld, new_case, start
from tests.histories.record import write_histories
from tests.temporal_env import start_time_skipping
from workflows.cancellations.cancellation import CancellationWorkflow
from workflows.cancellations.contract import (
    AppointmentRequest,
    ClearRequest,
    DocumentsRequest,
    FollowUpRequest,
    WithdrawRequest,
)


async def _until(h, predicate, attempts: int = 400):
    """The workflow's own word, asked until it says what the next step needs (its activities run meanwhile)."""
    for _ in range(attempts):
        v = await h.query(CancellationWorkflow.view)
        if predicate(v):
            return v
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached; last {v.case.state}")


async def histories(env) -> dict[str, object]:
    """Each scenario's history as the server keeps it (payloads as stored: encrypted)."""
    world = CancellationWorld()
    out: dict[str, object] = {}
    async with world.worker(env.client):
        now = await env.get_current_time()
        # contract + device + a service; cleared by the carrier and by evidence; the re-check finds a renewed
        # service; appointment reminder; confirmed, 72 h cooling-off, cancelled, follow-up with a problem
        local = now.astimezone(SHANGHAI)
        contract = ContractFact(contract_id="K1", name="128 plan with phone", subsidy_fen=120_000, term_months=24,
                                ends_on=date(local.year + 1, local.month, 1))
        first = AccountFacts(contracts=[contract], devices=[DeviceFact(device_id="IMEI-1", name="contract phone")],
                             value_added=[ValueAddedFact(service_id="V1", name="video member", monthly_fee_fen=99)])
        case = new_case(now, documents_checked=False)
        h = await start(env.client, world, case, answers=[
            first, AccountFacts(value_added=[ValueAddedFact(service_id="V9", name="music", monthly_fee_fen=500)]),
            AccountFacts()])
        appointment = datetime.combine(local.date() + timedelta(days=6), time(9, 30), tzinfo=SHANGHAI)
        await h.execute_update(CancellationWorkflow.book_appointment, AppointmentRequest(
            actor="self_service:app", at=appointment, hall="Xuhui service hall"))
        await _until(h, lambda v: v.case.state.value == "todo")
        for item, via, evidence in (("contract:K1", ClearVia.CARRIER, ""), ("device:IMEI-1", ClearVia.EVIDENCE, "IMEI-1 back"),
                                    ("value_added:V1", ClearVia.CARRIER, "")):
            await h.execute_update(CancellationWorkflow.clear_item, ClearRequest(
                actor="clerk-wang", item_id=item, via=via, evidence=evidence))
        await _until(h, lambda v: v.case.prechecks == 2)
        await h.execute_update(CancellationWorkflow.clear_item, ClearRequest(
            actor="clerk-wang", item_id="value_added:V9", via=ClearVia.CARRIER))
        await env.sleep(timedelta(days=6))  # the reminder goes 3 days before the appointment
        await h.execute_update(CancellationWorkflow.review_documents, DocumentsRequest(actor="clerk-zhao", note="ID seen"))
        await h.execute_update(CancellationWorkflow.confirm, DocumentsRequest(actor="clerk-zhao"))
        await env.sleep(timedelta(hours=72 + 49))
        await h.execute_update(CancellationWorkflow.record_follow_up, FollowUpRequest(
            actor="clerk-li", outcome=FollowUpOutcome.REACHED_PROBLEM, note="last bill"))
        await h.result()
        out["cancellation_cleared_rechecked_cancelled"] = (await h.fetch_history()).to_json_dict()

        # eligible at once, confirmed, withdrawn at hour 71
        case = new_case(await env.get_current_time())
        h = await start(env.client, world, case)
        await _until(h, lambda v: v.case.state.value == "ready")
        await h.execute_update(CancellationWorkflow.confirm, DocumentsRequest(actor="clerk-wang"))
        await env.sleep(timedelta(hours=71))
        await h.execute_update(CancellationWorkflow.withdraw, WithdrawRequest(actor="self_service:app", reason="kept"))
        await h.result()
        out["cancellation_withdrawn_in_cooling_off"] = (await h.fetch_history()).to_json_dict()
    return out


async def record() -> None:
    env = await start_time_skipping()
    try:
        write_histories(await histories(env), "v2")  # v2: every payload encrypted (core.crypto); v1 recorded in clear, kept
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())

"""A carrier's monthly settlement batch (workflow id `settlement-<carrier>-<yyyymm>`).

Collect the carrier's audit page by page (it may be late, and arrive in pieces), settle or fail each
order it names, fail the orders it never names, build each agent's statement, pay, close. The rows
stay out of this history (each page is one activity), and the loop continues as new well before
the history grows large, so a batch of any size keeps a bounded history.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.clock import previous_month, shanghai_text
    from domain.orders.carriers import carrier_name
    from workflows.finance import contract as finance
    from workflows.orders import contract
    from workflows.orders.contract import AuditPageOutcome, AuditPageRequest, BatchRef, BatchSummary, SettlementInput

AUDIT_NOT_READY_RETRY = timedelta(hours=6)
PAGES_PER_RUN = 200
ORDERS_SETTLE_WITHIN = timedelta(days=1)
DB = dict(start_to_close_timeout=timedelta(minutes=2), retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)))
# Audit pages and payouts heartbeat (per step, per statement): a worker that died mid-page is noticed in two
# minutes, not at the five-minute limit. A change of timeouts is not a change of commands: histories replay.
CARRIER = dict(start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=timedelta(minutes=2),
               retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)))


@workflow.defn(name=contract.SETTLEMENT_WORKFLOW)
class CarrierSettlementWorkflow:
    def __init__(self) -> None:
        self._progress = "opening"

    @workflow.run
    async def run(self, inp: SettlementInput) -> BatchSummary:
        ref = BatchRef(carrier=inp.carrier, month=inp.month)
        workflow.upsert_search_attributes([contract.CARRIER.value_set(inp.carrier), contract.SETTLEMENT_MONTH.value_set(inp.month)])
        if inp.pages_applied == 0 and inp.page_token is None:
            await workflow.execute_activity(contract.OPEN_BATCH, ref, **DB)

        token, pages, settled, failed = inp.page_token, inp.pages_applied, inp.settled, inp.failed
        pages_this_run = 0
        while True:
            self._set_progress(f"collecting audit: {pages} pages, {settled} settled, {failed} failed")
            page = await workflow.execute_activity(
                contract.SETTLE_AUDIT_PAGE,
                AuditPageRequest(carrier=inp.carrier, month=inp.month, page_token=token),
                result_type=AuditPageOutcome,
                summary=f"audit page {pages + 1} of {carrier_name(inp.carrier)} for {inp.month}",
                **CARRIER,
            )
            if not page.ready:
                self._set_progress(f"waiting for the carrier's audit of {inp.month} (asks again every 6 h)")
                await workflow.sleep(AUDIT_NOT_READY_RETRY, summary=f"ask {carrier_name(inp.carrier)} for the audit "
                                     f"again at {shanghai_text(workflow.now() + AUDIT_NOT_READY_RETRY)}")
                continue
            pages, pages_this_run = pages + 1, pages_this_run + 1
            settled, failed, token = settled + page.settled, failed + page.failed, page.next_page_token
            if token is None:
                break
            if pages_this_run >= PAGES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(SettlementInput(carrier=inp.carrier, month=inp.month, page_token=token,
                                                         pages_applied=pages, settled=settled, failed=failed))

        self._set_progress("failing orders absent from the audit")
        unaudited = await workflow.execute_activity(contract.FAIL_UNAUDITED_ORDERS, ref, result_type=int, **CARRIER)
        self._set_progress("waiting for audited orders to settle")
        try:
            await workflow.execute_activity(
                contract.WAIT_FOR_AUDITED_ORDERS, ref, start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=ORDERS_SETTLE_WITHIN,
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.5,
                                         maximum_interval=timedelta(minutes=2)),
            )
        except ActivityError:
            workflow.logger.warning("some audited orders had not settled in time; their lines join a later payout")
        if workflow.patched("finance-reconciliation"):
            # Finance reconciles the carrier's audit with our figures (differences by cause), on its own queue
            self._set_progress("reconciling the carrier's audit with our figures")
            await workflow.execute_activity(
                finance.RECONCILE_BATCH, finance.ReconcileRequest(carrier=inp.carrier, month=inp.month),
                result_type=finance.ReconcileOutcome, task_queue=finance.TASK_QUEUE,
                summary=finance.reconcile_summary(inp.carrier, inp.month), **DB)
        self._set_progress("building agent statements")
        statements = await workflow.execute_activity(contract.BUILD_STATEMENTS, ref, result_type=int, **DB)
        self._set_progress("paying agents")
        paid = await workflow.execute_activity(contract.PAY_AGENTS, ref, result_type=int, **CARRIER)
        closed = await workflow.execute_activity(contract.CLOSE_BATCH, ref, result_type=dict, **DB)
        exceptions = closed.get("exceptions", 0)
        self._set_progress(f"closed: {settled} settled, {failed + unaudited} failed, paid {paid} fen"
                           + (f", {exceptions} payout exceptions for finance" if exceptions else ""))
        return BatchSummary(batch_id=ref.batch_id, pages=pages, settled=settled, failed=failed + unaudited,
                            unaudited=unaudited, statements=statements, paid_fen=paid, held_fen=closed["held_fen"],
                            exceptions=exceptions, exceptions_fen=closed.get("exceptions_fen", 0))

    @workflow.query(name=contract.PROGRESS)
    def progress(self) -> str:
        return self._progress

    def _set_progress(self, text: str) -> None:
        if text != self._progress:
            self._progress = text
            workflow.upsert_memo({"summary": text})
            workflow.set_current_details(text)  # the Web UI's current details; no history event


@workflow.defn(name=contract.KICKOFF_WORKFLOW)
class SettlementKickoffWorkflow:
    """Started by each carrier's monthly Schedule: opens last month's batch under its business id.

    Schedules append a timestamp to the ids of the workflows they start; this hop gives the batch
    its own `settlement-<carrier>-<yyyymm>` id, and a second start for the same month is refused.
    """

    @workflow.run
    async def run(self, carrier: str) -> str:
        month = previous_month(workflow.now())
        batch_id = contract.settlement_workflow_id(carrier, month)
        try:
            await workflow.start_child_workflow(
                CarrierSettlementWorkflow.run,
                SettlementInput(carrier=carrier, month=month),
                id=batch_id,
                static_summary=contract.settlement_summary(carrier, month),
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("batch already started", extra={"batch_id": batch_id})
        return batch_id

"""The order's side of number suspension cases: start the case workflow (agents business) for a suspension, and
tell open cases that the number is restored or the order has ended. Both are safe to retry: a case is started
once per id, and a case that has already closed needs no news."""

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.agents import contract as agents
from workflows.agents.contract import CaseNews, CaseStart, suspension_case_workflow_id
from workflows.orders import contract

log = structlog.get_logger()


class SuspensionCaseActivities:
    def __init__(self, client: Client) -> None:
        self.client = client

    @activity.defn(name=contract.OPEN_SUSPENSION_CASE)
    async def open_suspension_case(self, start: CaseStart) -> str:
        wf_id = suspension_case_workflow_id(start.order_id, start.n)
        try:
            await self.client.start_workflow(
                agents.SUSPENSION_CASE_WORKFLOW, start, id=wf_id, task_queue=agents.TASK_QUEUE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:  # opened and already closed: a retry opens nothing twice
            pass
        log.info("suspension case opened", order_id=start.order_id, case=wf_id, kind=start.mode)
        return wf_id

    @activity.defn(name=contract.TELL_SUSPENSION_CASES)
    async def tell_suspension_cases(self, news: CaseNews) -> None:
        for wf_id in news.workflow_ids:
            handle = self.client.get_workflow_handle(wf_id)
            try:
                if news.restored is not None:
                    await handle.signal(agents.CASE_RESTORED, news.restored)
                if news.decided is not None:
                    await handle.signal(agents.CASE_ORDER_DECIDED, news.decided)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                log.info("suspension case already closed", case=wf_id)

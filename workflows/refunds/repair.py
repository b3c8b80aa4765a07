"""The refunds' repair pass (workflow `refund-repair`, started by its Schedule): refunds stored (their amount
reserved) without a running workflow get it started (services/refunds.py repair_refunds)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.refunds import contract


@workflow.defn(name=contract.REPAIR_WORKFLOW)
class RefundRepairWorkflow:
    @workflow.run
    async def run(self) -> dict:
        return await workflow.execute_activity(
            contract.REPAIR_REFUNDS, result_type=dict, start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=3))

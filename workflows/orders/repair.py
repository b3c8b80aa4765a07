"""The orders' repair pass (workflow `order-repair`, started by its Schedule): orders stored without a running
workflow, and accepted carrier events never signalled, get their step finished (services/orders/repair.py)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.orders import contract


@workflow.defn(name=contract.REPAIR_WORKFLOW)
class OrderRepairWorkflow:
    @workflow.run
    async def run(self) -> dict:
        return await workflow.execute_activity(
            contract.REPAIR_ORDERS, result_type=dict, start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=3))

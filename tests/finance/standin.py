"""A stand-in for the order workflow in the batch tests: the batch signals it the carrier's verdict, and it
records the order's outcome through the real `record_order_progress` activity (which writes the commission lines
with the paid-figure policy), as the real order workflow does at the end of its two months."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.orders.order import Action, AuditResult, OrderStatus, Verdict
    from workflows.orders import contract
    from workflows.orders.contract import OrderProgress


@workflow.defn(name=contract.ORDER_WORKFLOW)
class StandInOrder:
    def __init__(self) -> None:
        self._audit: AuditResult | None = None

    @workflow.signal(name=contract.AUDIT_RESULT)
    def audit_result(self, result: AuditResult) -> None:
        self._audit = result

    @workflow.run
    async def run(self, order: dict) -> str:
        await workflow.wait_condition(lambda: self._audit is not None)
        audit = self._audit
        assert audit is not None
        if audit.approved:
            verdict = Verdict(status=OrderStatus.SETTLED, action=Action.DONE, settlement_month=audit.month)
        else:
            verdict = Verdict(status=OrderStatus.FAILED, action=Action.DONE, settlement_month=audit.month,
                              failure_reason=audit.reason, failure_detail=audit.detail)
        await workflow.execute_activity(
            contract.RECORD_ORDER_PROGRESS,
            OrderProgress(order_id=order["order_id"], verdict=verdict, agent_id=order["agent_id"],
                          carrier=order["carrier"], commission_fen=order["commission_fen"] if audit.approved else None,
                          parent_override_bp=order["override_bp"]),
            start_to_close_timeout=timedelta(seconds=30))
        return verdict.status.value

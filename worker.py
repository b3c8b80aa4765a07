"""The worker: registers every workflow and activity. `python worker.py` serves the orders task queue."""

import argparse
import asyncio
from concurrent.futures import ThreadPoolExecutor

import structlog
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from core import logs
from activities.orders.carrier import CarrierActivities
from activities.complaints.complaint import ComplaintActivities
from activities.complaints.fee_return import FeeReturnActivities
from activities.orders.order import OrderActivities
from activities.refunds import RefundActivities
from activities.orders.settlement import SettlementActivities
from core.db import get_engine
from gateways.billing import BillingGateway, billing_gateway_from_settings
from gateways.carrier import CarrierGateway
from gateways.sms import SmsGateway, sms_gateway_from_settings
from gateways.payment_channel import PaymentChannelGateway
from core.temporal import connect
from core.settings import get_settings
from workflows.complaints.complaint import CalendarCheckWorkflow, ComplaintWorkflow
from workflows.complaints.fee_return import FeeReturnCreditWorkflow
from workflows.orders.order import OrderSettlementWorkflow
from workflows.refunds.refund import RefundWorkflow
from workflows.refunds.sweep import RefundSweepWorkflow
from workflows.orders.settlement import CarrierSettlementWorkflow, SettlementKickoffWorkflow

# Pure, deterministic modules (and the libraries they use) are loaded once, not re-imported into each
# workflow's sandbox: that re-import is most of a workflow start's CPU.
PASSTHROUGH = ("pydantic", "pydantic_core", "annotated_types", "domain", "workflows.orders.contract", "activities.names",
               "workflows.complaints.contract", "activities.complaint_names", "chinese_calendar",
               "workflows.refunds.contract", "activities.refund_names")

WORKFLOWS = [OrderSettlementWorkflow, CarrierSettlementWorkflow, SettlementKickoffWorkflow,
             ComplaintWorkflow, CalendarCheckWorkflow, FeeReturnCreditWorkflow, RefundWorkflow, RefundSweepWorkflow]


def build_worker(client: Client, engine: Engine, gateway: CarrierGateway, task_queue: str | None = None,
                 executor: ThreadPoolExecutor | None = None, sms: SmsGateway | None = None,
                 billing: BillingGateway | None = None, channels: PaymentChannelGateway | None = None) -> Worker:
    sms = sms or sms_gateway_from_settings(get_settings())
    complaints = ComplaintActivities(engine, sms)
    fee_returns = FeeReturnActivities(engine, billing or billing_gateway_from_settings(get_settings()), sms)
    orders = OrderActivities(engine)
    refunds = RefundActivities(engine, channels or PaymentChannelGateway.from_settings(get_settings()), client=client)
    carrier = CarrierActivities(gateway)
    settlement = SettlementActivities(engine, client, gateway)
    return Worker(
        client,
        task_queue=task_queue or get_settings().task_queue,
        workflows=WORKFLOWS,
        activities=[
            orders.record_order_progress,
            orders.open_rescue_task,
            orders.remind_rescue,
            orders.resolve_rescue,
            carrier.ask_in_network,
            settlement.open_batch,
            settlement.settle_audit_page,
            settlement.fail_unaudited_orders,
            settlement.wait_for_audited_orders,
            settlement.build_statements,
            settlement.pay_agents,
            settlement.close_batch,
            complaints.record_complaint,
            complaints.compute_due,
            complaints.send_customer_sms,
            complaints.notify_department,
            complaints.check_calendar,
            fee_returns.credit,
            fee_returns.sms_credited,
            refunds.record_refund_progress,
            refunds.record_refund_serial,
            refunds.translate_channel_code,
            refunds.send_refund,
            refunds.query_refund,
            refunds.notify_merchant,
            refunds.sweep_processing_refunds,
        ],
        activity_executor=executor or ThreadPoolExecutor(max_workers=64),
        workflow_runner=SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)),
        # Every open order is a cached workflow; an evicted one is replayed from its whole history on its next
        # event, so the cache holds all of them (a few KB each) rather than the SDK's default 1000.
        max_cached_workflows=get_settings().max_cached_workflows,
        max_concurrent_activities=64,
        max_concurrent_local_activities=64,
    )


def default_gateway() -> CarrierGateway:
    s = get_settings()
    return CarrierGateway(s.carrier_base_url, s.carrier_api_secret, payout_base_url=s.payout_base_url)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task-queue", default=None)
    args = parser.parse_args()
    s = get_settings()
    logs.configure(json=s.log_json)
    client = await connect()
    worker = build_worker(client, get_engine(), default_gateway(), args.task_queue)
    structlog.get_logger().info("worker started", task_queue=args.task_queue or s.task_queue,
                                temporal=s.temporal_address)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())

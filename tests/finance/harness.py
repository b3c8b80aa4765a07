"""A carrier batch run for real on the time-skipping server: the settlement batch workflow with its real
activities and finance's, against a migrated SQLite database and the carrier simulator (carriers and payout bank,
in process over HTTP). Order workflows are stand-ins (tests/finance/standin.py) that record their outcome
through the real activity, so commission lines are written as in production."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.worker import Worker

from activities.finance import FinanceActivities
from activities.orders.order import OrderActivities
from activities.orders.settlement import SettlementActivities
from core.db import make_engine
from core.settings import get_settings
from db.agents import Agent, AgentStatus
from db.orders import Order, Product
from gateways.carrier import CarrierGateway
from gateways.mail import SmtpMailer
from scripts.demo.order_stories import scenario
from scripts.stack import free_port
from simulators.carrier import create_app
from tests.finance.standin import StandInOrder
from tests.fixtures_db import migrate
from workflows.finance import contract as finance
from workflows.finance.invoice import InvoiceMailWorkflow
from workflows.finance.payout import PayoutRetryWorkflow
from workflows.orders import contract as orders
from workflows.orders.contract import BatchSummary, SettlementInput
from workflows.orders.settlement import CarrierSettlementWorkflow

CARRIER = "china_mobile"
MONTH = "202610"
PRODUCT = Product(id="cm-39", carrier=CARRIER, name="China Mobile 39", activation_window_days=15,
                  recharge_window_days=30, min_first_recharge_fen=5000, commission_fen=12000, parent_override_bp=1000)




def database(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'finance.db'}")
    migrate(engine)
    return engine


def seed(engine: Engine, agents: list[Agent], orders_: list[dict]) -> None:
    with Session(engine) as s:
        s.add(Product.model_validate(PRODUCT.model_dump()))
        for a in agents:
            s.add(a)
            s.flush()
        for o in orders_:
            s.add(Order(id=o["order_id"], idempotency_key=f"k-{o['order_id']}", agent_id=o["agent_id"],
                        product_id=PRODUCT.id, carrier=CARRIER, msisdn_masked="138****0000",
                        msisdn_fingerprint=o["order_id"], placed_at=datetime(2026, 8, 1, tzinfo=UTC),
                        status="awaiting_audit", settlement_month=MONTH))
        s.commit()


def agent(agent_id: str, parent: str | None = None, suspended: bool = False, email: str = "") -> Agent:
    return Agent(id=agent_id, name=f"Agent {agent_id}", parent_id=parent, email=email or f"{agent_id.lower()}@agents.test",
                 status=AgentStatus.SUSPENDED if suspended else AgentStatus.ACTIVE)


def order(order_id: str, agent_id: str) -> dict:
    return {"order_id": order_id, "agent_id": agent_id, "carrier": CARRIER, "commission_fen": PRODUCT.commission_fen,
            "override_bp": PRODUCT.parent_override_bp}


@dataclass
class World:
    engine: Engine
    client: Client
    sim: httpx.AsyncClient  # the simulator's admin doors (/sim/...)
    gateway: CarrierGateway
    finance: FinanceActivities

    async def audit(self, lines: list[tuple[str, bool, int, str | None]]) -> None:
        """The carrier's audit of MONTH: (order id, approved, commission, reason) per line."""
        for oid, approved, fen, reason in lines:
            r = await self.sim.post("/sim/scenarios", json=scenario(oid, CARRIER, "13800000000", [], audit_month=MONTH,
                                                                    approved=approved, commission_fen=fen, reason=reason))
            r.raise_for_status()

    async def start_orders(self, orders_: list[dict]) -> None:
        for o in orders_:
            await self.client.start_workflow(StandInOrder.run, o, id=orders.order_workflow_id(o["order_id"]),
                                             task_queue=orders.TASK_QUEUE)

    async def run_batch(self) -> BatchSummary:
        return await self.client.execute_workflow(
            CarrierSettlementWorkflow.run, SettlementInput(carrier=CARRIER, month=MONTH),
            id=f"{orders.settlement_workflow_id(CARRIER, MONTH)}-{uuid.uuid4().hex[:4]}", task_queue=orders.TASK_QUEUE,
            result_type=BatchSummary)

    async def payouts(self) -> dict:
        return (await self.sim.get("/sim/payouts")).json()


@asynccontextmanager
async def world(client: Client, engine: Engine, smtp_port: int = 0):
    app = create_app(settings=get_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http, \
            httpx.AsyncClient(transport=transport, base_url="http://sim") as admin:
        gateway = CarrierGateway("http://sim", get_settings().carrier_api_secret, payout_base_url="http://sim",
                                 client=http)
        mailer = SmtpMailer("127.0.0.1", smtp_port or free_port(), "finance@simbo.test", timeout_s=5)
        fin = FinanceActivities(engine, gateway, mailer)
        settle = SettlementActivities(engine, client, gateway)
        executor = ThreadPoolExecutor(8)
        w_orders = Worker(client, task_queue=orders.TASK_QUEUE, workflows=[CarrierSettlementWorkflow, StandInOrder],
                          activities=[settle.open_batch, settle.settle_audit_page, settle.fail_unaudited_orders,
                                      settle.wait_for_audited_orders, settle.build_statements, settle.pay_agents,
                                      settle.close_batch, OrderActivities(engine).record_order_progress],
                          activity_executor=executor)
        w_finance = Worker(client, task_queue=finance.TASK_QUEUE, workflows=[PayoutRetryWorkflow, InvoiceMailWorkflow],
                           activities=[fin.reconcile_batch, fin.retry_payout, fin.retry_unanswered, fin.send_invoice_mail],
                           activity_executor=executor)
        async with w_orders, w_finance:
            yield World(engine, client, admin, gateway, fin)
        executor.shutdown(wait=False)

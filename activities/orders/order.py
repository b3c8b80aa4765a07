"""Order-side effects: the projection the API lists, and delivery rescue tasks for agents."""

from datetime import UTC, datetime

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity

from core.settings import get_settings
from db.agents import Agent, AgentStatus
from db.orders import AuditRow, CommissionLineRecord, LineStatus, Order, RescueTask
from domain.finance.reconciliation import paid_figure, policy_for
from domain.orders.commission import commission_lines
from domain.orders.order import OrderStatus
from services.orders import stock
from workflows.orders import contract
from workflows.orders.contract import OrderProgress, RescueRequest

log = structlog.get_logger()


class OrderActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=contract.RECORD_ORDER_PROGRESS)
    def record_order_progress(self, progress: OrderProgress) -> None:
        v = progress.verdict
        values = dict(
            status=v.status.value,
            waiting_for=v.waiting_for,
            until=v.until,
            failure_reason=v.failure_reason.value if v.failure_reason else None,
            failure_detail=v.failure_detail,
            first_month=v.first_month,
            settlement_month=v.settlement_month,
            check_point=v.check_point,
            updated_at=datetime.now(UTC),
        )
        if progress.commission_fen is not None:
            values["commission_fen"] = progress.commission_fen
        with Session(self.engine) as s:
            s.exec(update(Order).where(Order.id == progress.order_id).values(**values))
            if v.status == OrderStatus.SETTLED and progress.commission_fen is not None:
                self._write_commission_lines(s, progress)
            # the number release hook: keyed on the status alone, so every ending that frees a number (whichever
            # part of the process produced it) sends it to quarantine or back to the pool in this same transaction
            stock.release(s, progress.order_id, v.status.value, values["failure_reason"], values["updated_at"])
            s.commit()
        log.info("order progress", order_id=progress.order_id, status=v.status.value,
                 failure_reason=values["failure_reason"])

    def _write_commission_lines(self, s: Session, progress: OrderProgress) -> None:
        """The one place commission lines are written: when an order settles. Held while an agent is suspended."""
        existing = set(s.exec(select(CommissionLineRecord.role).where(CommissionLineRecord.order_id == progress.order_id)))
        agent = s.get(Agent, progress.agent_id)
        parent_id = agent.parent_id if agent else None
        month = progress.verdict.settlement_month or ""
        # Which figure is paid, the product's or the carrier's audited one, is finance's policy per carrier
        # (domain/finance/reconciliation.py); the override share follows the figure paid.
        audited = s.exec(select(AuditRow.commission_fen).where(
            AuditRow.carrier == progress.carrier, AuditRow.month == month,
            AuditRow.order_id == progress.order_id)).first()
        figure = paid_figure(policy_for(progress.carrier, get_settings().finance_paid_figure),
                             progress.commission_fen or 0, audited)
        for line in commission_lines(progress.order_id, progress.agent_id, parent_id, figure,
                                     progress.parent_override_bp):
            if line.role.value in existing:
                continue  # a retried activity
            beneficiary = s.get(Agent, line.agent_id)
            held = beneficiary is not None and beneficiary.status == AgentStatus.SUSPENDED
            s.add(CommissionLineRecord(order_id=line.order_id, agent_id=line.agent_id, role=line.role.value,
                                       carrier=progress.carrier, month=month,
                                       amount_fen=line.amount_fen, status=LineStatus.HELD if held else LineStatus.PAYABLE))

    @activity.defn(name=contract.OPEN_RESCUE_TASK)
    def open_rescue_task(self, req: RescueRequest) -> None:
        with Session(self.engine) as s:
            if s.exec(select(RescueTask).where(RescueTask.exception_event_id == req.exception_event_id)).first():
                return  # retried activity: the task exists already
            s.add(RescueTask(order_id=req.order_id, agent_id=req.agent_id,
                             exception_event_id=req.exception_event_id, kind=req.kind))
            s.commit()
        log.info("rescue task opened: agent to contact the customer", order_id=req.order_id,
                 agent_id=req.agent_id, kind=req.kind)

    @activity.defn(name=contract.REMIND_RESCUE)
    def remind_rescue(self, order_id: str) -> int:
        now = datetime.now(UTC)
        with Session(self.engine) as s:
            tasks = s.exec(select(RescueTask).where(RescueTask.order_id == order_id,
                                                    RescueTask.resolved_at.is_(None))).all()  # type: ignore[union-attr]
            for t in tasks:
                t.reminders_sent += 1
                t.last_reminded_at = now
                s.add(t)
            s.commit()
        log.info("rescue reminder sent to agent", order_id=order_id, open_tasks=len(tasks))
        return len(tasks)

    @activity.defn(name=contract.RESOLVE_RESCUE)
    def resolve_rescue(self, order_id: str, resolution: str) -> None:
        now = datetime.now(UTC)
        with Session(self.engine) as s:
            s.exec(update(RescueTask).where(RescueTask.order_id == order_id, RescueTask.resolved_at.is_(None))
                   .values(resolved_at=now, resolution=resolution))
            s.commit()

"""Order-side effects: the projection the API lists (with each link's time for the tracking table), and delivery
rescue tasks for agents, whose opening and reminders reach the agent's inbox and webhook."""

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity

from activities.agents import deliver_notice
from core.settings import get_settings
from db.agents import Agent, AgentStatus
from db.orders import AuditRow, CommissionLineRecord, LineStatus, Order, RescueTask
from domain.finance.reconciliation import paid_figure, policy_for
from domain.orders import delivery
from domain.orders.commission import commission_lines
from domain.orders.order import ConditionState, OrderStatus
from gateways.agents import AgentWebhookGateway
from services.orders import stock
from workflows.agents.contract import Notice
from workflows.orders import contract
from workflows.orders.contract import OrderProgress, RescueReminder, RescueRequest

log = structlog.get_logger()

# The checklist's links (domain.orders.order.CONDITIONS, in order) and the order row's column for each one's time
LINK_COLUMNS = ("shipped_at", "signed_at", "activated_at", "recharged_at", "in_network_at")


class OrderActivities:
    def __init__(self, engine: Engine, webhooks: AgentWebhookGateway | None = None) -> None:
        self.engine = engine
        self.webhooks = webhooks

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
        for item, column in zip(v.checklist, LINK_COLUMNS, strict=False):
            if item.state == ConditionState.MET and item.at is not None:
                values[column] = item.at  # a met link keeps its time: never cleared by a later report
        if progress.tracking_no:
            values["tracking_no"] = progress.tracking_no
        if progress.carrier_accepted_at:
            values["carrier_accepted_at"] = progress.carrier_accepted_at
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
    async def open_rescue_task(self, req: RescueRequest) -> None:
        """The task row once per exception, then the agent is told (inbox and webhook, once by the task's key)."""
        def store() -> tuple[int, str]:
            with Session(self.engine) as s:
                task = s.exec(select(RescueTask).where(RescueTask.exception_event_id == req.exception_event_id)).first()
                if task is None:  # else a retried activity: the task exists already
                    order = s.get(Order, req.order_id)
                    task = RescueTask(order_id=req.order_id, agent_id=req.agent_id,
                                      exception_event_id=req.exception_event_id, kind=req.kind,
                                      msisdn_masked=req.msisdn_masked or (order.msisdn_masked if order else ""),
                                      give_up_at=req.give_up_at)
                    s.add(task)
                    s.commit()
                    s.refresh(task)
                return int(task.id), task.msisdn_masked  # type: ignore[arg-type]

        task_id, masked = await asyncio.to_thread(store)
        log.info("rescue task opened: agent to contact the customer", order_id=req.order_id,
                 agent_id=req.agent_id, kind=req.kind, task_id=task_id)
        text = (delivery.rescue_opened_notice(req.order_id, masked, req.kind, req.give_up_at) if req.give_up_at else
                f"Delivery exception on order {req.order_id} ({masked}): {req.kind.replace('_', ' ')}. Contact the "
                "customer and record each attempt.")
        await deliver_notice(self.engine, self.webhooks, Notice(key=f"rescue-{task_id}-opened", agent_id=req.agent_id,
                                                                kind="rescue_opened", text=text))

    @activity.defn(name=contract.REMIND_RESCUE)
    async def remind_rescue(self, order_id: str) -> int:
        """The reminder of runs before the delivery rescue (daily, no give-up): it now reaches the agent too. The
        activity's id names the reminder, so a retry neither counts nor tells twice."""
        info = activity.info()
        key = f"{info.workflow_run_id}-{info.activity_id}"

        def count() -> list[tuple[int, str, str, int, str]]:
            now = datetime.now(UTC)
            with Session(self.engine) as s:
                tasks = s.exec(select(RescueTask).where(RescueTask.order_id == order_id,
                                                        RescueTask.resolved_at.is_(None))).all()  # type: ignore[union-attr]
                out = []
                for t in tasks:
                    if t.last_reminder_key != key:
                        t.reminders_sent += 1
                        t.last_reminded_at, t.last_reminder_key = now, key
                        s.add(t)
                    out.append((int(t.id), t.agent_id, t.kind, t.reminders_sent, t.msisdn_masked))  # type: ignore[arg-type]
                s.commit()
                return out

        tasks = await asyncio.to_thread(count)
        for task_id, agent_id, kind, n, masked in tasks:
            text = (f"Reminder {n}: the delivery exception on order {order_id} ({masked or 'the card'}, "
                    f"{kind.replace('_', ' ')}) is still open: contact the customer.")
            await deliver_notice(self.engine, self.webhooks, Notice(key=f"rescue-{task_id}-reminder-{n}",
                                                                    agent_id=agent_id, kind="rescue_reminder", text=text))
        log.info("rescue reminder sent to agent", order_id=order_id, open_tasks=len(tasks))
        return len(tasks)

    @activity.defn(name=contract.REMIND_RESCUE_TASK)
    async def remind_rescue_task(self, r: RescueReminder) -> None:
        """The n-th reminder of one task: counted and told once by (task, n)."""
        def count() -> int | None:
            with Session(self.engine) as s:
                task = s.exec(select(RescueTask).where(RescueTask.exception_event_id == r.exception_event_id)).first()
                if task is None or task.resolved_at is not None:
                    return None
                if task.reminders_sent < r.n:
                    task.reminders_sent, task.last_reminded_at = r.n, datetime.now(UTC)
                    s.add(task)
                    s.commit()
                return int(task.id)  # type: ignore[arg-type]

        task_id = await asyncio.to_thread(count)
        if task_id is None:
            return  # closed meanwhile (the agent's close raced the timer): nothing to remind
        await deliver_notice(self.engine, self.webhooks, Notice(key=f"rescue-{task_id}-reminder-{r.n}",
                                                                agent_id=r.agent_id, kind="rescue_reminder", text=r.text))
        log.info("rescue reminder sent to agent", order_id=r.order_id, agent_id=r.agent_id, task_id=task_id, n=r.n)

    @activity.defn(name=contract.RESOLVE_RESCUE)
    def resolve_rescue(self, order_id: str, resolution: str) -> None:
        now = datetime.now(UTC)
        with Session(self.engine) as s:
            s.exec(update(RescueTask).where(RescueTask.order_id == order_id, RescueTask.resolved_at.is_(None))
                   .values(resolved_at=now, resolution=resolution))
            s.commit()

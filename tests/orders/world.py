"""Test doubles for the order workflow's activities, and helpers to script an order's life."""

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from core.crypto import fingerprint as msisdn_fingerprint
from domain.orders.order import InNetworkAnswer, OrderEvent, ProductTerms, Submission
from workflows.agents.contract import CaseNews, CaseStart, Notice, suspension_case_workflow_id
from workflows.orders import contract
from workflows.orders.contract import (
    DeliverySmsRequest,
    InNetworkRequest,
    OrderEvents,
    OrderInput,
    OrderProgress,
    OrderRefundRequest,
    RescueReminder,
    RescueRequest,
    StaleFlag,
    SubmitRequest,
)
from workflows.orders.order import OrderSettlementWorkflow
from workflows.orders.settlement import CarrierSettlementWorkflow, SettlementKickoffWorkflow

MSISDN = "13800138000"
TERMS = ProductTerms(
    product_id="cm-39",
    carrier="china_mobile",
    activation_window_days=15,
    recharge_window_days=30,
    min_first_recharge_fen=5000,
    commission_fen=12000,
    parent_override_bp=1000,
)


@dataclass
class FakeWorld:
    """What the workflow's activities would have done: progress rows, carrier answers, rescue tasks."""

    answers: dict[str, InNetworkAnswer] = field(default_factory=dict)
    progress: list[OrderProgress] = field(default_factory=list)
    rescue_opened: list[RescueRequest] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    resolved: list[tuple[str, str]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    cases_opened: list = field(default_factory=list)
    case_news: list = field(default_factory=list)
    # the delivery follow-up (workflows/orders/delivery.py): each with the workflow time it happened at
    sms: list[tuple[datetime, DeliverySmsRequest]] = field(default_factory=list)
    notices: list[tuple[datetime, Notice]] = field(default_factory=list)
    rescue_reminders: list[tuple[datetime, RescueReminder]] = field(default_factory=list)
    stale: list[tuple[datetime, StaleFlag]] = field(default_factory=list)
    submissions: dict[str, Submission] = field(default_factory=dict)  # order id -> the carrier's answer (default: accepted)
    submitted: list[str] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)  # order ids whose carrier does not answer the submission
    refunds: list[tuple[str, str, str | None]] = field(default_factory=list)

    def activities(self):
        @activity.defn(name=contract.RECORD_ORDER_PROGRESS)
        async def record(progress: OrderProgress) -> None:
            self.progress.append(progress)

        @activity.defn(name=contract.ASK_IN_NETWORK)
        async def ask(req: InNetworkRequest) -> InNetworkAnswer:
            self.asked.append(req.order_id)
            return self.answers.get(req.order_id) or InNetworkAnswer(in_network=True, asked_at=req.at)

        @activity.defn(name=contract.OPEN_RESCUE_TASK)
        async def open_rescue(req: RescueRequest) -> None:
            self.rescue_opened.append(req)

        @activity.defn(name=contract.REMIND_RESCUE)
        async def remind(order_id: str) -> int:
            self.reminders.append(order_id)
            return 1

        @activity.defn(name=contract.RESOLVE_RESCUE)
        async def resolve(order_id: str, resolution: str) -> None:
            self.resolved.append((order_id, resolution))

        @activity.defn(name=contract.OPEN_SUSPENSION_CASE)
        async def open_case(start: CaseStart) -> str:
            self.cases_opened.append(start)
            return suspension_case_workflow_id(start.order_id, start.n)

        @activity.defn(name=contract.TELL_SUSPENSION_CASES)
        async def tell_cases(news: CaseNews) -> None:
            self.case_news.append(news)

        @activity.defn(name=contract.SUBMIT_ORDER)
        async def submit(req: SubmitRequest) -> Submission:
            self.submitted.append(req.order_id)
            if req.order_id in self.unreachable:
                raise ApplicationError("the carrier's system does not answer", type="PeerUnavailable")
            return self.submissions.get(req.order_id) or Submission(
                accepted=True, at=datetime.now(UTC), carrier_order_no=f"CM-{req.order_id}")

        @activity.defn(name=contract.REFUND_ORDER)
        async def refund(req: OrderRefundRequest) -> str:
            self.refunds.append((req.order_id, req.status, req.failure_reason))
            return f"RF-{req.order_id}"

        def at() -> datetime:
            return activity.info().current_attempt_scheduled_time

        @activity.defn(name=contract.SEND_DELIVERY_SMS)
        async def sms(req: DeliverySmsRequest) -> str:
            self.sms.append((at(), req))
            return "sent"

        @activity.defn(name=contract.NOTIFY_AGENT_OF_ORDER)
        async def notify(notice: Notice) -> None:
            self.notices.append((at(), notice))

        @activity.defn(name=contract.REMIND_RESCUE_TASK)
        async def remind_task(r: RescueReminder) -> None:
            self.rescue_reminders.append((at(), r))

        @activity.defn(name=contract.RECORD_STALENESS)
        async def stale(flag: StaleFlag) -> None:
            self.stale.append((at(), flag))

        return [record, ask, open_rescue, remind, resolve, open_case, tell_cases, submit, refund, sms, notify,
                remind_task, stale]

    def worker(self, client: Client, task_queue: str, extra_activities=(), **options) -> Worker:
        return Worker(
            client,
            task_queue=task_queue,
            workflows=[OrderSettlementWorkflow, CarrierSettlementWorkflow, SettlementKickoffWorkflow],
            activities=[*self.activities(), *extra_activities],
            activity_executor=ThreadPoolExecutor(4),
            **options,
        )


def started_before(patch_id: str):
    """A worker option: workflows behave as if started before `patch_id` shipped (their old branch), as a running
    order that predates the patch does under today's code."""
    return {"patch_activation_callback": lambda i: i.patch_id != patch_id}


_ids = itertools.count(1)


def new_order(placed_at: datetime, terms: ProductTerms = TERMS) -> OrderInput:
    return OrderInput(
        order_id=f"T{next(_ids)}-{uuid.uuid4().hex[:6]}",
        agent_id="A1",
        carrier=terms.carrier,
        terms=terms,
        msisdn_masked="138****8000",
        msisdn_fingerprint=msisdn_fingerprint(MSISDN),
        placed_at=placed_at,
    )


class Script:
    """Builds an order's events with timestamps relative to a starting instant."""

    def __init__(self, order_id: str, start: datetime) -> None:
        self.order_id, self.start, self._n = order_id, start, 0

    def ev(self, kind: str, after: timedelta, **kw) -> OrderEvent:
        self._n += 1
        return OrderEvent(event_id=f"{self.order_id}-e{self._n}", order_id=self.order_id, kind=kind,
                          occurred_at=self.start + after, **kw)

    def push(self, *events: OrderEvent) -> OrderEvents:
        """Events as one carrier push brings them to the order: one signal."""
        return OrderEvents(events=list(events))

    def happy(self, recharge_fen: int = 5000) -> list[OrderEvent]:
        return [
            self.ev("shipped", timedelta(hours=1), tracking_no="SF100"),
            self.ev("delivery", timedelta(days=2), delivery_status="signed"),
            self.ev("activated", timedelta(days=3)),
            self.ev("recharged", timedelta(days=4), amount_fen=recharge_fen,
                    to_msisdn_fingerprint=msisdn_fingerprint(MSISDN)),
        ]

"""Test doubles for the complaint workflow's activities, and helpers to open a ticket."""

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from core.crypto import fingerprint as msisdn_fingerprint
from domain.complaints.complaint import (
    ComplaintFacts,
    ComplaintType,
    Customer,
    Department,
    DueDecision,
    Source,
    classify,
    due_time,
    open_case,
)
from domain.msisdn import mask_msisdn
from domain.workdays import WorkCalendar, next_year_check
from workflows.complaints import contract
from workflows.complaints.complaint import CalendarCheckWorkflow, ComplaintWorkflow
from workflows.complaints.contract import (
    CaseEvent,
    ComplaintRecord,
    ComplaintStart,
    DueRequest,
    NoticeRequest,
    SmsRequest,
    complaint_workflow_id,
)

MSISDN = "13912345678"


@dataclass
class ComplaintWorld:
    """What the activities would have done: projections, events, SMS, notices; the working-day calendar."""

    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    records: list[ComplaintRecord] = field(default_factory=list)
    events: dict[str, CaseEvent] = field(default_factory=dict)
    sms: list[SmsRequest] = field(default_factory=list)
    sms_at: list[datetime] = field(default_factory=list)
    notices: dict[str, NoticeRequest] = field(default_factory=dict)
    due_requests: list[DueRequest] = field(default_factory=list)
    sms_fails: bool = False
    tq: str = field(default_factory=lambda: f"complaints-{uuid.uuid4().hex[:8]}")
    handles: list = field(default_factory=list)

    async def terminate_open(self) -> None:
        """Open tickets left by a test keep timers on the shared time-skipping server, and a timer that fires
        for a task queue nobody polls any more stops the clock for the next test: end them."""
        for h in self.handles:
            try:
                await h.terminate(reason="test over")
            except Exception:  # noqa: BLE001 - already closed
                pass

    def activities(self):
        @activity.defn(name=contract.RECORD_COMPLAINT)
        async def record(rec: ComplaintRecord) -> None:
            self.records.append(rec)
            for e in rec.events:
                self.events.setdefault(e.key, e)

        @activity.defn(name=contract.COMPUTE_DUE)
        async def compute(req: DueRequest) -> DueDecision:
            self.due_requests.append(req)
            return due_time(req.level, req.repeat, req.start, self.calendar)

        @activity.defn(name=contract.SEND_CUSTOMER_SMS)
        async def sms(req: SmsRequest) -> str:
            if self.sms_fails:
                from temporalio.exceptions import ApplicationError
                raise ApplicationError("gateway refused", type="SmsRejected", non_retryable=True)
            self.sms.append(req)
            self.sms_at.append(activity.info().current_attempt_scheduled_time)
            return "sent"

        @activity.defn(name=contract.NOTIFY_DEPARTMENT)
        async def notify(req: NoticeRequest) -> None:
            self.notices.setdefault(req.key, req)

        @activity.defn(name=contract.CHECK_CALENDAR)
        async def check(today: date) -> list[str]:
            return next_year_check(today, self.calendar.loaded)

        return [record, compute, sms, notify, check]

    def worker(self, client: Client) -> Worker:
        return Worker(client, task_queue=self.tq, workflows=[ComplaintWorkflow, CalendarCheckWorkflow],
                      activities=self.activities(), activity_executor=ThreadPoolExecutor(4))

    def kinds(self, complaint_id: str) -> list[str]:
        evs = [e for e in self.events.values() if e.key.startswith(complaint_id + ":")]
        return [e.kind for e in sorted(evs, key=lambda e: int(e.key.rsplit(":", 1)[1]))]

    def notices_of(self, complaint_id: str, kind: str) -> list[NoticeRequest]:
        return [n for n in self.notices.values() if n.complaint_id == complaint_id and n.kind == kind]


_ids = itertools.count(1)


def new_case(received_at: datetime, source=Source.HOTLINE, customer=Customer.STANDARD, ctype=ComplaintType.BILLING,
             department=Department.COMPLAINT_DESK, repeat_of: str | None = None, calendar: WorkCalendar | None = None):
    facts = ComplaintFacts(complaint_id=f"C{next(_ids)}-{uuid.uuid4().hex[:6]}", msisdn_masked=mask_msisdn(MSISDN),
                           msisdn_fingerprint=msisdn_fingerprint(MSISDN), source=source, customer=customer,
                           ctype=ctype, receiving_department=department, received_at=received_at, repeat_of=repeat_of)
    level = classify(source, customer, ctype)
    due = due_time(level.level, repeat_of is not None, received_at, calendar or WorkCalendar())
    return open_case(facts, level, due)


async def start(client: Client, world: ComplaintWorld, case):
    handle = await client.start_workflow(ComplaintWorkflow.run, ComplaintStart(case=case),
                                         id=complaint_workflow_id(case.facts.complaint_id), task_queue=world.tq)
    world.handles.append(handle)
    return handle

"""Test doubles for the cancellation workflow's activities (a scripted carrier), and helpers to open a case."""

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from domain.cancellations import AccountFacts, Appointment, Channel, open_case
from domain.msisdn import mask_msisdn
from workflows.cancellations import contract
from workflows.cancellations.cancellation import CancellationWorkflow
from workflows.cancellations.contract import (
    CancelAtCarrier,
    CancellationRecord,
    CancellationStart,
    CarrierOutcome,
    ClearAtCarrier,
    FollowUpTask,
    PrecheckAnswer,
    PrecheckRequest,
    Quarantine,
    ReminderSms,
    cancellation_workflow_id,
)

MSISDN = "13812345678"


@dataclass
class CancellationWorld:
    """The carrier's scripted answers and what the activities would have done."""

    answers: dict[str, list[AccountFacts]] = field(default_factory=dict)  # per case: one per pre-check round
    clear_refused: dict[str, str] = field(default_factory=dict)  # item id -> the carrier's reason
    cancel_refused: str = ""
    records: list[CancellationRecord] = field(default_factory=list)
    prechecks: list[PrecheckRequest] = field(default_factory=list)
    cleared: list[ClearAtCarrier] = field(default_factory=list)
    cancelled: list[CancelAtCarrier] = field(default_factory=list)
    cancelled_at: list[datetime] = field(default_factory=list)
    sms: list[ReminderSms] = field(default_factory=list)
    sms_at: list[datetime] = field(default_factory=list)
    follow_ups: list[FollowUpTask] = field(default_factory=list)
    quarantined: list[Quarantine] = field(default_factory=list)
    tq: str = field(default_factory=lambda: f"cancellations-{uuid.uuid4().hex[:8]}")
    handles: list = field(default_factory=list)

    async def terminate_open(self) -> None:
        for h in self.handles:
            try:
                await h.terminate(reason="test over")
            except Exception:  # noqa: BLE001 - already closed
                pass

    def activities(self):
        @activity.defn(name=contract.RECORD_CANCELLATION)
        async def record(rec: CancellationRecord) -> None:
            self.records.append(rec)

        @activity.defn(name=contract.PRECHECK_AT_CARRIER)
        async def precheck(req: PrecheckRequest) -> PrecheckAnswer:
            self.prechecks.append(req)
            rounds = self.answers.get(req.cancellation_id) or [AccountFacts()]
            facts = rounds[min(req.round, len(rounds)) - 1]
            return PrecheckAnswer(facts=facts, asked_at=activity.info().current_attempt_scheduled_time)

        @activity.defn(name=contract.CLEAR_AT_CARRIER)
        async def clear(req: ClearAtCarrier) -> CarrierOutcome:
            if req.item_id in self.clear_refused:
                return CarrierOutcome(done=False, reason=self.clear_refused[req.item_id])
            self.cleared.append(req)
            return CarrierOutcome(done=True, reference=f"CLR-{req.item_id}")

        @activity.defn(name=contract.CANCEL_AT_CARRIER)
        async def cancel(req: CancelAtCarrier) -> CarrierOutcome:
            if self.cancel_refused:
                return CarrierOutcome(done=False, reason=self.cancel_refused)
            self.cancelled.append(req)
            self.cancelled_at.append(activity.info().current_attempt_scheduled_time)
            return CarrierOutcome(done=True, reference=f"CXL-{req.cancellation_id}")

        @activity.defn(name=contract.SEND_REMINDER_SMS)
        async def sms(req: ReminderSms) -> None:
            self.sms.append(req)
            self.sms_at.append(activity.info().current_attempt_scheduled_time)

        @activity.defn(name=contract.OPEN_FOLLOW_UP_TASK)
        async def follow_up(req: FollowUpTask) -> None:
            self.follow_ups.append(req)

        @activity.defn(name=contract.QUARANTINE_NUMBER)
        async def quarantine(req: Quarantine) -> None:
            self.quarantined.append(req)

        return [record, precheck, clear, cancel, sms, follow_up, quarantine]

    def worker(self, client: Client) -> Worker:
        return Worker(client, task_queue=self.tq, workflows=[CancellationWorkflow], activities=self.activities(),
                      activity_executor=ThreadPoolExecutor(4))

    def progress_of(self, cancellation_id: str) -> list:
        seen = {}
        for rec in self.records:
            if rec.case.cancellation_id == cancellation_id:
                for e in rec.progress:
                    seen.setdefault(e.seq, e)
        return [seen[k] for k in sorted(seen)]


_ids = itertools.count(1)


def new_case(at: datetime, documents_checked: bool = True, from_own_stock: bool = False,
             appointment: Appointment | None = None, channel: Channel = Channel.SERVICE_HALL):
    cid = f"X{next(_ids)}{uuid.uuid4().hex[:6]}"
    return open_case(cid, "china_mobile", mask_msisdn(MSISDN), channel, "clerk-wang", at,
                     from_own_stock=from_own_stock, documents_checked=documents_checked, appointment=appointment)


async def start(client: Client, world: CancellationWorld, case, answers: list[AccountFacts] | None = None):
    if answers is not None:
        world.answers[case.cancellation_id] = answers
    handle = await client.start_workflow(CancellationWorkflow.run, CancellationStart(case=case),
                                         id=cancellation_workflow_id(case.cancellation_id), task_queue=world.tq)
    world.handles.append(handle)
    return handle

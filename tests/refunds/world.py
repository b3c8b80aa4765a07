"""Test doubles for the refund workflow's activities: a scripted channel and recorders of what was written."""

import itertools
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from domain.refunds import ChannelAnswer, ChannelState, ErrorMapping, LoopLimits, translate
from workflows.refunds import contract
from workflows.refunds.contract import (
    NotifyRequest,
    QueryRequest,
    RefundInput,
    RefundProgress,
    SendRequest,
    SerialRecord,
    Translation,
)
from workflows.refunds.refund import RefundWorkflow

Script = Callable[[SendRequest | QueryRequest], ChannelAnswer]


def ok(req, amount: int = 10_000) -> ChannelAnswer:
    return ChannelAnswer(state=ChannelState.SUCCESS, serial=req.serial, channel_serial="CH1", amount_fen=amount)


def processing(req) -> ChannelAnswer:
    return ChannelAnswer(state=ChannelState.PROCESSING, serial=req.serial, channel_serial="CH1", amount_fen=10_000)


def unknown(req) -> ChannelAnswer:
    return ChannelAnswer(state=ChannelState.UNKNOWN, serial=req.serial, detail="timed out")


def not_found(req) -> ChannelAnswer:
    return ChannelAnswer(state=ChannelState.NOT_FOUND, serial=req.serial)


def reversed_(req) -> ChannelAnswer:
    return ChannelAnswer(state=ChannelState.REVERSED, serial=req.serial, amount_fen=10_000, raw_code="REVERSED")


def failed(code: str) -> Script:
    return lambda req: ChannelAnswer(state=ChannelState.FAILED, serial=req.serial, amount_fen=10_000, raw_code=code,
                                     raw_message=f"raw {code}")


def crash(req) -> ChannelAnswer:
    raise RuntimeError("worker lost the answer")  # as if the worker died mid-send: the activity fails


def rejected(req) -> ChannelAnswer:
    raise ApplicationError("HTTP 401: bad signature", type="PeerRejected", non_retryable=True)


@dataclass
class RefundWorld:
    send_script: list[Script] = field(default_factory=list)  # one per send; then: ok
    query_script: list[Script] = field(default_factory=list)  # one per query-back; then: ok
    mappings: list[ErrorMapping] = field(default_factory=list)
    sends: list[SendRequest] = field(default_factory=list)
    queries: list[QueryRequest] = field(default_factory=list)
    progress: list[RefundProgress] = field(default_factory=list)
    serials: list[SerialRecord] = field(default_factory=list)
    notified: list[NotifyRequest] = field(default_factory=list)

    @property
    def statuses(self) -> list[str]:
        out: list[str] = []
        for p in self.progress:
            if not out or out[-1] != p.status.value:
                out.append(p.status.value)
        return out

    @property
    def events(self) -> list[str]:
        return [e for p in self.progress for e in (*p.notes, p.event)]

    def activities(self):
        @activity.defn(name=contract.SEND_REFUND)
        async def send(req: SendRequest) -> ChannelAnswer:
            self.sends.append(req)
            script = self.send_script.pop(0) if self.send_script else ok
            return script(req)

        @activity.defn(name=contract.QUERY_REFUND)
        async def query(req: QueryRequest) -> ChannelAnswer:
            self.queries.append(req)
            script = self.query_script.pop(0) if self.query_script else ok
            return script(req)

        @activity.defn(name=contract.TRANSLATE_CODE)
        async def translate_code(channel: str, raw_code: str) -> Translation:
            m, known = translate(channel, raw_code, self.mappings)
            return Translation(mapping=m, known=known)

        @activity.defn(name=contract.RECORD_REFUND_PROGRESS)
        async def record(p: RefundProgress) -> None:
            self.progress.append(p)
            if p.serial_record is not None:
                self.serials.append(p.serial_record)

        @activity.defn(name=contract.RECORD_SERIAL)
        async def record_serial(r: SerialRecord) -> None:
            self.serials.append(r)

        @activity.defn(name=contract.NOTIFY_MERCHANT)
        async def notify(req: NotifyRequest) -> None:
            self.notified.append(req)

        return [send, query, translate_code, record, record_serial, notify]

    def worker(self, client: Client, task_queue: str) -> Worker:
        return Worker(client, task_queue=task_queue, workflows=[RefundWorkflow], activities=self.activities(),
                      activity_executor=ThreadPoolExecutor(4))


_ids = itertools.count(1)


def new_refund(**kw) -> RefundInput:
    n = next(_ids)
    base = dict(refund_id=f"R{n}-{uuid.uuid4().hex[:6]}", payment_id=f"P{n}", merchant_id="M1", channel="unionpay",
                amount_fen=10_000, requested_by="merchant:M1", source="merchant", consumer_card_masked="6222****1234",
                limits=LoopLimits(query_backs=[5, 30]))
    base.update(kw)
    return RefundInput(**base)

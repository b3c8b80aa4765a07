"""One department notice (supervision notice, crisis report, handler warning) until someone acknowledges it
(workflow id `complaint-notice-<id>`).

The complaint procedure sends notices daily (4.4, supervision) and every notice must reach someone: the first
delivery goes to the addressee, the copy (market) and the receiving department (first responsible, 4.2.2.1) by
their webhook or e-mail; the inbox in the API always has it. Until the addressee acknowledges, the notice is
delivered to it again every `repeat_every_s` (a day), at most `max_deliveries` times (then ops are alerted).
An acknowledgement arrives as a signal; the delivery activity also reads it from the row, so a lost signal
costs at most one more delivery.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.complaints import contract
    from workflows.complaints.contract import DeliverNotice, NoticeDelivered, NoticeDelivery

DELIVERY = dict(start_to_close_timeout=timedelta(seconds=60), schedule_to_close_timeout=timedelta(hours=1),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)))


@workflow.defn(name=contract.NOTICE_WORKFLOW)
class NoticeDeliveryWorkflow:
    def __init__(self) -> None:
        self._acknowledged_by: str | None = None
        self._progress = "delivering"

    @workflow.run
    async def run(self, inp: NoticeDelivery) -> str:
        for n in range(1, inp.max_deliveries + 1):
            if self._acknowledged_by is not None:
                break
            try:
                done = await workflow.execute_activity(contract.DELIVER_NOTICE, DeliverNotice(notice_id=inp.notice_id, delivery=n,
                                                                                    final=n == inp.max_deliveries),
                                                       result_type=NoticeDelivered, **DELIVERY)
                if done.acknowledged:
                    self._acknowledged_by = self._acknowledged_by or "(recorded)"
                    break
                self._progress = f"delivery {n}: {done.summary}"
            except ActivityError as err:  # the inbox still has it; the next daily delivery tries again
                self._progress = f"delivery {n} failed: {err.cause or err}"
                workflow.logger.warning("notice delivery failed", extra={"notice_id": inp.notice_id, "delivery": n})
            try:
                await workflow.wait_condition(lambda: self._acknowledged_by is not None,
                                              timeout=timedelta(seconds=inp.repeat_every_s))
            except TimeoutError:
                continue
        if self._acknowledged_by is None:
            self._progress = f"not acknowledged after {inp.max_deliveries} deliveries"
            return self._progress
        self._progress = f"acknowledged by {self._acknowledged_by}"
        return self._progress

    @workflow.signal(name=contract.ACKNOWLEDGED)
    def acknowledged(self, by: str) -> None:
        self._acknowledged_by = by

    @workflow.query(name=contract.PROGRESS)
    def progress(self) -> str:
        return self._progress

"""The bare baseline: a workflow that only receives the same signals and sleeps the same timers as an order."""

from datetime import timedelta

from temporalio import workflow


@workflow.defn(name="BareOrder")
class BareOrderWorkflow:
    def __init__(self) -> None:
        self.signals = 0

    @workflow.run
    async def run(self, expected_signals: int, timers: int) -> int:
        for _ in range(timers):
            await workflow.sleep(timedelta(milliseconds=1))
        await workflow.wait_condition(lambda: self.signals >= expected_signals)
        return self.signals

    @workflow.signal
    def event(self, payload: dict) -> None:
        self.signals += 1

"""The baselines of bench/orders.py: workflows with no business code.

`BareOrderWorkflow` (kept for continuity with the figures before it) only receives as many signals and sleeps as
many timers as an order, as fast as the bench can drive it. `SameShapeWorkflow` has the order's structure instead:
the steps measured from our orders' histories (`Shape`), each after its signal, with the same commands (patch
markers, local and remote activities, search-attribute upserts, memo updates, timers), and bench/orders.py drives
it at the times our orders received their signals. What an order costs beyond it is our business code.
"""

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.common import SearchAttributeKey

# an attribute every namespace of ours has (core/search_attributes.py registers it)
STATUS = SearchAttributeKey.for_keyword("OrderStatus")
SAME_SHAPE_PATCH = "same-shape"


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


class Shape(BaseModel):
    """One order's structure: `steps[0]` follows the start, `steps[k]` the k-th signal; each is the commands the
    order issued then, in order ("patch", "local", "activity", "upsert", "memo", "timer")."""

    steps: list[list[str]]
    signal_offsets_s: list[float] = []  # when each signal came, seconds after the start
    signal_bytes: list[int] = []  # the size of each signal's payload as stored


def shape_of(history) -> Shape:
    """The structure of one recorded history (temporalio WorkflowHistory)."""
    steps: list[list[str]] = [[]]
    offsets: list[float] = []
    sizes: list[int] = []
    start = history.events[0].event_time.ToDatetime()
    after_patch = False
    for e in history.events:
        t = e.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            steps.append([])
            offsets.append((e.event_time.ToDatetime() - start).total_seconds())
            sizes.append(sum(len(p.data) for p in e.workflow_execution_signaled_event_attributes.input.payloads))
        elif t == EventType.EVENT_TYPE_MARKER_RECORDED:
            name = e.marker_recorded_event_attributes.marker_name
            steps[-1].append("patch" if name == "core_patch" else "local")
            after_patch = name == "core_patch"
            continue
        elif t == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            if not after_patch:  # the SDK's own upsert of TemporalChangeVersion comes with a patch marker
                steps[-1].append("upsert")
        elif t == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            steps[-1].append("memo")
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            steps[-1].append("activity")
        elif t == EventType.EVENT_TYPE_TIMER_STARTED:
            steps[-1].append("timer")
        after_patch = False
    return Shape(steps=steps, signal_offsets_s=offsets, signal_bytes=sizes)


@activity.defn(name="same_shape_nothing")
def nothing() -> None:
    """What an activity costs the system without its work."""


@workflow.defn(name="SameShape")
class SameShapeWorkflow:
    def __init__(self) -> None:
        self.signals = 0

    @workflow.run
    async def run(self, shape: Shape) -> int:
        for k, step in enumerate(shape.steps):
            if k:
                await workflow.wait_condition(lambda: self.signals >= k)  # noqa: B023 - awaited in this iteration
            n = 0
            for command in step:
                n += 1
                if command == "patch":
                    workflow.patched(f"{SAME_SHAPE_PATCH}-{n}")
                elif command == "local":
                    await workflow.execute_local_activity(nothing, start_to_close_timeout=timedelta(seconds=30))
                elif command == "activity":
                    await workflow.execute_activity(nothing, start_to_close_timeout=timedelta(seconds=30))
                elif command == "upsert":
                    workflow.upsert_search_attributes([STATUS.value_set(f"step-{k}-{n}")])
                elif command == "memo":
                    workflow.upsert_memo({"summary": f"step {k}"})
                elif command == "timer" and k + 1 < len(shape.steps):
                    # an order's wait for its next event: a timer the signal cancels
                    try:
                        await workflow.wait_condition(lambda: self.signals > k, timeout=timedelta(days=1))  # noqa: B023
                    except TimeoutError:
                        pass
        return self.signals

    @workflow.signal
    def event(self, payload: dict) -> None:
        self.signals += 1

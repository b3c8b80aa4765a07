"""Traces: one trace from the Temporal client's start into the workflow and its activity (the SDK's tracing
interceptor, as core.temporal.connect installs it), and log lines that name the trace."""

import uuid
from datetime import date

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import worker
from core import logs, telemetry
from core.settings import Settings
from workflows.complaints import contract as complaints
from workflows.complaints.complaint import CalendarCheckWorkflow


@activity.defn(name=complaints.CHECK_CALENDAR)
async def check_calendar(today: date) -> list[str]:
    return []


async def test_one_trace_runs_from_the_start_into_the_workflow_and_its_activity(time_env):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    config = time_env.client.config()
    config["interceptors"] = [TracingInterceptor(tracer)]
    client = Client(**config)
    tq = f"traced-{uuid.uuid4().hex[:6]}"
    runner = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*worker.PASSTHROUGH))
    async with Worker(client, task_queue=tq, workflows=[CalendarCheckWorkflow], activities=[check_calendar],
                      workflow_runner=runner):
        with tracer.start_as_current_span("POST /calendar"):
            await client.execute_workflow(CalendarCheckWorkflow.run, id=f"cal-{tq}", task_queue=tq)
    spans = exporter.get_finished_spans()
    names = {s.name for s in spans}
    assert {"StartWorkflow:WorkingDayCalendarCheck", "RunWorkflow:WorkingDayCalendarCheck",
            "StartActivity:check_working_day_calendar", "RunActivity:check_working_day_calendar"} <= names, names
    assert len({s.context.trace_id for s in spans}) == 1, "every span in the request's trace"


def test_log_lines_inside_a_span_carry_the_trace_id():
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("request") as span:
        event = logs._trace_context(None, None, {"event": "x"})
    assert event["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "trace_id" not in logs._trace_context(None, None, {"event": "outside"})
    structlog.reset_defaults()


def test_tracing_is_off_by_default_and_a_wrong_mode_is_refused():
    assert telemetry.client_interceptors(Settings()) == []
    assert telemetry.configure_tracing("simbo-test", Settings()) is False
    with pytest.raises(ValueError):
        telemetry.configure_tracing("simbo-test", Settings(tracing="loud"))

"""Traces and the worker's SDK metrics, set from settings (docs/architecture.md, "Observability").

- Traces (`SIMBO_TRACING`): "off" (default), "console" (spans printed, for a developer) or "otlp" (OTLP/HTTP to
  `SIMBO_OTLP_ENDPOINT`, the collector in compose). One trace runs from the API request through the Temporal
  client (start, signal, update, query) into the workflow and its activities: the SDK's `TracingInterceptor`
  carries the context in Temporal headers. Log lines carry the trace and span ids (core/logs.py).
- The worker's Temporal SDK metrics (`SIMBO_WORKER_METRICS_ADDRESS`): a Prometheus endpoint served by the SDK's
  own runtime (task latencies, activity failures, schedule-to-start, sticky cache, pollers).
"""

from __future__ import annotations

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from core.settings import Settings, get_settings

TRACING_MODES = ("off", "console", "otlp")
log = structlog.get_logger(__name__)
_configured: str | None = None


def configure_tracing(default_service: str, s: Settings | None = None) -> bool:
    """Install the process's tracer provider once; True when traces are on."""
    global _configured
    s = s or get_settings()
    mode = s.tracing.lower()
    if mode not in TRACING_MODES:
        raise ValueError(f"SIMBO_TRACING={s.tracing!r}: one of {', '.join(TRACING_MODES)}")
    if mode == "off":
        return False
    if _configured is None:
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: s.service_name or default_service}))
        if mode == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=s.otlp_endpoint)))
        trace.set_tracer_provider(provider)
        _configured = mode
        log.info("tracing on", exporter=mode, service=s.service_name or default_service)
    return True


def client_interceptors(s: Settings | None = None) -> list:
    """The Temporal client's interceptors; a worker built on the client uses them too."""
    s = s or get_settings()
    return [TracingInterceptor()] if s.tracing.lower() != "off" else []


def worker_runtime(s: Settings | None = None) -> Runtime | None:
    """A Temporal runtime that serves the SDK's Prometheus metrics, or None (the default runtime, no metrics)."""
    s = s or get_settings()
    if not s.worker_metrics_address:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=s.worker_metrics_address,
                                                                      durations_as_seconds=True)))

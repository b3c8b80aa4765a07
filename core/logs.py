"""structlog set-up shared by every process. Phone and identity numbers never reach a log line."""

import logging
import re

import structlog
from opentelemetry import trace
from temporalio import activity

_PHONE = re.compile(r"(?<!\d)(1\d{2})\d{4}(\d{4})(?!\d)")
_ID_CARD = re.compile(r"(?<![\dA-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![\dA-Za-z])")


def redact(text: str) -> str:
    """Mainland mobile numbers -> 138****1234, identity numbers -> 110101********123X."""
    return _PHONE.sub(r"\1****\2", _ID_CARD.sub(r"\1********\2", text))


def _redact_processor(_, __, event_dict):
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


def _temporal_context(_, __, event_dict):
    """Inside an activity every line names its workflow and run, so ops can jump from a log to the Web UI."""
    if activity.in_activity():
        info = activity.info()
        event_dict.setdefault("workflow_id", info.workflow_id)
        event_dict.setdefault("run_id", info.workflow_run_id)
        event_dict.setdefault("activity", info.activity_type)
    return event_dict


def _trace_context(_, __, event_dict):
    """With tracing on, every line names its trace and span, so ops can go from a log line to the trace."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


def configure(json: bool = False, level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _temporal_context,
            _trace_context,
            _redact_processor,
            structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )

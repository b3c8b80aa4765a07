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


def _redact_value(value):
    """Free text anywhere in a line: nested in a dict or list (a findings text, a request body), or an object
    that renders as text (an exception, a model)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def _redact_processor(_, __, event_dict):
    for key, value in event_dict.items():
        if key != "exc_info":  # rendered (and redacted) by the renderer's exception formatter below
            event_dict[key] = _redact_value(value)
    return event_dict


def _redact_rendered(_, __, event_dict):
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = redact(event_dict["exception"])
    return event_dict


class RedactingFilter(logging.Filter):
    """The standard library's lines too (Temporal's workflow.logger, uvicorn, the SDK): the whole message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


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
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _temporal_context,
            _trace_context,
            _redact_processor,
            structlog.processors.format_exc_info,
            _redact_rendered,
            structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )

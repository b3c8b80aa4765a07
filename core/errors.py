"""One business error for every business: an HTTP status, a stable type a program can branch on, and a
reason in plain words for the person who asked. The API turns it into one body shape
(`{"status", "type", "reason"}`, api/errors.py); services raise it and routes never catch it.
"""

import re


class BusinessError(Exception):
    status: int = 400
    type: str = "bad_request"

    def __init__(self, reason: str, *, type: str | None = None, status: int | None = None) -> None:  # noqa: A002
        super().__init__(reason)
        self.reason = reason
        if type is not None:
            self.type = type
        if status is not None:
            self.status = status

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "type" not in cls.__dict__:  # AgentSuspended -> "agent_suspended"
            cls.type = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


class Invalid(BusinessError):
    """The request itself is malformed (a missing header, an unreadable body)."""

    status = 400


class Unauthenticated(BusinessError):
    """The caller could not be recognised (a missing or wrong signature)."""

    status = 401


class Forbidden(BusinessError):
    """The caller may not do this (four eyes, not the handling department, a suspended agent)."""

    status = 403


class NotFound(BusinessError):
    status = 404


class Conflict(BusinessError):
    """Not in the current state of the thing (already done, a key reused with other content)."""

    status = 409


class Refused(BusinessError):
    """Well-formed, but a business rule says no (amount above what is left, an unknown reference)."""

    status = 422


class Unavailable(BusinessError):
    """Stored, but a process could not be reached; the same request again completes it."""

    status = 503


class IdempotencyConflict(Conflict):
    """The Idempotency-Key (or the caller's own request number) was used before with another request."""


class TemporalUnavailable(Unavailable):
    """The record is stored but its process could not be reached; the same request again delivers it."""

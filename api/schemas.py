"""What every business's API shares: the error body, pages, the month pattern, health. Each business keeps
its own request and response models in `api/<business>/schemas.py` (the tables are never exposed as such)."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

MONTH_PATTERN = r"^\d{4}(0[1-9]|1[0-2])$"


class ErrorProblem(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    """The body of every error answer (4xx and 5xx). Some answers add fields of their own (a rejected
    carrier event names its event_id and outcome)."""

    model_config = ConfigDict(extra="allow")

    status: int = Field(examples=[409])
    type: str = Field(description="stable, for programs: agent_suspended, not_found, invalid_request, ...",
                      examples=["agent_suspended"])
    reason: str = Field(description="for people, in plain words", examples=["agent A002 is suspended"])
    errors: list[ErrorProblem] | None = Field(default=None, description="each invalid field (invalid_request)")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class FromRow(BaseModel):
    """A response model read from a table row."""

    model_config = ConfigDict(from_attributes=True)


class Health(BaseModel):
    status: str
    database: str
    temporal: str

"""What every business's API shares: the error body, pages, the month pattern, health. Each business keeps
its own request and response models in `api/<business>/schemas.py` (the tables are never exposed as such)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from core.limits import FIRST_YEAR, LAST_YEAR, sane_year

T = TypeVar("T")

# Bounds every parameter shares (docs/architecture.md "Bad input"): past them the answer is a 422, never a
# number the database column, the calendar or an outgoing request cannot hold.
MAX_OFFSET = 1_000_000
MAX_FEN = 10**12  # 10 billion yuan: above any payment, below the 64-bit column
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"  # every id the project issues or receives: no space, slash or control
Instant = Annotated[AwareDatetime, AfterValidator(sane_year)]  # a moment in a request body: offset required
Since = Annotated[datetime, AfterValidator(sane_year)]  # a bound of a search (query parameter)
PathId = Annotated[str, Path(pattern=ID_PATTERN, description="an id: letters, digits and _ . : -, at most 64")]
Year = Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a row number")]

MONTH_PATTERN = r"^(19|20)\d{2}(0[1-9]|1[0-2])$"  # a year the calendar and the database both hold


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

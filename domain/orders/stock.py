"""The number stock as pure rules (settlement rules 1.11; account cancellation 1.8): the states a number of our
pool goes through, the validation of an import file, the pattern filters people pick a number with, and what the
end of an order does to its number.

    available --order placed--> reserved --carrier accepted--> assigned
        ^                          |  reservation lapsed (not confirmed in time): available again
        |                          +--carrier refused------------> available (number_unavailable: retired)
        +--quarantine period over-- quarantined <--failed delivery, cancelled order, activation timeout, return
    retired: the carrier took it back or ops withdrew it; never sold again
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.msisdn import is_mobile, mask_msisdn

# An import file is refused whole past this many lines (one carrier allocation is a few thousand numbers).
MAX_IMPORT_LINES = 50_000
MAX_PROBLEMS = 100  # problems listed in a refusal; the count says how many there were in all
IMPORT_COLUMNS = ("msisdn", "product_id")


class NumberState(StrEnum):
    AVAILABLE = "available"
    RESERVED = "reserved"
    ASSIGNED = "assigned"
    QUARANTINED = "quarantined"
    RETIRED = "retired"


class ImportProblem(BaseModel):
    line: int  # the file's line number, the header being line 1
    problem: str
    msisdn_masked: str = ""


class ImportLine(BaseModel):
    line: int
    msisdn: str
    product_id: str


@dataclass
class ParsedImport:
    lines: list[ImportLine] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    problem_count: int = 0

    def refuse(self, line: int, problem: str, msisdn: str = "") -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(ImportProblem(line=line, problem=problem, msisdn_masked=mask_msisdn(msisdn) if msisdn else ""))


def parse_import(text: str, known_products: set[str]) -> ParsedImport:
    """Read an import CSV (header `msisdn,product_id`, any order, nothing else). Every bad line is named with its
    number and why: a malformed number, an unknown product, or a number twice in the file (the line it repeats).
    Numbers already in the stock are checked by the service, which sees the table."""
    out = ParsedImport()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # a BOM from Excel is no column name
    header = [h.strip() for h in (reader.fieldnames or [])]
    if sorted(header) != sorted(IMPORT_COLUMNS):
        out.refuse(1, f"the header must name exactly the columns {', '.join(IMPORT_COLUMNS)}; got {', '.join(header) or 'none'}")
        return out
    reader.fieldnames = header
    first_line: dict[str, int] = {}
    for n, row in enumerate(reader, start=2):
        if n - 1 > MAX_IMPORT_LINES:
            out.refuse(n, f"more than {MAX_IMPORT_LINES} numbers in one file: split it")
            break
        if None in row:  # more cells than columns
            out.refuse(n, "more cells than the header names")
            continue
        msisdn = (row.get("msisdn") or "").strip()
        product = (row.get("product_id") or "").strip()
        if not msisdn and not product:
            continue  # a blank line
        if not is_mobile(msisdn):
            out.refuse(n, "not a mainland mobile number (11 digits, 13x-19x)", msisdn)
            continue
        if product not in known_products:
            out.refuse(n, f"unknown product {product[:64]!r}", msisdn)
            continue
        if msisdn in first_line:
            out.refuse(n, f"duplicate: the same number as line {first_line[msisdn]}", msisdn)
            continue
        first_line[msisdn] = n
        out.lines.append(ImportLine(line=n, msisdn=msisdn, product_id=product))
    if not out.lines and not out.problem_count:
        out.refuse(1, "the file names no number")
    return out


class NumberPattern(BaseModel):
    """What a customer asks for ("ends in 8", "contains 520", "no 4"): digits only, so they go into SQL LIKE
    patterns with nothing to escape."""

    starts_with: str | None = Field(default=None, pattern=r"^1\d{0,10}$")
    ends_with: str | None = Field(default=None, pattern=r"^\d{1,11}$")
    contains: str | None = Field(default=None, pattern=r"^\d{1,11}$")
    without_digit: str | None = Field(default=None, pattern=r"^\d$")

    def matches(self, msisdn: str) -> bool:
        return ((self.starts_with is None or msisdn.startswith(self.starts_with))
                and (self.ends_with is None or msisdn.endswith(self.ends_with))
                and (self.contains is None or self.contains in msisdn)
                and (self.without_digit is None or self.without_digit not in msisdn))


# ---- what the end of an order does to its number ------------------------------------------------------

# Failure reasons (settlement rules 1.6) after which the card never reached a working customer: the number rests
# in quarantine, then is sold again. A number that reached a customer (recharge missing, suspended, ...) stays
# assigned: it is the customer's number now.
QUARANTINE_REASONS = frozenset({
    "order_cancelled", "delivery_failed", "activation_timeout", "activation_remote_rejected",
    "identity_verification_failed", "activation_technical_failure",
})
# The carrier refused the order before anything shipped: the number never left the pool.
BACK_TO_POOL_REASONS = frozenset({"real_name_check_failed", "outside_coverage", "carrier_refused",
                                  "incomplete_order_data"})
RETIRE_REASONS = frozenset({"number_unavailable"})  # the carrier says it is no longer ours to sell
# Order statuses that end an order without a customer keeping the number, whatever their reason: `failed` is
# judged by its reason; the others are terminal statuses of their own (a status added by another part of the
# process, e.g. `delivery_failed` or `cancelled`, releases its number by being named here).
RELEASING_STATUSES = frozenset({"delivery_failed", "cancelled", "order_cancelled", "returned"})


def number_after(status: str, failure_reason: str | None) -> NumberState | None:
    """The number's next state once an order reaches `status`; None: the number stays as it is."""
    if status in RELEASING_STATUSES:
        return NumberState.QUARANTINED
    if status != "failed" or not failure_reason:
        return None
    if failure_reason in QUARANTINE_REASONS:
        return NumberState.QUARANTINED
    if failure_reason in BACK_TO_POOL_REASONS:
        return NumberState.AVAILABLE
    if failure_reason in RETIRE_REASONS:
        return NumberState.RETIRED
    return None


class StockLevel(BaseModel):
    product_id: str
    carrier: str
    available: int = 0
    reserved: int = 0
    assigned: int = 0
    quarantined: int = 0
    retired: int = 0
    low: bool = False  # available below the low-stock level: ops are alerted


def is_low(available: int, low_level: int) -> bool:
    return available < low_level

"""Carrier and logistics events as they arrive on the wire, validated, and turned into workflow signals."""

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, ValidationError, model_validator

from core.limits import MAX_JSON_DEPTH, sane_year, too_deep
from domain.orders.order import DeliveryStatus, EventKind, OrderEvent, SuspensionMode

WIRE_FIELDS = (
    "event_id",
    "order_id",
    "kind",
    "occurred_at",
    "tracking_no",
    "delivery_status",
    "redelivery_date",
    "amount_fen",
    "to_msisdn",
    "reason",
    "mode",
    "expected_arrival",
)


class CarrierEventIn(BaseModel):
    """One pushed event. `occurred_at` must carry its offset; every kind names what it must carry."""

    event_id: str = Field(min_length=1, max_length=128)
    order_id: str = Field(min_length=1, max_length=64)
    kind: EventKind
    occurred_at: Annotated[AwareDatetime, AfterValidator(sane_year)]
    tracking_no: str | None = None
    delivery_status: DeliveryStatus | None = None
    redelivery_date: str | None = None
    amount_fen: int | None = Field(default=None, ge=0)
    to_msisdn: str | None = Field(default=None, pattern=r"^\+?\d{5,20}$")
    reason: str | None = None
    mode: SuspensionMode | None = None
    expected_arrival: Annotated[date, AfterValidator(sane_year)] | None = Field(
        default=None, description="the courier's expected arrival date (yyyy-mm-dd, Shanghai)")

    @model_validator(mode="after")
    def _kind_needs(self):
        need = {
            EventKind.SHIPPED: ("tracking_no",),
            EventKind.DELIVERY: ("delivery_status",),
            EventKind.RECHARGED: ("amount_fen",),
            EventKind.ACTIVATION_FAILED: ("reason",),
            EventKind.SUSPENDED: ("mode",),
        }.get(self.kind, ())
        missing = [f for f in need if getattr(self, f) in (None, "")]
        if missing:
            raise ValueError(f"a {self.kind.value} event needs {', '.join(missing)}")
        return self

    def to_order_event(self, to_msisdn_fingerprint: str | None = None, right_number: bool | None = None,
                       source: str | None = None) -> OrderEvent:
        """The workflow's copy: never the full number. The caller, who holds the key ring and the order's own
        fingerprint, says whether a recharge went to the order's number; `source` is who pushed it."""
        data = self.model_dump(exclude={"to_msisdn"})
        return OrderEvent(**data, to_msisdn_fingerprint=to_msisdn_fingerprint if self.to_msisdn else None,
                          to_msisdn_matches=right_number if self.to_msisdn else None, source=source)


class ParsedLine(BaseModel):
    line: int
    raw: str
    event: CarrierEventIn | None = None
    error: str = ""


def explain(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in err.errors())


def parse_one(raw: str, line: int = 1) -> ParsedLine:
    if too_deep(raw):
        return ParsedLine(line=line, raw=raw, error=f"event: nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return ParsedLine(line=line, raw=raw, event=CarrierEventIn.model_validate_json(raw))
    except ValidationError as err:
        return ParsedLine(line=line, raw=raw, error=explain(err))


def parse_json_lines(body: str) -> Iterator[ParsedLine]:
    for n, raw in enumerate(body.splitlines(), start=1):
        if raw.strip():
            yield parse_one(raw, n)


def parse_csv(body: str) -> Iterator[ParsedLine]:
    """The daily status file: a header row naming WIRE_FIELDS columns (any order, extra columns refused)."""
    reader = csv.DictReader(io.StringIO(body))
    unknown = set(reader.fieldnames or ()) - set(WIRE_FIELDS)
    if not reader.fieldnames or unknown:
        raise ValueError(f"CSV header must name columns from {', '.join(WIRE_FIELDS)}; unknown: {sorted(unknown)}")
    for n, row in enumerate(reader, start=2):
        clean = {k: v for k, v in row.items() if k and v not in (None, "")}
        yield parse_one(json.dumps(clean, ensure_ascii=False), n)

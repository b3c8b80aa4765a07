"""Signed pushes from carriers and logistics: one event, or a batch (JSON lines or the daily CSV)."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session
from temporalio.client import Client

from api import errors
from api.deps import get_session, get_temporal_optional, require, verified_push
from api.orders.schemas import BatchEventsOut, CarrierEventOut, SingleEventOut
from api.schemas import MAX_OFFSET, Page
from core.access import Permission
from core.limits import BATCH_BODY_MAX
from db.orders import EventOutcome
from domain.orders.carrier_events import ParsedLine, parse_csv, parse_json_lines, parse_one
from services.orders import carrier_events as svc

router = APIRouter(prefix="/carrier-events", tags=["carrier events"])

MAX_BATCH_LINES = 50_000
NDJSON = "application/x-ndjson"
CSV = "text/csv"


async def _signed_body(request: Request, session: Session, body: bytes | None = None) -> tuple[str, bytes]:
    """Raw body after the signature check (each carrier and the logistics provider sign with their own key),
    and the source the signature proves."""
    return await verified_push(request, session, svc.SOURCES, body)


async def _batch_body(request: Request) -> bytes:
    """The batch as it arrives, refused with 413 at the first line past the limit: a file too long is never held
    whole nor parsed (the byte limit of the route bounds a file of few, long lines)."""
    chunks: list[bytes] = []
    lines = 0
    async for chunk in request.stream():
        lines += chunk.count(b"\n")
        if lines > MAX_BATCH_LINES + 1:  # + 1: the CSV header
            raise HTTPException(413, detail=f"at most {MAX_BATCH_LINES} events per batch")
        chunks.append(chunk)
    return b"".join(chunks)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise HTTPException(400, detail=f"body is not UTF-8: {err}") from None


async def _ingest(session: Session, temporal: Client | None, source: str, lines: list[ParsedLine]) -> svc.IngestReport:
    return await svc.ingest(session, temporal, source, lines)


_SIGNED = {
    401: {"description": "missing or bad signature (each source signs source, method, path, time and body)"},
    403: {"description": "the signing source may not push events"},
    409: {"description": "a replay: this request id was already received"},
    503: {"description": "stored but not delivered (Temporal unreachable): resend"},
}


@router.post(
    "",
    status_code=202,
    response_model=SingleEventOut,
    responses={
        **_SIGNED,
        200: {"description": "duplicate, or the order's workflow has already ended", "model": SingleEventOut},
        422: {"description": "malformed event (stored as rejected)"},
    },
)
async def push_one(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    temporal: Annotated[Client | None, Depends(get_temporal_optional)],
):
    source, body = await _signed_body(request, session)
    parsed = parse_one(_text(body))
    report = await _ingest(session, temporal, source, [parsed])
    r = report.results[0]
    if r.outcome == EventOutcome.REJECTED:
        return errors.body(422, "malformed_event", r.error, event_id=r.event_id, outcome=r.outcome.value)
    status = 202 if r.outcome in (EventOutcome.ACCEPTED, EventOutcome.UNKNOWN_ORDER) else 200
    out = SingleEventOut(event_id=r.event_id, order_id=r.order_id, outcome=r.outcome, error=r.error)
    return JSONResponse(status_code=status, content=out.model_dump(mode="json"))


@router.post(
    "/batch",
    response_model=BatchEventsOut,
    responses={
        **_SIGNED,
        207: {"description": "some lines were rejected (see results)", "model": BatchEventsOut},
        400: {"description": "the body cannot be parsed as a whole (e.g. unknown CSV columns)"},
        413: {"description": f"more than {MAX_BATCH_LINES} lines, or larger than {BATCH_BODY_MAX // 2**20} MiB"},
        415: {"description": f"Content-Type must be {NDJSON} or {CSV}"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {NDJSON: {"schema": {"type": "string"}}, CSV: {"schema": {"type": "string"}}},
        }
    },
)
async def push_batch(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    temporal: Annotated[Client | None, Depends(get_temporal_optional)],
):
    source, body = await _signed_body(request, session, await _batch_body(request))
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in (NDJSON, CSV):
        raise HTTPException(415, detail=f"Content-Type must be {NDJSON} (JSON lines) or {CSV} (daily status file), not {media or 'missing'}")
    text = _text(body)
    try:
        lines = list(parse_json_lines(text)) if media == NDJSON else list(parse_csv(text))
    except (ValueError, UnicodeError) as err:
        raise HTTPException(400, detail=str(err)) from None
    except Exception as err:  # csv.Error and the like: the file as a whole is unreadable
        raise HTTPException(400, detail=f"cannot parse the body: {err}") from None
    if not lines:
        raise HTTPException(400, detail="the body holds no events")
    if len(lines) > MAX_BATCH_LINES:
        raise HTTPException(413, detail=f"at most {MAX_BATCH_LINES} events per batch, got {len(lines)}")
    report = await _ingest(session, temporal, source, lines)
    out = BatchEventsOut(
        accepted=report.accepted,
        duplicate=report.duplicate,
        unknown_order=report.unknown_order,
        rejected=report.rejected,
        order_closed=report.order_closed,
        results=[r.model_dump() for r in report.results],
    )
    return JSONResponse(status_code=207 if report.rejected else 200, content=out.model_dump(mode="json"))


@router.get("", dependencies=[require(Permission.CARRIER_EVENTS_READ)], response_model=Page[CarrierEventOut])
def list_events(
    session: Annotated[Session, Depends(get_session)],
    outcome: EventOutcome | None = None,
    source: str | None = None,
    order_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[CarrierEventOut]:
    rows, total = svc.list_events(session, outcome, source, order_id, limit, offset)
    items = [CarrierEventOut.model_validate(r).model_copy(update={"raw": svc.masked_raw(r.raw)}) for r in rows]
    return Page[CarrierEventOut](items=items, total=total, limit=limit, offset=offset)




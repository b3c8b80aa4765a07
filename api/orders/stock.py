"""The number stock: ops import numbers; customers' agents list what they may choose; levels, alerts, report."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from sqlmodel import Session

from api.deps import get_session, require, run_db
from api.orders.schemas import StockAlertOut, StockImportOut, StockNumberOut
from api.schemas import MAX_OFFSET, Page
from core.access import Permission, Principal
from core.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, attachment, csv_bytes, xlsx_bytes
from domain.orders.carriers import Carrier
from domain.orders.stock import NumberPattern, NumberState, StockLevel
from services.orders import stock as svc

router = APIRouter(prefix="/stock", tags=["stock"])

CSV = "text/csv"
ProductId = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


@router.post(
    "/imports",
    status_code=201,
    response_model=StockImportOut,
    responses={400: {"description": "the body is not UTF-8 text"},
               415: {"description": "the body is not text/csv"},
               422: {"description": "bad lines (each named with its line number): nothing imported"}},
    openapi_extra={"requestBody": {"required": True, "content": {CSV: {"schema": {"type": "string"},
                                                                      "example": "msisdn,product_id\n13800000008,CM-59\n"}}}},
)
async def import_numbers(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    principal: Annotated[Principal, require(Permission.STOCK_MANAGE)],
) -> StockImportOut:
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != CSV:
        raise HTTPException(415, detail=f"Content-Type must be {CSV}, not {media or 'missing'}")
    raw = await request.body()  # bounded by api/limits.py (BATCH_BODY_MAX)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise HTTPException(400, detail=f"body is not UTF-8: {err.reason} at byte {err.start}") from None
    done = await run_db(session, svc.import_numbers, text, principal.id)
    return StockImportOut(import_id=done.import_id, numbers=done.numbers, by_product=done.by_product)


@router.get("/numbers", response_model=Page[StockNumberOut])
def list_numbers(
    session: Annotated[Session, Depends(get_session)],
    principal: Annotated[Principal, require(Permission.STOCK_READ)],
    product_id: ProductId = None,
    carrier: Carrier | None = None,
    state: Annotated[NumberState | None, Query(description="staff only; default: the numbers one may choose now")] = None,
    starts_with: Annotated[str | None, Query(pattern=r"^1\d{0,10}$")] = None,
    ends_with: Annotated[str | None, Query(pattern=r"^\d{1,11}$", description='"8": ends in 8')] = None,
    contains: Annotated[str | None, Query(pattern=r"^\d{1,11}$")] = None,
    without_digit: Annotated[str | None, Query(pattern=r"^\d$", description='"4": no 4 anywhere')] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[StockNumberOut]:
    if state is not None and principal.agent_id is not None:
        state = None  # an agent sees what it may choose, never who holds the others
    f = svc.NumberFilter(product_id=product_id, carrier=carrier.value if carrier else None, state=state,
                         pattern=NumberPattern(starts_with=starts_with, ends_with=ends_with, contains=contains,
                                               without_digit=without_digit))
    rows, total = svc.list_numbers(session, f, limit, offset)
    items = [StockNumberOut.model_validate(r) for r in rows]
    if state is None:
        for item in items:
            item.state = NumberState.AVAILABLE.value
    return Page[StockNumberOut](items=items, total=total, limit=limit, offset=offset)


@router.get("/levels", response_model=list[StockLevel])
def stock_levels(
    session: Annotated[Session, Depends(get_session)],
    _: Annotated[Principal, require(Permission.STOCK_READ)],
    product_id: ProductId = None,
) -> list[StockLevel]:
    return svc.levels(session, product_id=product_id)


@router.get("/alerts", response_model=Page[StockAlertOut])
def stock_alerts(
    session: Annotated[Session, Depends(get_session)],
    _: Annotated[Principal, require(Permission.STOCK_MANAGE)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[StockAlertOut]:
    rows, total = svc.alerts(session, limit, offset)
    return Page[StockAlertOut](items=[StockAlertOut.model_validate(r) for r in rows], total=total, limit=limit,
                               offset=offset)


_FORMATS = {"csv": CSV_MEDIA_TYPE, "xlsx": XLSX_MEDIA_TYPE}


@router.get("/report.{fmt}", response_class=Response)
def stock_report(
    fmt: Annotated[str, Path(pattern="^(csv|xlsx)$")],
    session: Annotated[Session, Depends(get_session)],
    _: Annotated[Principal, require(Permission.STOCK_MANAGE)],
) -> Response:
    rows = svc.report_rows(session)
    body = (csv_bytes(svc.REPORT_COLUMNS, rows) if fmt == "csv"
            else xlsx_bytes("stock", svc.REPORT_COLUMNS, rows, text_columns=("product_id",)))
    return Response(body, media_type=_FORMATS[fmt], headers=attachment(f"stock.{fmt}"))

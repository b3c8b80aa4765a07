"""Settlement batches (one per carrier per month) and their agent statements."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlmodel import Session

from api.deps import get_session
from api.schemas import MONTH_PATTERN, Page
from api.orders.schemas import BatchDetail, BatchOut, StatementOut
from domain.orders.carriers import Carrier
from services.orders import statements as svc

router = APIRouter(prefix="/settlements", tags=["settlement"])


@router.get("", response_model=Page[BatchOut])
def list_batches(
    session: Annotated[Session, Depends(get_session)],
    carrier: Carrier | None = None,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[BatchOut]:
    rows, total = svc.list_batches(session, carrier.value if carrier else None, month, limit, offset)
    return Page[BatchOut](items=[BatchOut.model_validate(b) for b in rows], total=total, limit=limit, offset=offset)


@router.get("/{batch_id}", response_model=BatchDetail, responses={404: {"description": "unknown batch"}})
def get_batch(batch_id: str, session: Annotated[Session, Depends(get_session)]) -> BatchDetail:
    found = svc.get_batch(session, batch_id)
    if found is None:
        raise HTTPException(404, detail=f"unknown settlement batch {batch_id}")
    batch, statements = found
    return BatchDetail(
        **BatchOut.model_validate(batch).model_dump(),
        statements=[StatementOut.model_validate(s) for s in statements],
    )

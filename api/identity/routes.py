"""Signing in (the embedded issuer), who am I, and merchants' API keys."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import Session

from api.deps import get_session, require, run_db
from api.identity.schemas import ApiKeyOut, AuditEntryOut, MeOut, NewApiKeyOut, RefreshIn, TokenOut
from api.schemas import MAX_OFFSET, Page, PathId, Since
from core.access import Permission, Principal
from core.exports import CSV_MEDIA_TYPE, attachment, csv_bytes
from services import identity as svc

router = APIRouter(tags=["identity"])
Db = Annotated[Session, Depends(get_session)]


@router.post("/auth/token", response_model=TokenOut, responses={401: {"description": "wrong name or password, "
                                                                                     "or the account is locked"}})
async def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: Db, request: Request) -> TokenOut:
    """OAuth2 password flow (Swagger UI's "Authorize" uses it). Repeated failures lock the account a while.
    Every attempt, refused or not, is on the audit log under the name it gave."""
    request.state.principal = Principal(id=form.username[:64], roles=frozenset())
    tokens = await run_db(session, svc.sign_in, form.username, form.password)
    return TokenOut(**tokens.__dict__)


@router.post("/auth/refresh", response_model=TokenOut, responses={401: {"description": "unknown, used or expired"}})
async def refresh(body: RefreshIn, session: Db) -> TokenOut:
    """New tokens for a refresh token; each refresh token works once."""
    tokens = await run_db(session, svc.refresh, body.refresh_token)
    return TokenOut(**tokens.__dict__)


@router.get("/me", response_model=MeOut)
def me(principal: Annotated[Principal, require(Permission.IDENTITY_READ)]) -> MeOut:
    return MeOut(id=principal.id, roles=sorted(principal.roles), permissions=sorted(principal.permissions),
                 department=principal.department, agent_id=principal.agent_id, merchant_id=principal.merchant_id)


@router.post("/merchants/{merchant_id}/api-keys", status_code=201, response_model=NewApiKeyOut,
             responses={404: {"description": "unknown merchant"}})
def create_api_key(merchant_id: PathId, session: Db,
                   principal: Annotated[Principal, require(Permission.API_KEYS_MANAGE)]) -> NewApiKeyOut:
    """A new key; the merchant's older keys stay valid until revoked, so keys rotate without downtime."""
    row, key = svc.create_api_key(session, merchant_id, principal.id)
    return NewApiKeyOut(**ApiKeyOut.model_validate(row).model_dump(), key=key)


@router.get("/merchants/{merchant_id}/api-keys", response_model=list[ApiKeyOut],
            dependencies=[require(Permission.API_KEYS_MANAGE)])
def list_api_keys(merchant_id: PathId, session: Db) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(k) for k in svc.api_keys(session, merchant_id)]


@router.delete("/merchants/{merchant_id}/api-keys/{prefix}", response_model=ApiKeyOut,
               dependencies=[require(Permission.API_KEYS_MANAGE)], responses={404: {"description": "no such key"}})
def revoke_api_key(merchant_id: PathId, prefix: PathId, session: Db) -> ApiKeyOut:
    return ApiKeyOut.model_validate(svc.revoke_api_key(session, merchant_id, prefix))


def _audit_filter(actor: str | None = None, action: str | None = Query(None, description='e.g. "refunds" or "POST"'),
                  target: str | None = Query(None, description='e.g. "refund_id=R1"'),
                  outcome_from: int | None = Query(None, ge=100, le=599, description="e.g. 400: refusals only"),
                  since: Since | None = None, until: Since | None = None) -> svc.AuditFilter:
    return svc.AuditFilter(actor=actor, action=action, target=target, outcome_from=outcome_from, since=since,
                           until=until)


AuditQuery = Annotated[svc.AuditFilter, Depends(_audit_filter)]


@router.get("/audit", response_model=Page[AuditEntryOut], dependencies=[require(Permission.AUDIT_READ)])
def audit_log(session: Db, f: AuditQuery, limit: Annotated[int, Query(ge=1, le=500)] = 50,
              offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Page[AuditEntryOut]:
    """Who changed what, newest first: every state-changing request by a person or a merchant."""
    rows, total = svc.audit_entries(session, f, limit, offset)
    return Page[AuditEntryOut](items=[AuditEntryOut.model_validate(r) for r in rows], total=total, limit=limit,
                               offset=offset)


@router.get("/audit.csv", response_class=Response, dependencies=[require(Permission.AUDIT_READ)],
            responses={200: {"content": {CSV_MEDIA_TYPE: {}}}})
def audit_csv(session: Db, f: AuditQuery) -> Response:
    rows, _ = svc.audit_entries(session, f, limit=100_000, offset=0)
    return Response(csv_bytes(svc.AUDIT_COLUMNS, (svc.audit_cells(r) for r in rows)), media_type=CSV_MEDIA_TYPE,
                    headers=attachment("audit.csv"))

"""Refunds: payments as records, single and batch refund requests, queries, ops actions, channels, error table."""

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from sqlmodel import Session, select
from temporalio.client import Client

from api.deps import (
    crash_here_in_tests,
    get_session,
    get_temporal,
    get_temporal_optional,
    require,
    run_db,
    sees_merchant,
    start_process,
)
from api.refunds.schemas import (
    BatchItemOut,
    BatchRefundIn,
    BatchRefundOut,
    ChannelOut,
    ChannelSwitchIn,
    ChannelSwitchOut,
    ErrorMappingIn,
    ErrorMappingOut,
    OpsActionIn,
    OpsActionOut,
    PaymentIn,
    PaymentOut,
    ReconciliationOut,
    ReconLineOut,
    RefundDetailOut,
    RefundEventOut,
    RefundIn,
    RefundOut,
    SerialOut,
)
from api.schemas import MAX_OFFSET, Page, PathId, Since
from core.access import Permission, Principal
from core.errors import BusinessError, Forbidden, NotFound
from core.http import PeerRejected, PeerUnavailable
from core.settings import get_settings
from db.refunds import Payment, Refund, RefundChannel
from domain.refunds import ErrorMapping, RefundSource, RefundStatus
from gateways.payment_channel import PaymentChannelGateway
from services import refunds as svc
from workflows.refunds.contract import OpsAction

router = APIRouter(tags=["refunds"])
log = structlog.get_logger(__name__)

Db = Annotated[Session, Depends(get_session)]
# An audit decision (a pre-debit channel's refund marked paid offline is one); the rest are ops overrides.
AUDIT_ACTIONS = ("approve", "reject", "mark_succeeded_offline")


def get_channel_gateway(request: Request) -> PaymentChannelGateway:
    """One signed client per app (tests override this dependency)."""
    gw = getattr(request.app.state, "channel_gateway", None)
    if gw is None:
        gw = request.app.state.channel_gateway = PaymentChannelGateway.from_settings(get_settings())
    return gw


def _payment_out(p: Payment, auto: Refund | None = None) -> PaymentOut:
    balance = svc.balance_of(p)
    return PaymentOut.model_validate(p).model_copy(update=dict(
        remaining_fen=balance.remaining_fen, remaining_fee_fen=balance.remaining_fee_fen,
        auto_refund_id=auto.id if auto else None))


async def _start(temporal: Any, session: Session, refund: Refund) -> None:
    async def start(client: Client) -> None:
        await svc.ensure_workflow(client, await run_db(session, svc.refund_input, refund.id))

    crash_here_in_tests("refund")
    await start_process(temporal, start, f"refund {refund.id}", "send the same refund number again", refund_id=refund.id)
    if refund.process_started_at is None:
        await run_db(session, svc.mark_started, [refund.id])


# ---- payments -------------------------------------------------------------------------------------


@router.post("/payments", status_code=201, response_model=PaymentOut,
             responses={200: {"description": "already recorded"}, 409: {"description": "same id, other details"},
                        422: {"description": "unknown merchant or channel"}})
async def record_payment(body: PaymentIn, response: Response, session: Db,
                         temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                         _: Annotated[Principal, require(Permission.PAYMENTS_RECORD)]) -> PaymentOut:
    p = svc.NewPayment(**body.model_dump(exclude={"callback_url"}),
                       callback_url=str(body.callback_url) if body.callback_url else None)
    recorded = await run_db(session, svc.record_payment, p)
    if recorded.auto_refund is not None:
        await _start(temporal, session, recorded.auto_refund)
    response.status_code = 201 if recorded.created else 200
    return _payment_out(recorded.payment, recorded.auto_refund)


@router.get("/payments/{payment_id}", response_model=PaymentOut, responses={404: {"description": "unknown payment"}})
def get_payment(payment_id: PathId, session: Db, principal: Annotated[Principal, require(Permission.PAYMENTS_READ)]) -> PaymentOut:
    payment, _ = svc.payment_view(session, payment_id)
    if not sees_merchant(principal, payment.merchant_id):
        raise NotFound(f"unknown payment {payment_id}")
    return _payment_out(payment)


# ---- refunds ---------------------------------------------------------------------------------------


def _new(body: RefundIn, principal: Principal) -> svc.NewRefund:
    """The request as the caller may make it: a merchant's key asks only for its own merchant, as merchant; a
    person (ops, risk control) asks as ops or risk, and a second person audits it. Exception refunds are the
    platform's own (recording a duplicate payment makes one), never asked for."""
    if principal.merchant_id is not None:
        if body.merchant_id != principal.merchant_id:
            raise Forbidden(f"this key belongs to merchant {principal.merchant_id}, not {body.merchant_id}",
                            type="other_merchant")
        if body.source != RefundSource.MERCHANT:
            raise Forbidden("a merchant's key asks for refunds as the merchant", type="source_not_allowed")
    elif body.source not in (RefundSource.OPS, RefundSource.RISK):
        raise Forbidden(f"{principal.id} asks as ops or risk (source), not as {body.source.value}: a merchant's "
                        "own requests come with its API key", type="source_not_allowed")
    return svc.NewRefund(merchant_id=body.merchant_id, merchant_refund_no=body.merchant_refund_no,
                         payment_id=body.payment_id, amount_fen=body.amount_fen, reason=body.reason,
                         callback_url=str(body.callback_url) if body.callback_url else None,
                         requested_by=principal.id, source=body.source)


@router.post("/refunds", status_code=201, response_model=RefundOut,
             responses={200: {"description": "the same refund number was seen before: the original refund"},
                        404: {"description": "unknown payment"},
                        409: {"description": "the refund number was used with another payment or amount"},
                        422: {"description": "refused: above the remaining refundable amount, other merchant, ..."},
                        503: {"description": "stored, but its process could not start: send again"}})
async def request_refund(body: RefundIn, response: Response, session: Db,
                         temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                         principal: Annotated[Principal, require(Permission.REFUNDS_REQUEST)]) -> RefundOut:
    refund, created = await run_db(session, svc.request_refund, _new(body, principal))
    await _start(temporal, session, refund)
    response.status_code = 201 if created else 200
    return RefundOut.model_validate(refund)


@router.post("/refunds/batch", response_model=BatchRefundOut)
async def request_refunds(body: BatchRefundIn, session: Db,
                          temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                          principal: Annotated[Principal, require(Permission.REFUNDS_REQUEST)]) -> BatchRefundOut:
    """Each refund of the batch is accepted or refused on its own; the answer says which and why."""
    items: list[BatchItemOut] = []
    for one in body.refunds:
        try:
            refund, created = await run_db(session, svc.request_refund, _new(one, principal))
            await _start(temporal, session, refund)
            items.append(BatchItemOut(merchant_refund_no=one.merchant_refund_no, http_status=201 if created else 200,
                                      refund=RefundOut.model_validate(refund)))
        except BusinessError as err:
            items.append(BatchItemOut(merchant_refund_no=one.merchant_refund_no, http_status=err.status,
                                      reason=err.reason))
        except HTTPException as err:
            items.append(BatchItemOut(merchant_refund_no=one.merchant_refund_no, http_status=err.status_code,
                                      reason=str(err.detail)))
    ok = sum(1 for i in items if i.http_status < 300)
    return BatchRefundOut(accepted=ok, refused=len(items) - ok, items=items)


@router.get("/refunds", response_model=Page[RefundOut])
def list_refunds(
    session: Db,
    principal: Annotated[Principal, require(Permission.REFUNDS_READ)],
    status: RefundStatus | None = None,
    channel: str | None = None,
    merchant_id: str | None = None,
    payment_id: str | None = None,
    source: str | None = None,
    failure_code: str | None = None,
    created_from: Since | None = None,
    created_to: Since | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[RefundOut]:
    for name, value in (("created_from", created_from), ("created_to", created_to)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(422, detail=f"{name} needs a time zone, e.g. 2026-11-25T00:00:00+08:00")
    if principal.merchant_id is not None:  # a merchant lists only its own refunds
        merchant_id = principal.merchant_id
    f = svc.RefundFilter(status=status.value if status else None, channel=channel, merchant_id=merchant_id,
                         payment_id=payment_id, source=source, failure_code=failure_code,
                         created_from=created_from, created_to=created_to)
    rows, total = svc.list_refunds(session, f, limit, offset)
    return Page[RefundOut](items=[RefundOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/refunds/{refund_id}", response_model=RefundDetailOut, responses={404: {"description": "unknown refund"}})
async def get_refund(refund_id: PathId, session: Db,
                     temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                     principal: Annotated[Principal, require(Permission.REFUNDS_READ)]) -> RefundDetailOut:
    d = await run_db(session, svc.get_refund, refund_id)
    if not sees_merchant(principal, d.refund.merchant_id):
        raise NotFound(f"unknown refund {refund_id}")
    live, why = await svc.live_view(temporal, refund_id)
    base = RefundOut.model_validate(d.refund).model_dump()
    return RefundDetailOut(**base, audit_reasons=[r for r in d.refund.audit_reasons.split("\n") if r],
                           payment_remaining_fen=svc.balance_of(d.payment).remaining_fen,
                           serials=[SerialOut.model_validate(s) for s in d.serials],
                           history=[RefundEventOut.model_validate(e) for e in d.history], live=live, live_error=why)


@router.post("/refunds/{refund_id}/{action}", response_model=OpsActionOut,
             responses={403: {"description": "the auditor is the requester"}, 404: {"description": "unknown refund"},
                        409: {"description": "not allowed in the refund's current state, or the evidence does not "
                                              "prove it: a serial may still pay, the statement is not loaded or "
                                              "does not show success with the refund's amount"},
                        422: {"description": "missing statement reference"}})
async def ops_action(refund_id: PathId, action: PathId, body: OpsActionIn, session: Db,
                     temporal: Annotated[Client, Depends(get_temporal)],
                     principal: Annotated[Principal, require(Permission.REFUNDS_ACT)]) -> OpsActionOut:
    """approve, reject, mark_succeeded_offline (auditors); force_success, force_fail, retry_new_serial (ops):
    each recorded with who did it, taken from the token.

    force_success and force_fail cite a loaded statement (`<channel>/<yyyymmdd>/<serial>` for a line,
    `<channel>/<yyyymmdd>` for a whole day): success needs a line saying success with the refund's amount; fail
    needs every serial settled by the channel's own decline or "never received", or by the statement (a failed
    line, or absent from a closed day's statement after the serial was sent). Otherwise 409, and no money moves."""
    needed = Permission.REFUNDS_AUDIT if action in AUDIT_ACTIONS else Permission.REFUNDS_OVERRIDE
    if not principal.can(needed):
        raise Forbidden(f"{principal.id} ({principal.role_names}) may not {action} a refund", type="permission_denied")
    before = await run_db(session, svc.refund_status, refund_id)
    evidence = await run_db(session, svc.override_evidence, refund_id, action, body.statement_ref)
    status = await svc.ops_action(temporal, refund_id, before, action, OpsAction(
        **body.model_dump(exclude={"statement_ref"}), statement_ref=evidence.statement_ref, actor=principal.id,
        checked_sends=evidence.checked_sends))
    log.info("refund ops action", refund_id=refund_id, action=action, actor=principal.id, status=status)
    return OpsActionOut(refund_id=refund_id, action=action, status=status)


# ---- channels and the error table -------------------------------------------------------------------------


@router.get("/refund-channels", dependencies=[require(Permission.CHANNELS_READ)], response_model=list[ChannelOut])
def list_channels(session: Db) -> list[ChannelOut]:
    return [ChannelOut.model_validate(c) for c in session.exec(select(RefundChannel).order_by(RefundChannel.id)).all()]


@router.put("/refund-channels/{channel_id}/auto-audit", response_model=ChannelOut,
            responses={404: {"description": "unknown channel"}})
def switch_auto_audit(channel_id: PathId, body: ChannelSwitchIn, session: Db,
                      principal: Annotated[Principal, require(Permission.CHANNELS_CONFIGURE)]) -> ChannelOut:
    """The emergency switch: automatic audit off (or back on) for one channel, with who and why."""
    return ChannelOut.model_validate(svc.set_channel(session, channel_id, "auto_audit", body.enabled, principal.id,
                                                     body.reason))


@router.get("/refund-channels/{channel_id}/switches", dependencies=[require(Permission.CHANNELS_READ)], response_model=list[ChannelSwitchOut])
def channel_switches(channel_id: PathId, session: Db) -> list[ChannelSwitchOut]:
    return [ChannelSwitchOut.model_validate(s) for s in svc.channel_switches(session, channel_id)]


@router.get("/refund-error-mappings", dependencies=[require(Permission.CHANNELS_READ)], response_model=list[ErrorMappingOut])
def list_error_mappings(session: Db, channel: str | None = None) -> list[ErrorMappingOut]:
    return [ErrorMappingOut(**r.mapping.model_dump(), source=r.source, overridden=r.overridden,
                            created_by=r.created_by, created_at=r.created_at) for r in svc.error_mappings(session, channel)]


@router.put("/refund-error-mappings", response_model=ErrorMappingOut, status_code=201,
            responses={200: {"description": "replaced"}, 422: {"description": "unknown channel"}})
def put_error_mapping(body: ErrorMappingIn, response: Response, session: Db,
                      principal: Annotated[Principal, require(Permission.CHANNELS_CONFIGURE)]) -> ErrorMappingOut:
    """Add or replace the translation of a channel code; the next decline with that code uses it, no deploy."""
    m = ErrorMapping(**body.model_dump())
    row, created = svc.put_error_mapping(session, m, principal.id)
    response.status_code = 201 if created else 200
    return ErrorMappingOut(**m.model_dump(), source="ops", created_by=row.created_by, created_at=row.created_at)


STATEMENT_ERRORS = {404: {"description": "unknown channel"}, 502: {"description": "the channel did not give its statement"}}
StatementDay = Annotated[str, Path(pattern=r"^\d{8}$", description="yyyymmdd, Shanghai day")]


async def _reconcile(session: Session, gateway: PaymentChannelGateway, channel_id: str, day: str,
                     loaded_by: str | None) -> ReconciliationOut:
    svc.statement_day(day)
    try:
        lines = await gateway.statement(channel_id, day)
    except (PeerUnavailable, PeerRejected) as err:
        raise HTTPException(502, detail=f"channel {channel_id} statement {day}: {err}") from None
    closed = None
    if loaded_by is not None:
        closed = (await run_db(session, svc.load_statement, channel_id, day, lines, loaded_by)).closed
    recon = await run_db(session, svc.reconcile, lines)
    return ReconciliationOut(channel=channel_id, day=day, lines=len(recon), loaded=loaded_by is not None,
                             closed=closed, statement_ref=f"{channel_id}/{day}",
                             disagreements=[ReconLineOut.model_validate(r).model_copy(
                                 update={"statement_ref": f"{channel_id}/{day}/{r.serial}"})
                                 for r in recon if r.disagrees])


@router.get("/refund-channels/{channel_id}/statements/{day}/reconciliation", response_model=ReconciliationOut,
            dependencies=[require(Permission.RECONCILIATION_READ)], responses=STATEMENT_ERRORS)
async def reconcile_statement(
    channel_id: PathId, day: StatementDay, session: Db,
    gateway: Annotated[PaymentChannelGateway, Depends(get_channel_gateway)],
) -> ReconciliationOut:
    """The channel's daily statement beside our serials; the lines that disagree (statement success, refund not
    succeeded, or a serial we never sent) are what ops force success or fail with, once the statement is loaded
    (`POST` on the statement)."""
    return await _reconcile(session, gateway, channel_id, day, None)


@router.post("/refund-channels/{channel_id}/statements/{day}", response_model=ReconciliationOut,
             responses=STATEMENT_ERRORS)
async def load_statement(
    channel_id: PathId, day: StatementDay, session: Db,
    gateway: Annotated[PaymentChannelGateway, Depends(get_channel_gateway)],
    principal: Annotated[Principal, require(Permission.RECONCILIATION_READ)],
) -> ReconciliationOut:
    """Load the channel's statement of a day: stored as the channel gives it now (loading again replaces it),
    then reconciled like the GET. Only a loaded statement can be cited by a force success or force fail; it
    counts as final (`closed`) when its Shanghai day had ended at loading."""
    return await _reconcile(session, gateway, channel_id, day, principal.id)

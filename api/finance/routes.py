"""Finance's HTTP door, as one router: payout exceptions (retry, manual payment), each batch's reconciliation and
report, the month-end summary, and invoices against settled statements."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlmodel import Session
from temporalio.client import Client

from api.deps import get_session, get_temporal_optional, own_agent, require, run_db, start_process
from api.finance.schemas import (
    DifferenceOut,
    ExceptionStepOut,
    InvoiceOut,
    InvoiceRequest,
    IssueRequest,
    ManualPaymentRequest,
    MonthEndCarrier,
    MonthEndOut,
    PayoutExceptionDetail,
    PayoutExceptionOut,
    ReconciliationOut,
    RefuseRequest,
    ReissueRequest,
    RetryRequest,
    TotalsOut,
)
from api.schemas import MAX_OFFSET, MONTH_PATTERN, Page, PathId, RowId
from core.access import Permission, Principal
from core.errors import NotFound
from core.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, attachment, report_csv, report_xlsx, safe_filename_part
from core.settings import get_settings
from db.finance import PayoutException
from db.orders import SettlementBatch
from domain.finance.payouts import ExceptionState, mask_account
from domain.finance.reconciliation import policy_for
from domain.orders.carriers import Carrier
from services.finance import invoice_pdf, invoices, payouts, processes, reconciliation, reports

router = APIRouter()
# Routes ending in .csv / .xlsx / .pdf come before the plain route of the same path: the plain one's parameter
# would match "202610.csv" first and refuse it.
exceptions = APIRouter(prefix="/payout-exceptions", tags=["finance"])
batches = APIRouter(prefix="/settlements", tags=["finance"])
month_end = APIRouter(prefix="/finance", tags=["finance"])
invoice = APIRouter(tags=["finance"])

_NO_EXCEPTION = {404: {"description": "no such payout exception"}}
_NO_BATCH = {404: {"description": "unknown batch"}}
_NO_INVOICE = {404: {"description": "no such invoice"}}
_CONFLICT = {409: {"description": "not possible in the current state"}}
Month = Annotated[str, Query(pattern=MONTH_PATTERN)]
MonthPath = Annotated[str, Path(pattern=MONTH_PATTERN, description="month yyyymm")]
PDF_MEDIA_TYPE = "application/pdf"


def _exception_out(e: PayoutException) -> PayoutExceptionOut:
    data = {k: getattr(e, k) for k in PayoutExceptionOut.model_fields}
    data["new_account"] = mask_account(e.new_account) if e.new_account else ""
    return PayoutExceptionOut(**data)


def _detail(d: payouts.ExceptionDetail) -> PayoutExceptionDetail:
    return PayoutExceptionDetail(**_exception_out(d.exception).model_dump(),
                                 steps=[ExceptionStepOut.model_validate(s) for s in d.steps])


@exceptions.get("", dependencies=[require(Permission.SETTLEMENTS_READ)], response_model=Page[PayoutExceptionOut])
def list_exceptions(session: Annotated[Session, Depends(get_session)], state: ExceptionState | None = None,
                    carrier: Carrier | None = None, month: Month | None = None,
                    agent_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Page[PayoutExceptionOut]:
    rows, total = payouts.list_exceptions(session, state=state.value if state else None,
                                          carrier=carrier.value if carrier else None, month=month, agent_id=agent_id,
                                          limit=limit, offset=offset)
    return Page[PayoutExceptionOut](items=[_exception_out(e) for e in rows], total=total, limit=limit, offset=offset)


@exceptions.get("/{payout_id}", dependencies=[require(Permission.SETTLEMENTS_READ)],
                response_model=PayoutExceptionDetail, responses=_NO_EXCEPTION)
def get_exception(payout_id: PathId, session: Annotated[Session, Depends(get_session)]) -> PayoutExceptionDetail:
    return _detail(payouts.get_exception(session, payout_id))


@exceptions.post("/{payout_id}/retry", status_code=202, response_model=PayoutExceptionDetail,
                 responses={**_NO_EXCEPTION, **_CONFLICT, 503: {"description": "retry recorded, not started"}})
async def retry(payout_id: PathId, body: RetryRequest, session: Annotated[Session, Depends(get_session)],
                temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                principal: Annotated[Principal, require(Permission.PAYOUTS_RESOLVE)]) -> PayoutExceptionDetail:
    inp = await run_db(session, payouts.retry, payout_id, principal.id, body.new_account or "")
    await start_process(temporal, lambda c: processes.start_retry(c, inp), f"retry of payout {payout_id}",
                        "ask for the retry again: the same retry is started", payout_id=payout_id)
    return _detail(await run_db(session, payouts.get_exception, payout_id))


@exceptions.post("/{payout_id}/manual-payment", response_model=PayoutExceptionDetail,
                 responses={**_NO_EXCEPTION, **_CONFLICT})
async def manual_payment(payout_id: PathId, body: ManualPaymentRequest, session: Annotated[Session, Depends(get_session)],
                         principal: Annotated[Principal, require(Permission.PAYOUTS_RESOLVE)]) -> PayoutExceptionDetail:
    """Finance paid the agent by hand: recorded with the transfer's reference and evidence, the lines paid. Refused
    while a retry is on its way, and for a payout the bank never answered (it may have paid it: retry first)."""
    await run_db(session, payouts.record_manual_payment, payout_id, principal.id, body.reference, body.evidence)
    return _detail(await run_db(session, payouts.get_exception, payout_id))


# ---- a batch's reconciliation and report ----------------------------------------------------------------------


def _batch(session: Session, batch_id: str) -> SettlementBatch:
    batch = session.get(SettlementBatch, batch_id)
    if batch is None:
        raise reports.BatchNotFound(batch_id)
    return batch


@batches.get("/{batch_id}/reconciliation", dependencies=[require(Permission.SETTLEMENTS_READ)],
             response_model=ReconciliationOut, responses=_NO_BATCH)
def batch_reconciliation(batch_id: PathId, session: Annotated[Session, Depends(get_session)]) -> ReconciliationOut:
    batch = _batch(session, batch_id)
    diffs = reconciliation.differences(session, batch_id)
    figs = reconciliation.figures(session, batch.carrier, batch.month)
    expected = sum(f.expected_fen for f, _ in figs if f.known)
    audited = sum((f.audited_fen if f.audited_fen is not None else f.expected_fen) for f, _ in figs if f.approved)
    by_cause: dict[str, int] = {}
    for d in diffs:
        by_cause[d.cause] = by_cause.get(d.cause, 0) + 1
    t = reconciliation.batch_totals(session, batch_id, batch.carrier)
    return ReconciliationOut(batch_id=batch_id, carrier=batch.carrier, month=batch.month,
                             paid_figure=policy_for(batch.carrier, get_settings().finance_paid_figure).value,
                             expected_fen=expected, audited_fen=audited, by_cause=by_cause,
                             differences=[DifferenceOut.model_validate(d) for d in diffs],
                             totals=TotalsOut(**t.model_dump(), balanced=t.balanced))


@batches.get("/{batch_id}/report.csv", dependencies=[require(Permission.SETTLEMENTS_READ)], response_class=Response,
             responses={200: {"content": {CSV_MEDIA_TYPE: {}}}, **_NO_BATCH})
def batch_report_csv(batch_id: PathId, session: Annotated[Session, Depends(get_session)]) -> Response:
    return Response(report_csv(reports.batch_report(session, batch_id)), media_type=CSV_MEDIA_TYPE,
                    headers=attachment(f"batch-{safe_filename_part(batch_id)}.csv"))


@batches.get("/{batch_id}/report.xlsx", dependencies=[require(Permission.SETTLEMENTS_READ)], response_class=Response,
             responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}, **_NO_BATCH})
def batch_report_xlsx(batch_id: PathId, session: Annotated[Session, Depends(get_session)]) -> Response:
    return Response(report_xlsx(reports.batch_report(session, batch_id)), media_type=XLSX_MEDIA_TYPE,
                    headers=attachment(f"batch-{safe_filename_part(batch_id)}.xlsx"))


@month_end.get("/month-end/{month}.csv", dependencies=[require(Permission.SETTLEMENTS_READ)], response_class=Response,
               responses={200: {"content": {CSV_MEDIA_TYPE: {}}}})
def month_end_csv(month: MonthPath, session: Annotated[Session, Depends(get_session)]) -> Response:
    report, _ = reports.month_end(session, month)
    return Response(report_csv(report), media_type=CSV_MEDIA_TYPE, headers=attachment(f"month-end-{month}.csv"))


@month_end.get("/month-end/{month}.xlsx", dependencies=[require(Permission.SETTLEMENTS_READ)], response_class=Response,
               responses={200: {"content": {XLSX_MEDIA_TYPE: {}}}})
def month_end_xlsx(month: MonthPath, session: Annotated[Session, Depends(get_session)]) -> Response:
    report, _ = reports.month_end(session, month)
    return Response(report_xlsx(report), media_type=XLSX_MEDIA_TYPE, headers=attachment(f"month-end-{month}.xlsx"))


@month_end.get("/month-end/{month}", dependencies=[require(Permission.SETTLEMENTS_READ)], response_model=MonthEndOut)
def month_end_summary(month: MonthPath, session: Annotated[Session, Depends(get_session)]) -> MonthEndOut:
    _, items = reports.month_end(session, month)
    return MonthEndOut(month=month, carriers=[MonthEndCarrier(**i) for i in items])


# ---- invoices -------------------------------------------------------------------------------------------------


def _own_invoice(session: Session, invoice_id: int, principal: Principal):
    inv = invoices.get_invoice(session, invoice_id)
    own_agent(principal, inv.agent_id)
    return inv


async def _mail(temporal: Client | None, inv) -> None:
    inp = invoices.mail_input(inv)
    await start_process(temporal, lambda c: processes.start_mail(c, inp), f"invoice {inv.id}",
                        f"POST /invoices/{inv.id}/mail sends it", invoice_id=str(inv.id))


@invoice.post("/statements/{statement_id}/invoice", status_code=201, response_model=InvoiceOut,
              responses={404: {"description": "no such statement"}, **_CONFLICT,
                         422: {"description": "the statement is not settled"}})
async def request_invoice(statement_id: PathId, body: InvoiceRequest, session: Annotated[Session, Depends(get_session)],
                          principal: Annotated[Principal, require(Permission.INVOICES_REQUEST)]) -> InvoiceOut:
    """The agent asks for an invoice against one of its settled statements; the amount is the statement's
    commission. One live invoice per statement."""
    inv = await run_db(session, invoices.request_invoice, statement_id, body.title, body.tax_number, principal.id,
                       principal.agent_id)
    return InvoiceOut.model_validate(inv)


@invoice.get("/invoices", response_model=Page[InvoiceOut])
def list_invoices(session: Annotated[Session, Depends(get_session)],
                  principal: Annotated[Principal, require(Permission.INVOICES_READ)],
                  state: invoices.InvoiceState | None = None, month: Month | None = None,
                  agent_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> Page[InvoiceOut]:
    if principal.agent_id is not None:  # an agent sees its own invoices only
        agent_id = principal.agent_id
    rows, total = invoices.list_invoices(session, agent_id=agent_id, state=state.value if state else None,
                                         month=month, limit=limit, offset=offset)
    return Page[InvoiceOut](items=[InvoiceOut.model_validate(i) for i in rows], total=total, limit=limit, offset=offset)


@invoice.get("/invoices/{invoice_id}.pdf", response_class=Response, responses={200: {"content": {PDF_MEDIA_TYPE: {}}},
                                                                                **_NO_INVOICE})
def invoice_pdf_file(invoice_id: RowId, session: Annotated[Session, Depends(get_session)],
                     principal: Annotated[Principal, require(Permission.INVOICES_READ)]) -> Response:
    """The issued invoice as its PDF (also a voided one, for the record); a request not issued has none."""
    inv = _own_invoice(session, invoice_id, principal)
    if inv.number is None:
        raise NotFound(f"invoice {invoice_id} is {inv.state}: it has no PDF")
    s = get_settings()
    pdf = invoice_pdf.render(inv, s.finance_invoice_seller, s.finance_invoice_seller_tax_number,
                             invoices.replaced_number(session, inv))
    return Response(pdf, media_type=PDF_MEDIA_TYPE, headers=attachment(f"invoice-{inv.number}.pdf"))


@invoice.get("/invoices/{invoice_id}", response_model=InvoiceOut, responses=_NO_INVOICE)
def get_invoice(invoice_id: RowId, session: Annotated[Session, Depends(get_session)],
                principal: Annotated[Principal, require(Permission.INVOICES_READ)]) -> InvoiceOut:
    return InvoiceOut.model_validate(_own_invoice(session, invoice_id, principal))


@invoice.post("/invoices/{invoice_id}/issue", response_model=InvoiceOut, responses={**_NO_INVOICE, **_CONFLICT})
async def issue_invoice(invoice_id: RowId, body: IssueRequest, session: Annotated[Session, Depends(get_session)],
                        temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                        principal: Annotated[Principal, require(Permission.INVOICES_ISSUE)]) -> InvoiceOut:
    inv, _ = await run_db(session, invoices.issue, invoice_id, body.tax_rate_bp, principal.id)
    await _mail(temporal, inv)
    return InvoiceOut.model_validate(inv)


@invoice.post("/invoices/{invoice_id}/refuse", response_model=InvoiceOut, responses={**_NO_INVOICE, **_CONFLICT})
async def refuse_invoice(invoice_id: RowId, body: RefuseRequest, session: Annotated[Session, Depends(get_session)],
                         temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                         principal: Annotated[Principal, require(Permission.INVOICES_ISSUE)]) -> InvoiceOut:
    inv, _ = await run_db(session, invoices.refuse, invoice_id, body.reason, principal.id)
    await _mail(temporal, inv)
    return InvoiceOut.model_validate(inv)


@invoice.post("/invoices/{invoice_id}/reissue", status_code=201, response_model=InvoiceOut,
              responses={**_NO_INVOICE, **_CONFLICT})
async def reissue_invoice(invoice_id: RowId, body: ReissueRequest, session: Annotated[Session, Depends(get_session)],
                          temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                          principal: Annotated[Principal, require(Permission.INVOICES_ISSUE)]) -> InvoiceOut:
    """Void the issued invoice and issue its replacement under a new number; the agent gets the new PDF."""
    inv, _ = await run_db(session, invoices.reissue, invoice_id, body.reason, body.tax_rate_bp, principal.id,
                          body.title, body.tax_number)
    await _mail(temporal, inv)
    return InvoiceOut.model_validate(inv)


@invoice.post("/invoices/{invoice_id}/mail", status_code=202, response_model=InvoiceOut,
              responses={**_NO_INVOICE, **_CONFLICT})
async def mail_invoice(invoice_id: RowId, session: Annotated[Session, Depends(get_session)],
                       temporal: Annotated[Client | None, Depends(get_temporal_optional)],
                       principal: Annotated[Principal, require(Permission.INVOICES_ISSUE)]) -> InvoiceOut:
    """Start the mail of a decision again (a start lost to an outage); a mail already sent is not sent twice."""
    inv = await run_db(session, invoices.mailable, invoice_id)
    await _mail(temporal, inv)
    return InvoiceOut.model_validate(inv)


for part in (exceptions, batches, month_end, invoice):
    router.include_router(part)

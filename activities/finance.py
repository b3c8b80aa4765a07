"""Finance's side effects: reconcile a carrier batch, retry a payout exception at the bank, mail an invoice.

Each is idempotent: the reconciliation replaces its own lines; a payout retry pays under the payout's id (the bank
answers a repeat with the first outcome) and records the answer once per attempt; an invoice mail is recorded
when sent, and a repeat after that sends nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.http import PeerRejected, PeerUnavailable
from core.settings import get_settings
from db.finance import Invoice
from domain.finance.invoices import InvoiceState
from domain.finance.payouts import BankReason, ExceptionCause, bank_reason
from domain.money import yuan
from gateways.carrier import CarrierGateway
from gateways.mail import Attachment, MailRefused, MailUnavailable, SmtpMailer
from services.finance import invoice_pdf, invoices, payouts, reconciliation
from workflows.finance import contract
from workflows.finance.contract import (
    InvoiceMailInput,
    PayoutRetryInput,
    PayoutRetryOutcome,
    ReconcileOutcome,
    ReconcileRequest,
)

log = structlog.get_logger()


class FinanceActivities:
    def __init__(self, engine: Engine, gateway: CarrierGateway, mailer: SmtpMailer) -> None:
        self.engine = engine
        self.gateway = gateway
        self.mailer = mailer

    @activity.defn(name=contract.RECONCILE_BATCH)
    def reconcile_batch(self, req: ReconcileRequest) -> ReconcileOutcome:
        with Session(self.engine) as s:
            out = reconciliation.reconcile(s, req.carrier, req.month)
        log.info("batch reconciled", batch_id=req.batch_id, differences=out.differences, by_cause=out.by_cause,
                 expected_fen=out.expected_fen, audited_fen=out.audited_fen)
        return out

    @activity.defn(name=contract.RETRY_PAYOUT)
    async def retry_payout(self, inp: PayoutRetryInput) -> PayoutRetryOutcome:
        def account() -> str:
            with Session(self.engine) as s:
                return payouts.account_for(s, inp.payout_id)

        def finish(**kw) -> str:
            with Session(self.engine) as s:
                return payouts.finish_retry(s, inp, **kw).value

        try:
            receipt = await self.gateway.payout(inp.payout_id, inp.agent_id, inp.amount_fen, await asyncio.to_thread(account))
        except PeerUnavailable as err:
            raise ApplicationError(str(err), type="PayoutUnavailable") from err  # retried until the workflow's hour
        except PeerRejected as err:
            reason = bank_reason(err.reason)
            state = await asyncio.to_thread(finish, paid_reference=None, cause=ExceptionCause.REJECTED,
                                            reason=reason.value, detail=err.reason)
            log.warning("payout refused again", payout_id=inp.payout_id, reason=reason.value)
            return PayoutRetryOutcome(state=state, reason=reason.value)
        ref = receipt.get("reference", "")
        state = await asyncio.to_thread(finish, paid_reference=ref, cause=ExceptionCause.REJECTED, reason="", detail="")
        log.info("payout exception paid by a retry", payout_id=inp.payout_id, agent_id=inp.agent_id, state=state)
        return PayoutRetryOutcome(state=state, reference=ref)

    @activity.defn(name=contract.RETRY_UNANSWERED)
    def retry_unanswered(self, inp: PayoutRetryInput) -> PayoutRetryOutcome:
        with Session(self.engine) as s:
            state = payouts.finish_retry(s, inp, paid_reference=None, cause=ExceptionCause.UNAVAILABLE,
                                         reason=BankReason.BANK_UNAVAILABLE.value, detail="the bank did not answer the retry")
        return PayoutRetryOutcome(state=state.value, reason=BankReason.BANK_UNAVAILABLE.value)

    @activity.defn(name=contract.SEND_INVOICE_MAIL)
    async def send_invoice_mail(self, inp: InvoiceMailInput) -> str:
        def load() -> tuple[Invoice, str | None]:
            with Session(self.engine) as s:
                inv = invoices.get_invoice(s, inp.invoice_id)
                return inv, invoices.replaced_number(s, inv)

        inv, replaces = await asyncio.to_thread(load)
        if inv.mailed_at is not None:
            return inv.mail_status  # sent before (a retried activity)
        if not inv.email:
            return await asyncio.to_thread(self._record, inp.invoice_id, "no e-mail address on file", sent=False)
        msg = self._message(inv, inp.state, replaces)
        try:
            await self.mailer.send(msg)
        except MailUnavailable as err:
            await asyncio.to_thread(self._record, inp.invoice_id, f"not sent yet: {err}"[:300], sent=False)
            raise ApplicationError(str(err), type="MailUnavailable") from err
        except MailRefused as err:
            return await asyncio.to_thread(self._record, inp.invoice_id, f"refused by the mail server: {err}"[:300],
                                           sent=False)
        log.info("invoice mailed", invoice_id=inp.invoice_id, agent_id=inv.agent_id, state=inp.state)
        return await asyncio.to_thread(self._record, inp.invoice_id, "sent", sent=True)

    def _message(self, inv: Invoice, state: str, replaces: str | None):
        s = get_settings()
        mid = f"<invoice-{inv.id}-{state}@simbo>"
        period = f"{inv.month[:4]}-{inv.month[4:]}"
        if state == InvoiceState.REFUSED.value:
            body = (f"Your invoice request for statement {inv.statement_id} ({period}, {yuan(inv.amount_fen)} yuan) "
                    f"was refused: {inv.refused_reason}\nYou may request it again with corrected details.")
            return self.mailer.message(inv.email, f"Invoice request refused: statement {inv.statement_id}", body, mid)
        pdf = invoice_pdf.render(inv, s.finance_invoice_seller, s.finance_invoice_seller_tax_number, replaces)
        body = (f"Invoice {inv.number} for statement {inv.statement_id} ({period}): {yuan(inv.amount_fen)} yuan, "
                f"tax {yuan(inv.tax_fen)} yuan. The PDF is attached.")
        if replaces:
            body += f"\nIt replaces invoice {replaces}, which is void."
        return self.mailer.message(inv.email, f"Invoice {inv.number}", body, mid,
                                   (Attachment(f"invoice-{inv.number}.pdf", pdf),))

    def _record(self, invoice_id: int, status: str, *, sent: bool) -> str:
        with Session(self.engine) as s:
            inv = invoices.get_invoice(s, invoice_id)
            inv.mail_status = status
            if sent:
                inv.mailed_at = datetime.now(UTC)
            s.add(inv)
            s.commit()
        return status

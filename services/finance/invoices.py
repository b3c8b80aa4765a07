"""Invoices against settled statements (domain/finance/invoices.py): the agent asks with a title and a tax number;
finance issues (number, date, tax) or refuses with a reason, and re-issues (the old one is voided). Each decision is
one transaction; the mail to the agent (the PDF, or the refusal) is then sent by the `invoice-mail-<id>` workflow,
never inside the transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.errors import Conflict, Forbidden, NotFound, Refused
from db.agents import Agent
from db.finance import Invoice
from db.orders import AgentStatement, BatchStatus, SettlementBatch
from domain.clock import SHANGHAI
from domain.finance.invoices import LIVE_STATES, InvoiceState, invoice_number, tax_of
from workflows.finance.contract import InvoiceMailInput


class InvoiceNotFound(NotFound):
    def __init__(self, invoice_id: int) -> None:
        super().__init__(f"no invoice {invoice_id}")


class StatementNotSettled(Refused):
    """Only a statement of a closed batch is invoiced."""


class InvoiceExists(Conflict):
    """The statement has a live invoice (requested or issued): one invoice per statement."""


class InvoiceNotInState(Conflict):
    """The invoice is not in the state the action needs (issue a requested one, re-issue an issued one)."""


def get_invoice(session: Session, invoice_id: int) -> Invoice:
    inv = session.get(Invoice, invoice_id)
    if inv is None:
        raise InvoiceNotFound(invoice_id)
    return inv


def list_invoices(session: Session, *, agent_id: str | None, state: str | None, month: str | None, limit: int,
                  offset: int) -> tuple[list[Invoice], int]:
    from sqlalchemy import func

    conds = []
    if agent_id:
        conds.append(Invoice.agent_id == agent_id)
    if state:
        conds.append(Invoice.state == state)
    if month:
        conds.append(Invoice.month == month)
    total = session.exec(select(func.count()).select_from(Invoice).where(*conds)).one()
    rows = session.exec(select(Invoice).where(*conds).order_by(col(Invoice.id).desc()).limit(limit).offset(offset))
    return list(rows), int(total)


def request_invoice(session: Session, statement_id: str, title: str, tax_number: str, actor: str,
                    agent_scope: str | None) -> Invoice:
    """The agent's request; the amount is the statement's commission. `agent_scope`: an agent asks only for its own."""
    st = session.get(AgentStatement, statement_id)
    if st is None:
        raise NotFound(f"no statement {statement_id}")
    if agent_scope is not None and st.agent_id != agent_scope:
        raise Forbidden(f"statement {statement_id} is not agent {agent_scope}'s", type="not_own_statement")
    batch = session.get(SettlementBatch, st.batch_id)
    if batch is None or batch.status != BatchStatus.CLOSED:
        raise StatementNotSettled(f"statement {statement_id} is not settled yet: its batch has not closed")
    if st.amount_fen <= 0:
        raise StatementNotSettled(f"statement {statement_id} has no commission to invoice")
    inv = Invoice(statement_id=st.id, live_statement_id=st.id, agent_id=st.agent_id, carrier=st.carrier, month=st.month,
                  title=title, tax_number=tax_number, amount_fen=st.amount_fen, state=InvoiceState.REQUESTED.value,
                  requested_by=actor)
    session.add(inv)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        live = session.exec(select(Invoice).where(Invoice.live_statement_id == statement_id)).first()
        raise InvoiceExists(f"statement {statement_id} already has invoice {live.id if live else '?'} "
                            f"({live.state if live else 'live'})") from None
    session.refresh(inv)
    return inv


def _email_of(session: Session, agent_id: str) -> str:
    agent = session.get(Agent, agent_id)
    return agent.email if agent else ""


def _issue_into(session: Session, inv: Invoice, tax_rate_bp: int, actor: str) -> None:
    now = datetime.now(UTC)
    inv.tax_rate_bp, inv.tax_fen = tax_rate_bp, tax_of(inv.amount_fen, tax_rate_bp)
    inv.state, inv.decided_by, inv.decided_at = InvoiceState.ISSUED.value, actor, now
    inv.issued_on = now.astimezone(SHANGHAI).date()
    inv.email = _email_of(session, inv.agent_id)
    session.add(inv)
    session.flush()  # the id, which the number's serial is
    inv.number = invoice_number(inv.issued_on, inv.id or 0)
    session.add(inv)


def _locked_live(session: Session, invoice_id: int, expected: InvoiceState) -> Invoice:
    inv = session.exec(select(Invoice).where(Invoice.id == invoice_id).with_for_update()).first()
    if inv is None:
        raise InvoiceNotFound(invoice_id)
    if inv.state != expected.value:
        raise InvoiceNotInState(f"invoice {invoice_id} is {inv.state}, not {expected.value}")
    return inv


def issue(session: Session, invoice_id: int, tax_rate_bp: int, actor: str) -> tuple[Invoice, InvoiceMailInput]:
    inv = _locked_live(session, invoice_id, InvoiceState.REQUESTED)
    _issue_into(session, inv, tax_rate_bp, actor)
    session.commit()
    session.refresh(inv)
    return inv, mail_input(inv)


def refuse(session: Session, invoice_id: int, reason: str, actor: str) -> tuple[Invoice, InvoiceMailInput]:
    inv = _locked_live(session, invoice_id, InvoiceState.REQUESTED)
    inv.state, inv.refused_reason, inv.live_statement_id = InvoiceState.REFUSED.value, reason, None
    inv.decided_by, inv.decided_at, inv.email = actor, datetime.now(UTC), _email_of(session, inv.agent_id)
    session.add(inv)
    session.commit()
    session.refresh(inv)
    return inv, mail_input(inv)


def reissue(session: Session, invoice_id: int, reason: str, tax_rate_bp: int, actor: str, title: str | None,
            tax_number: str | None) -> tuple[Invoice, InvoiceMailInput]:
    """Void the issued invoice and issue its replacement (a new number) in one transaction."""
    old = _locked_live(session, invoice_id, InvoiceState.ISSUED)
    old.state, old.void_reason, old.live_statement_id = InvoiceState.VOIDED.value, reason, None
    session.add(old)
    session.flush()
    new = Invoice(statement_id=old.statement_id, live_statement_id=old.statement_id, agent_id=old.agent_id,
                  carrier=old.carrier, month=old.month, title=title or old.title,
                  tax_number=tax_number or old.tax_number, amount_fen=old.amount_fen,
                  state=InvoiceState.REQUESTED.value, requested_by=old.requested_by, requested_at=old.requested_at,
                  replaces_id=old.id)
    session.add(new)
    session.flush()
    _issue_into(session, new, tax_rate_bp, actor)
    old.replaced_by_id = new.id
    session.add(old)
    session.commit()
    session.refresh(new)
    return new, mail_input(new)


def mail_input(inv: Invoice) -> InvoiceMailInput:
    return InvoiceMailInput(invoice_id=inv.id or 0, agent_id=inv.agent_id, state=inv.state)


def replaced_number(session: Session, inv: Invoice) -> str | None:
    if inv.replaces_id is None:
        return None
    old = session.get(Invoice, inv.replaces_id)
    return old.number if old else None


def is_live(inv: Invoice) -> bool:
    return InvoiceState(inv.state) in LIVE_STATES


def mailable(session: Session, invoice_id: int) -> Invoice:
    """An invoice whose decision is mailed: issued or refused (a request has nothing to say yet, a voided invoice
    was replaced and its replacement's mail says so)."""
    inv = get_invoice(session, invoice_id)
    if inv.state not in (InvoiceState.ISSUED.value, InvoiceState.REFUSED.value):
        raise InvoiceNotInState(f"invoice {invoice_id} is {inv.state}: nothing to mail")
    return inv

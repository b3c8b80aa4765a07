"""Side effects of a carrier's monthly settlement batch. Each is idempotent: keyed by batch, order and role."""

import asyncio
import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime

import structlog
from sqlalchemy import and_, func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from core.http import PeerRejected, PeerUnavailable
from db.finance import PayoutException, PayoutExceptionStep
from db.orders import (
    AgentStatement,
    AuditRow,
    BatchStatus,
    CommissionLineRecord,
    LineStatus,
    Order,
    SettlementBatch,
)
from domain.finance.payouts import (
    CLOSED_STATES,
    UNAVAILABLE_ATTEMPTS,
    BankReason,
    ExceptionCause,
    ExceptionState,
    bank_reason,
)
from domain.orders.order import ABSENT_FROM_AUDIT, AUDIT_REJECTIONS, AuditResult, FailureReason, OrderStatus
from gateways.carrier import CarrierGateway
from workflows.orders import contract
from workflows.orders.contract import AuditPageOutcome, AuditPageRequest, BatchRef, order_workflow_id

log = structlog.get_logger()
SIGNAL_CONCURRENCY = 50
# Orders still on their way through the chain when the batch closes: the carrier's audit is final.
OPEN_STATUSES = (OrderStatus.AWAITING_AUDIT, OrderStatus.CHECKING_IN_NETWORK, OrderStatus.AWAITING_CHECK_POINT)


def payout_id_of(statement_id: str, line_ids: list[int]) -> str:
    """The payout's idempotency key at the bank: the statement and the exact lines it pays."""
    return f"{statement_id}-{hashlib.sha256(repr(sorted(line_ids)).encode()).hexdigest()[:12]}"


class SettlementActivities:
    def __init__(self, engine: Engine, client: Client, gateway: CarrierGateway) -> None:
        self.engine = engine
        self.client = client
        self.gateway = gateway

    @activity.defn(name=contract.OPEN_BATCH)
    def open_batch(self, ref: BatchRef) -> None:
        with Session(self.engine) as s:
            if s.get(SettlementBatch, ref.batch_id) is None:
                s.add(SettlementBatch(id=ref.batch_id, carrier=ref.carrier, month=ref.month))
                try:
                    s.commit()
                except IntegrityError:
                    s.rollback()

    @activity.defn(name=contract.SETTLE_AUDIT_PAGE)
    async def settle_audit_page(self, req: AuditPageRequest) -> AuditPageOutcome:
        try:
            page = await self.gateway.audit_page(req.carrier, req.month, req.page_token)
        except PeerRejected as err:
            raise ApplicationError(str(err), type="PeerRejected", non_retryable=True) from err
        except PeerUnavailable as err:
            raise ApplicationError(str(err), type="PeerUnavailable") from err
        if not page.get("ready", False):
            return AuditPageOutcome(ready=False, next_page_token=req.page_token)
        activity.heartbeat("page fetched")  # a page is thousands of rows: the workflow learns of a stuck worker early
        verdicts = await asyncio.to_thread(self._record_audit, req, page.get("results", []))
        activity.heartbeat("page recorded")
        await self._signal_all(verdicts)
        settled = sum(1 for _, r in verdicts if r.approved)
        with Session(self.engine) as s:
            s.exec(update(SettlementBatch).where(SettlementBatch.id == BatchRef(carrier=req.carrier, month=req.month).batch_id)
                   .values(pages_applied=SettlementBatch.pages_applied + 1))
            s.commit()
        log.info("audit page applied", carrier=req.carrier, month=req.month, settled=settled,
                 failed=len(verdicts) - settled)
        return AuditPageOutcome(ready=True, next_page_token=page.get("next_page_token"), settled=settled,
                                failed=len(verdicts) - settled)

    def _record_audit(self, req: AuditPageRequest, rows: list[dict]) -> list[tuple[str, AuditResult]]:
        """Store the carrier's rows; return what to tell each order (the order writes its own commission lines)."""
        out: list[tuple[str, AuditResult]] = []
        with Session(self.engine) as s:
            ids = [r["order_id"] for r in rows]
            orders = {o.id: o for o in s.exec(select(Order).where(Order.id.in_(ids)))}  # type: ignore[attr-defined]
            known_rows = set(s.exec(select(AuditRow.order_id).where(
                AuditRow.carrier == req.carrier, AuditRow.month == req.month, AuditRow.order_id.in_(ids))))  # type: ignore[attr-defined]
            for row in rows:
                order = orders.get(row["order_id"])
                if row["order_id"] not in known_rows:
                    # kept for an order we do not know too: finance's reconciliation lists it (unknown order)
                    s.add(AuditRow(carrier=req.carrier, month=req.month, order_id=row["order_id"],
                                   approved=bool(row["approved"]), reason=row.get("reason") or "",
                                   commission_fen=row.get("commission_fen")))
                    known_rows.add(row["order_id"])
                if order is None:
                    log.warning("carrier audit names an order we do not know", carrier=req.carrier,
                                order_id=row["order_id"])
                    continue
                if row["approved"]:
                    out.append((order.id, AuditResult(approved=True, month=req.month,
                                                      commission_fen=int(row.get("commission_fen") or 0))))
                else:
                    reason = AUDIT_REJECTIONS.get(row.get("reason") or "", FailureReason.CARRIER_SYSTEM_ERROR)
                    out.append((order.id, AuditResult(approved=False, month=req.month, reason=reason,
                                                      detail=f"carrier audit rejected: {row.get('reason') or 'no reason given'}")))
            s.commit()
        return out

    async def _signal_all(self, verdicts: list[tuple[str, AuditResult]]) -> None:
        gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)

        async def one(order_id: str, result: AuditResult) -> None:
            async with gate:
                try:
                    await self.client.get_workflow_handle(order_workflow_id(order_id)).signal(contract.AUDIT_RESULT, result)
                except RPCError as err:
                    if err.status != RPCStatusCode.NOT_FOUND:
                        raise
                    log.info("order process already closed; audit kept on record", order_id=order_id)
                activity.heartbeat("signalling orders")  # the SDK throttles these to a fraction of the timeout

        await asyncio.gather(*(one(o, r) for o, r in verdicts))

    @activity.defn(name=contract.FAIL_UNAUDITED_ORDERS)
    async def fail_unaudited_orders(self, ref: BatchRef) -> int:
        """Orders of this carrier and month that the final audit never named fail with a precise reason."""

        def find() -> list[str]:
            with Session(self.engine) as s:
                audited = select(AuditRow.order_id).where(AuditRow.carrier == ref.carrier, AuditRow.month == ref.month)
                return list(s.exec(select(Order.id).where(
                    Order.carrier == ref.carrier, Order.settlement_month == ref.month,
                    Order.status.in_([st.value for st in OPEN_STATUSES]),  # type: ignore[attr-defined]
                    Order.id.not_in(audited))))  # type: ignore[attr-defined]

        missing = await asyncio.to_thread(find)
        await self._signal_all([(o, AuditResult(approved=False, month=ref.month,
                                                reason=FailureReason.CARRIER_SYSTEM_ERROR,
                                                detail=ABSENT_FROM_AUDIT)) for o in missing])
        return len(missing)

    @activity.defn(name=contract.WAIT_FOR_AUDITED_ORDERS)
    def wait_for_audited_orders(self, ref: BatchRef) -> int:
        """Statements wait until every order the audit named has settled or failed. Retried (no history growth)
        while some are still on their way; after the activity's schedule-to-close the batch goes on anyway."""
        with Session(self.engine) as s:
            audited = select(AuditRow.order_id).where(AuditRow.carrier == ref.carrier, AuditRow.month == ref.month)
            pending = s.exec(select(func.count()).select_from(Order).where(
                Order.id.in_(audited),  # type: ignore[attr-defined]
                Order.status.not_in([OrderStatus.SETTLED.value, OrderStatus.FAILED.value]))).one()  # type: ignore[attr-defined]
        if pending:
            activity.heartbeat(pending)
            raise ApplicationError(f"{pending} audited orders still settling", type="OrdersStillSettling")
        return 0

    @activity.defn(name=contract.BUILD_STATEMENTS)
    def build_statements(self, ref: BatchRef) -> int:
        """One statement per agent with lines or failures in this batch; lines are attached to it.

        A line whose order settled after its own month's batch had closed joins this batch's statement of its agent:
        one batch per carrier per month pays it (docs/domain.md, 1.5), never the order on its own."""
        with Session(self.engine) as s:
            closed_months = select(SettlementBatch.month).where(
                SettlementBatch.carrier == ref.carrier, SettlementBatch.month < ref.month,
                SettlementBatch.status == BatchStatus.CLOSED)
            lines = s.exec(select(CommissionLineRecord).where(
                CommissionLineRecord.carrier == ref.carrier,
                or_(CommissionLineRecord.month == ref.month,
                    and_(col(CommissionLineRecord.statement_id).is_(None),
                         col(CommissionLineRecord.month).in_(closed_months))))).all()
            failed = dict(s.exec(select(Order.agent_id, func.count()).where(
                Order.carrier == ref.carrier, Order.settlement_month == ref.month,
                Order.status == OrderStatus.FAILED.value).group_by(Order.agent_id)).all())
            per_agent: dict[str, list[CommissionLineRecord]] = defaultdict(list)
            for line in lines:
                per_agent[line.agent_id].append(line)
            for agent_id in set(per_agent) | set(failed):
                sid = f"{ref.batch_id}-{agent_id}"
                st = s.get(AgentStatement, sid) or AgentStatement(id=sid, batch_id=ref.batch_id, agent_id=agent_id,
                                                                  carrier=ref.carrier, month=ref.month)
                mine = per_agent.get(agent_id, [])
                st.orders_settled = sum(1 for ln in mine if ln.role == "agent")
                st.orders_failed = failed.get(agent_id, 0)
                st.amount_fen = sum(ln.amount_fen for ln in mine)
                st.held_fen = sum(ln.amount_fen for ln in mine if ln.status == LineStatus.HELD)
                for ln in mine:
                    ln.statement_id = sid
                    s.add(ln)
                s.add(st)
            s.commit()
            return len(set(per_agent) | set(failed))

    @activity.defn(name=contract.PAY_AGENTS)
    async def pay_agents(self, ref: BatchRef) -> int:
        """Pay every statement of this carrier with payable lines: this batch's, and lines released since an
        earlier batch by an agent's reinstatement. The payout id names the exact lines, so a retry after a
        crash between paying and recording pays nothing twice.

        One agent's payout never stops the others: a payout the bank refuses becomes a payout exception at once,
        one it does not answer is tried again with the whole step (the paid ones are skipped) and becomes an
        exception after `UNAVAILABLE_ATTEMPTS` attempts. An exception's lines wait for finance (db/finance.py)
        and no later payout takes them."""

        def payable() -> list[tuple[str, str, list[int], int]]:
            with Session(self.engine) as s:
                waiting = set()
                for ids in s.exec(select(PayoutException.line_ids).where(  # type: ignore[call-overload]
                        PayoutException.carrier == ref.carrier,
                        PayoutException.state.not_in([st.value for st in CLOSED_STATES]))).all():  # type: ignore[attr-defined]
                    waiting.update(json.loads(ids))
                lines = s.exec(select(CommissionLineRecord).where(
                    CommissionLineRecord.carrier == ref.carrier, CommissionLineRecord.status == LineStatus.PAYABLE,
                    CommissionLineRecord.statement_id.is_not(None))).all()  # type: ignore[union-attr]
                grouped: dict[tuple[str, str], list[CommissionLineRecord]] = defaultdict(list)
                for ln in lines:
                    if ln.id not in waiting:
                        grouped[(ln.statement_id, ln.agent_id)].append(ln)  # type: ignore[index]
                return [(sid, aid, sorted(ln.id for ln in lns), sum(ln.amount_fen for ln in lns))  # type: ignore[misc]
                        for (sid, aid), lns in sorted(grouped.items())]

        paid, unanswered = 0, []
        last_attempt = activity.info().attempt >= UNAVAILABLE_ATTEMPTS
        for sid, agent_id, line_ids, amount in await asyncio.to_thread(payable):
            payout_id = payout_id_of(sid, line_ids)
            try:
                receipt = await self.gateway.payout(payout_id, agent_id, amount)
            except PeerUnavailable as err:
                if last_attempt:
                    await asyncio.to_thread(self._raise_exception, ref, sid, agent_id, payout_id, line_ids, amount,
                                            ExceptionCause.UNAVAILABLE, BankReason.BANK_UNAVAILABLE, str(err))
                else:
                    unanswered.append(payout_id)
                continue
            except PeerRejected as err:
                await asyncio.to_thread(self._raise_exception, ref, sid, agent_id, payout_id, line_ids, amount,
                                        ExceptionCause.REJECTED, bank_reason(err.reason), err.reason)
                continue
            await asyncio.to_thread(self._mark_paid, sid, line_ids, amount, receipt.get("reference", ""))
            paid += amount
            activity.heartbeat(sid)
        if unanswered:  # the step again: the paid ones are paid, the unanswered asked again under their own ids
            raise ApplicationError(f"the bank did not answer {len(unanswered)} payouts: {', '.join(unanswered[:5])}",
                                   type="PayoutUnavailable")
        return paid

    def _raise_exception(self, ref: BatchRef, statement_id: str, agent_id: str, payout_id: str, line_ids: list[int],
                         amount: int, cause: ExceptionCause, reason: BankReason, detail: str) -> None:
        """Keep the refused payout for finance; recorded once per payout id (a retried step finds it)."""
        with Session(self.engine) as s:
            if s.get(PayoutException, payout_id) is not None:
                return
            st = s.get(AgentStatement, statement_id)
            s.add(PayoutException(id=payout_id, batch_id=ref.batch_id, statement_id=statement_id, agent_id=agent_id,
                                  carrier=ref.carrier, month=st.month if st else ref.month, amount_fen=amount,
                                  line_ids=json.dumps(line_ids), cause=cause.value, reason=reason.value,
                                  detail=detail[:500], state=ExceptionState.OPEN.value, new_account=""))
            s.add(PayoutExceptionStep(payout_id=payout_id, key="raised", action="raised", actor="system:settlement",
                                      detail=f"{cause.value}: {reason.value} ({detail[:200]})"))
            s.commit()
        log.warning("payout exception: the batch pays the others", payout_id=payout_id, agent_id=agent_id,
                    carrier=ref.carrier, reason=reason.value, amount_fen=amount)

    def _mark_paid(self, statement_id: str, line_ids: list[int], amount: int, reference: str) -> None:
        with Session(self.engine) as s:
            s.exec(update(CommissionLineRecord).where(CommissionLineRecord.id.in_(line_ids))  # type: ignore[union-attr]
                   .values(status=LineStatus.PAID))
            st = s.get(AgentStatement, statement_id)
            assert st is not None
            st.paid_fen += amount
            st.payout_ref = reference
            s.add(st)
            s.commit()

    @activity.defn(name=contract.CLOSE_BATCH)
    def close_batch(self, ref: BatchRef) -> dict:
        with Session(self.engine) as s:
            batch = s.get(SettlementBatch, ref.batch_id)
            assert batch is not None, f"batch {ref.batch_id} was never opened"
            stmts = s.exec(select(AgentStatement).where(AgentStatement.batch_id == ref.batch_id)).all()
            batch.orders_settled = sum(st.orders_settled for st in stmts)
            batch.orders_failed = sum(st.orders_failed for st in stmts)
            batch.commission_fen = sum(st.amount_fen for st in stmts)
            batch.paid_fen = sum(st.paid_fen for st in stmts)
            batch.held_fen = sum(st.held_fen for st in stmts)
            raised = s.exec(select(PayoutException).where(PayoutException.batch_id == ref.batch_id)).all()
            batch.exceptions = len(raised)
            batch.exceptions_fen = sum(e.amount_fen for e in raised)
            batch.status = BatchStatus.CLOSED
            batch.closed_at = datetime.now(UTC)
            s.add(batch)
            s.commit()
            return {"paid_fen": batch.paid_fen, "held_fen": batch.held_fen, "statements": len(stmts),
                    "exceptions": batch.exceptions, "exceptions_fen": batch.exceptions_fen}

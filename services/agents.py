"""Agent accounts (agent accounts 1-3 in docs/domain.md): suspensions with their category, appeals answered by an
admin, arrears lifted by finance, maintenance windows, the agents' inbox and the number suspension cases.

Every step is one transaction writing an `AgentStatusChange` (the account's timeline), then the account
workflow `agent-<id>` hears of it (`deliver`): it keeps the clocks (the appeal's reminder and escalation, the
end of a maintenance suspension) and tells the agent. A change whose delivery failed (Temporal down, a crash)
keeps `delivered_at` empty and goes out with the next request about that agent.

Suspending holds the agent's commission lines that are payable and not yet paid; reinstating releases them
(payable again, so the next settlement payout pays them).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from core.db import utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from core.settings import get_settings
from db.agents import (
    Agent,
    AgentNotice,
    AgentStatus,
    AgentStatusChange,
    Appeal,
    AppealAttachment,
    AppealState,
    MaintenanceWindow,
    SuspensionCase,
)
from db.orders import CommissionLineRecord, LineStatus
from domain.agents import reports
from domain.agents.account import (
    AppealOutcome,
    SuspensionCategory,
    SuspensionRefused,
    ViolationKind,
    appeal_clock,
    check_suspension,
)
from domain.agents.attachments import MAX_ATTACHMENTS_PER_APPEAL, AttachmentRefused, check_attachment, display_name
from domain.agents.suspension_case import RECOVERY_STEPS, RECOVERY_WINDOW, CaseFacts, CaseState, RiskTrigger
from domain.clock import month_bounds
from domain.orders.order import SuspensionMode
from workflows.agents import contract
from workflows.agents.contract import (
    AccountEvent,
    AccountStart,
    CaseTrigger,
    MaintenanceChange,
    MaintenanceStart,
    account_workflow_id,
    maintenance_workflow_id,
)

log = structlog.get_logger(__name__)

SUSPEND = "suspend"
REINSTATE = "reinstate"
APPEAL = "appeal"
APPEAL_ANSWERED = "appeal_answered"
ARREARS_PAID = "arrears_paid"
PLATFORM = "platform"  # the actor of steps the account's own clock takes


class AgentNotFound(NotFound):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"unknown agent {agent_id}")


class InvalidTransition(Conflict):
    """Not possible from the account's current status (suspending a suspended agent, ...)."""


@dataclass
class AgentDetail:
    agent: Agent
    history: list[AgentStatusChange]
    payable_fen: int
    held_fen: int
    paid_fen: int
    appeals: list[Appeal]


@dataclass
class StatusResult:
    agent: Agent
    change: AgentStatusChange
    lines_changed: int
    appeal: Appeal | None = None


def _locked(session: Session, agent_id: str) -> Agent:
    # FOR UPDATE on PostgreSQL serialises concurrent transitions; SQLite's BEGIN IMMEDIATE already does.
    agent = session.exec(select(Agent).where(Agent.id == agent_id).with_for_update()).first()
    if agent is None:
        raise AgentNotFound(agent_id)
    return agent


def _flip_lines(session: Session, agent_id: str, src: LineStatus, dst: LineStatus) -> int:
    result = session.exec(  # type: ignore[call-overload]
        update(CommissionLineRecord)
        .where(CommissionLineRecord.agent_id == agent_id, CommissionLineRecord.status == src)
        .values(status=dst)
    )
    return int(result.rowcount or 0)


def _refuse(session: Session, reason: str) -> None:
    session.rollback()
    raise InvalidTransition(reason)


def _done(session: Session, agent: Agent, change: AgentStatusChange, lines: int = 0,
          appeal: Appeal | None = None) -> StatusResult:
    session.commit()
    session.refresh(agent)
    session.refresh(change)
    if appeal is not None:
        session.refresh(appeal)
    return StatusResult(agent=agent, change=change, lines_changed=lines, appeal=appeal)


def current_suspension(session: Session, agent_id: str) -> AgentStatusChange | None:
    return session.exec(
        select(AgentStatusChange).where(AgentStatusChange.agent_id == agent_id, AgentStatusChange.action == SUSPEND)
        .order_by(col(AgentStatusChange.id).desc())).first()


def open_appeal(session: Session, agent_id: str) -> Appeal | None:
    return session.exec(select(Appeal).where(Appeal.agent_id == agent_id, Appeal.state == AppealState.OPEN)).first()


# ---- suspension and reinstatement ---------------------------------------------------------------


def suspend(session: Session, agent_id: str, reason: str, actor: str,
            category: SuspensionCategory = SuspensionCategory.OTHER, violation_kind: ViolationKind | None = None,
            evidence: str = "", until: datetime | None = None, now: datetime | None = None) -> StatusResult:
    """Suspend with a category (agent accounts 1): no new orders (3.1); payable, unpaid lines held (3.2)."""
    try:
        check_suspension(category, violation_kind, until, now or utcnow())
    except SuspensionRefused as err:
        raise Refused(str(err), type="suspension_details") from None
    agent = _locked(session, agent_id)
    if agent.status == AgentStatus.SUSPENDED:
        _refuse(session, f"agent {agent_id} is already suspended: {agent.status_reason}")
    agent.status, agent.status_reason = AgentStatus.SUSPENDED, reason
    agent.suspension_category = category.value
    agent.violation_kind = violation_kind.value if violation_kind else ""
    agent.suspended_until = until
    held = _flip_lines(session, agent_id, LineStatus.PAYABLE, LineStatus.HELD)
    change = AgentStatusChange(agent_id=agent_id, action=SUSPEND, reason=reason, actor=actor, category=category.value,
                               violation_kind=agent.violation_kind, evidence=evidence)
    session.add(agent)
    session.add(change)
    log.info("agent suspended", agent_id=agent_id, actor=actor, category=category.value, lines_held=held)
    return _done(session, agent, change, held)


def _reinstate(session: Session, agent: Agent, reason: str, actor: str, key: str | None = None) -> tuple[AgentStatusChange, int]:
    agent.status, agent.status_reason = AgentStatus.ACTIVE, ""
    agent.suspension_category, agent.violation_kind, agent.suspended_until = "", "", None
    released = _flip_lines(session, agent.id, LineStatus.HELD, LineStatus.PAYABLE)
    appeal = open_appeal(session, agent.id)
    if appeal is not None:  # lifted otherwise before the answer: the appeal still gets its reply (3.3)
        appeal.state, appeal.reply, appeal.answered_by, appeal.answered_at = (
            AppealState.WITHDRAWN, f"the suspension was lifted: {reason}", actor, utcnow())
        session.add(appeal)
    change = AgentStatusChange(agent_id=agent.id, action=REINSTATE, reason=reason, actor=actor, key=key)
    session.add(agent)
    session.add(change)
    log.info("agent reinstated", agent_id=agent.id, actor=actor, lines_released=released)
    return change, released


def reinstate(session: Session, agent_id: str, reason: str, actor: str) -> StatusResult:
    agent = _locked(session, agent_id)
    if agent.status != AgentStatus.SUSPENDED:
        _refuse(session, f"agent {agent_id} is not suspended; nothing to reinstate")
    change, released = _reinstate(session, agent, reason, actor)
    return _done(session, agent, change, released)


def lift_maintenance(session: Session, agent_id: str, suspension_change_id: int | None, key: str) -> AgentStatusChange | None:
    """The end of a maintenance suspension reached (agent accounts 2.4): rights return by themselves. Once per key;
    nothing when the agent was reinstated or suspended again otherwise in the meantime."""
    done = session.exec(select(AgentStatusChange).where(AgentStatusChange.key == key)).first()
    if done is not None:
        return done
    agent = _locked(session, agent_id)
    current = current_suspension(session, agent_id)
    if (agent.status != AgentStatus.SUSPENDED or current is None or current.id != suspension_change_id
            or agent.suspension_category != SuspensionCategory.MAINTENANCE):
        session.rollback()
        return None
    change, _ = _reinstate(session, agent, "maintenance over: rights returned by themselves", PLATFORM, key=key)
    change.delivered_at = utcnow()  # the account workflow asked for it and applies it itself
    session.commit()
    session.refresh(change)
    return change


def arrears_paid(session: Session, agent_id: str, payment_ref: str, amount_fen: int, actor: str) -> StatusResult:
    """Finance reports the arrears paid (agent accounts 2.3): recorded once per payment reference; an arrears
    suspension lifts itself, any other suspension stays (the payment is recorded on the timeline all the same)."""
    key = f"arrears-{payment_ref}"
    agent = _locked(session, agent_id)
    prior = session.exec(select(AgentStatusChange).where(AgentStatusChange.key == key)).first()
    if prior is not None:  # the same payment again: the first record answers
        return _done(session, agent, prior)
    lifts = agent.status == AgentStatus.SUSPENDED and agent.suspension_category == SuspensionCategory.ARREARS
    note = "the arrears suspension lifts itself" if lifts else (
        "recorded; the account is not suspended for arrears" if agent.status == AgentStatus.SUSPENDED
        else "recorded; the account is active")
    paid = AgentStatusChange(agent_id=agent_id, action=ARREARS_PAID, key=key, actor=actor,
                             reason=f"arrears paid: {amount_fen / 100:.2f} yuan, finance payment {payment_ref}; {note}")
    session.add(paid)
    session.flush()
    released = 0
    if lifts:
        _, released = _reinstate(session, agent, f"arrears paid (finance payment {payment_ref})", actor)
    return _done(session, agent, paid, released)


# ---- appeals ------------------------------------------------------------------------------------


def appeal(session: Session, agent_id: str, statement: str, actor: str, attachment_ids: Iterable[str] = (),
           now: datetime | None = None) -> StatusResult:
    """The agent's appeal with a statement and attachments (agent accounts 2.6); an admin's answer is due within
    the configured time (2.7). One open appeal per suspension at a time."""
    s = get_settings()
    agent = _locked(session, agent_id)
    if agent.status != AgentStatus.SUSPENDED:
        _refuse(session, f"agent {agent_id} is not suspended; there is nothing to appeal")
    if open_appeal(session, agent_id) is not None:
        _refuse(session, f"agent {agent_id} has an appeal waiting for its answer")
    ids = list(dict.fromkeys(attachment_ids))
    if len(ids) > MAX_ATTACHMENTS_PER_APPEAL:
        session.rollback()
        raise Invalid(f"at most {MAX_ATTACHMENTS_PER_APPEAL} attachments per appeal", type="too_many_attachments")
    files = session.exec(select(AppealAttachment).where(col(AppealAttachment.id).in_(ids))).all() if ids else []
    usable = {f.id for f in files if f.agent_id == agent_id and f.appeal_id is None}
    if missing := [i for i in ids if i not in usable]:
        session.rollback()
        raise Refused(f"attachments not uploaded by this agent or already used: {', '.join(missing)}",
                      type="unknown_attachment")
    suspension = current_suspension(session, agent_id)
    assert suspension is not None and suspension.id is not None  # suspended accounts have one
    clock = appeal_clock(now or utcnow(), timedelta(hours=s.agent_appeal_answer_hours),
                         timedelta(hours=s.agent_appeal_remind_before_hours))
    row = Appeal(agent_id=agent_id, suspension_change_id=suspension.id, statement=statement, filed_by=actor,
                 filed_at=clock.filed_at, remind_at=clock.remind_at, due_at=clock.due_at)
    session.add(row)
    session.flush()
    for f in files:
        f.appeal_id = row.id
        session.add(f)
    change = AgentStatusChange(agent_id=agent_id, action=APPEAL, reason=statement, actor=actor, appeal_id=row.id,
                               evidence=", ".join(ids))
    session.add(change)
    log.info("agent appeal filed", agent_id=agent_id, actor=actor, appeal_id=row.id, attachments=len(files))
    return _done(session, agent, change, appeal=row)


def answer_appeal(session: Session, agent_id: str, appeal_id: int, outcome: AppealOutcome, reply: str,
                  actor: str) -> StatusResult:
    """An admin's answer: the suspension upheld or the agent reinstated, always with the written reply the agent
    reads (agent accounts 2.6, 3.3). Whoever decided the suspension does not answer its appeal."""
    agent = _locked(session, agent_id)
    row = session.get(Appeal, appeal_id)
    if row is None or row.agent_id != agent_id:
        session.rollback()
        raise NotFound(f"agent {agent_id} has no appeal {appeal_id}")
    if row.state != AppealState.OPEN:
        _refuse(session, f"appeal {appeal_id} is already {row.state.value}")
    suspension = session.get(AgentStatusChange, row.suspension_change_id)
    if suspension is not None and suspension.actor == actor:
        session.rollback()
        raise Forbidden(f"{actor} decided the suspension; another admin answers its appeal", type="same_person")
    row.state, row.outcome, row.reply, row.answered_by, row.answered_at = (
        AppealState.ANSWERED, outcome.value, reply, actor, utcnow())
    session.add(row)
    change = AgentStatusChange(agent_id=agent_id, action=APPEAL_ANSWERED, reason=reply, actor=actor,
                               appeal_id=appeal_id, outcome=outcome.value)
    session.add(change)
    released = 0
    if outcome == AppealOutcome.REINSTATED:
        session.flush()
        _, released = _reinstate(session, agent, f"appeal {appeal_id} answered: reinstated", actor)
    log.info("agent appeal answered", agent_id=agent_id, appeal_id=appeal_id, outcome=outcome.value, actor=actor)
    return _done(session, agent, change, released, appeal=row)


def record_step(session: Session, agent_id: str, action: str, reason: str, key: str, appeal_id: int | None) -> None:
    """A step the account's clock took (reminder, escalation): on the timeline once per key."""
    if session.exec(select(AgentStatusChange).where(AgentStatusChange.key == key)).first() is not None:
        return
    session.add(AgentStatusChange(agent_id=agent_id, action=action, reason=reason, actor=PLATFORM, key=key,
                                  appeal_id=appeal_id, delivered_at=utcnow()))
    row = session.get(Appeal, appeal_id) if appeal_id is not None else None
    if row is not None:
        if action == "appeal_reminder":
            row.reminded_at = utcnow()
        elif action == "appeal_escalated":
            row.escalated_at = utcnow()
        session.add(row)
    try:
        session.commit()
    except IntegrityError:  # a concurrent attempt wrote it first
        session.rollback()


def list_appeals(session: Session, state: AppealState | None, late: bool, now: datetime | None = None) -> list[Appeal]:
    q = select(Appeal)
    if state is not None:
        q = q.where(Appeal.state == state)
    if late:
        q = q.where(Appeal.state == AppealState.OPEN, col(Appeal.due_at) < (now or utcnow()))
    return list(session.exec(q.order_by(col(Appeal.due_at))).all())


# ---- attachments --------------------------------------------------------------------------------


_ATTACHMENT_STATUS = {"attachment_too_large": 413, "attachment_type": 415, "attachment_type_mismatch": 415}


def attachments_dir() -> Path:
    path = Path(get_settings().agent_attachments_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_attachment(session: Session, agent_id: str, file_name: str | None, declared_type: str | None,
                     chunks: Iterable[bytes], actor: str) -> AppealAttachment:
    """Store one upload: read at most the limit (plus one byte to know it is over), check its type by its first
    bytes, write it under the attachments directory named by a fresh id, then record it."""
    if session.get(Agent, agent_id) is None:
        raise AgentNotFound(agent_id)
    limit = get_settings().agent_attachment_max_bytes
    folder = attachments_dir()
    digest, size, head = hashlib.sha256(), 0, b""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    break
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        try:
            content_type = check_attachment(head, declared_type, size, limit)
        except AttachmentRefused as err:
            raise Invalid(str(err), type=err.kind, status=_ATTACHMENT_STATUS.get(err.kind, 422)) from None
        attachment_id = uuid.uuid4().hex
        os.replace(tmp, folder / attachment_id)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    row = AppealAttachment(id=attachment_id, agent_id=agent_id, file_name=display_name(file_name),
                           content_type=content_type, size_bytes=size, sha256=digest.hexdigest(), uploaded_by=actor)
    session.add(row)
    session.commit()
    session.refresh(row)
    log.info("appeal attachment stored", agent_id=agent_id, attachment_id=attachment_id, size=size, type=content_type)
    return row


def attachment(session: Session, agent_id: str, attachment_id: str) -> tuple[AppealAttachment, Path]:
    row = session.get(AppealAttachment, attachment_id)
    if row is None or row.agent_id != agent_id:
        raise NotFound(f"agent {agent_id} has no attachment {attachment_id}")
    return row, attachments_dir() / row.id  # the id is ours (hex), never the uploader's name


def attachments_of(session: Session, appeal_ids: list[int]) -> list[AppealAttachment]:
    if not appeal_ids:
        return []
    return list(session.exec(select(AppealAttachment).where(col(AppealAttachment.appeal_id).in_(appeal_ids))
                             .order_by(col(AppealAttachment.uploaded_at))).all())


# ---- reading ------------------------------------------------------------------------------------


def detail(session: Session, agent_id: str) -> AgentDetail:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise AgentNotFound(agent_id)
    history = session.exec(
        select(AgentStatusChange)
        .where(AgentStatusChange.agent_id == agent_id)
        .order_by(col(AgentStatusChange.at), col(AgentStatusChange.id))
    ).all()
    sums = dict(
        session.exec(  # type: ignore[arg-type]
            select(CommissionLineRecord.status, func.coalesce(func.sum(CommissionLineRecord.amount_fen), 0))
            .where(CommissionLineRecord.agent_id == agent_id)
            .group_by(CommissionLineRecord.status)
        ).all()
    )
    appeals = session.exec(select(Appeal).where(Appeal.agent_id == agent_id).order_by(col(Appeal.id))).all()
    return AgentDetail(
        agent=agent,
        history=list(history),
        payable_fen=int(sums.get(LineStatus.PAYABLE, 0)),
        held_fen=int(sums.get(LineStatus.HELD, 0)),
        paid_fen=int(sums.get(LineStatus.PAID, 0)),
        appeals=list(appeals),
    )


def inbox(session: Session, agent_id: str, unread_only: bool, limit: int) -> list[AgentNotice]:
    if session.get(Agent, agent_id) is None:
        raise AgentNotFound(agent_id)
    q = select(AgentNotice).where(or_(AgentNotice.agent_id == agent_id, AgentNotice.agent_id == ""))
    if unread_only:
        q = q.where(col(AgentNotice.read_at).is_(None))
    return list(session.exec(q.order_by(col(AgentNotice.at).desc(), col(AgentNotice.id).desc()).limit(limit)).all())


def mark_read(session: Session, agent_id: str, notice_id: int) -> AgentNotice:
    row = session.get(AgentNotice, notice_id)
    if row is None or row.agent_id not in (agent_id, ""):
        raise NotFound(f"agent {agent_id} has no notice {notice_id}")
    if row.agent_id and row.read_at is None:  # a notice to every agent stays unread for the others
        row.read_at = utcnow()
        session.add(row)
        session.commit()
        session.refresh(row)
    return row


def notify(session: Session, key: str, agent_id: str, kind: str, text: str) -> None:
    if session.exec(select(AgentNotice).where(AgentNotice.key == key)).first() is not None:
        return
    session.add(AgentNotice(key=key, agent_id=agent_id, kind=kind, text=text))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()


# ---- telling the account workflow ---------------------------------------------------------------


def _text(change: AgentStatusChange, agent: Agent | None) -> str:
    if change.action == SUSPEND:
        kind = f" ({change.violation_kind})" if change.violation_kind else ""
        until = f" until {agent.suspended_until.isoformat()}" if agent and agent.suspended_until else ""
        return (f"Your account is suspended{until}: {change.category}{kind}: {change.reason}. You cannot place orders; "
                "your commissions are held, not lost. You may appeal with a statement and evidence.")
    if change.action == APPEAL:
        return f"Your appeal {change.appeal_id} is received; an admin answers it."
    if change.action == APPEAL_ANSWERED:
        word = "reinstated" if change.outcome == AppealOutcome.REINSTATED else "the suspension is upheld"
        return f"Your appeal {change.appeal_id} is answered: {word}. Reply: {change.reason}"
    if change.action == REINSTATE:
        return f"Your account is active again ({change.reason}); held commissions go out with the next payout."
    if change.action == ARREARS_PAID:
        return f"Finance recorded your payment: {change.reason}."
    return ""


def pending_events(session: Session, agent_id: str) -> list[AccountEvent]:
    """The recorded steps the account workflow has not heard of yet, oldest first."""
    return _events(session, agent_id, session.exec(select(AgentStatusChange).where(
        AgentStatusChange.agent_id == agent_id, col(AgentStatusChange.delivered_at).is_(None))
        .order_by(col(AgentStatusChange.id))).all())


def pending_events_of(session: Session, agent_id: str, change_ids: list[int]) -> list[AccountEvent]:
    return _events(session, agent_id, session.exec(select(AgentStatusChange).where(
        col(AgentStatusChange.id).in_(change_ids)).order_by(col(AgentStatusChange.id))).all())


def _events(session: Session, agent_id: str, changes) -> list[AccountEvent]:
    if not changes:
        return []
    agent = session.get(Agent, agent_id)
    appeals = {a.id: a for a in session.exec(select(Appeal).where(
        col(Appeal.id).in_([c.appeal_id for c in changes if c.appeal_id]))).all()}
    events = []
    for c in changes:
        a = appeals.get(c.appeal_id) if c.appeal_id else None
        events.append(AccountEvent(
            change_id=int(c.id), agent_id=agent_id, action=c.action, at=c.at, actor=c.actor,  # type: ignore[arg-type]
            category=SuspensionCategory(c.category) if c.category else None,
            violation_kind=ViolationKind(c.violation_kind) if c.violation_kind else None,
            suspended_until=agent.suspended_until if agent and c.action == SUSPEND else None,
            appeal_id=c.appeal_id, appeal_remind_at=a.remind_at if a and c.action == APPEAL else None,
            appeal_due_at=a.due_at if a and c.action == APPEAL else None,
            outcome=AppealOutcome(c.outcome) if c.outcome else None, text=_text(c, agent)))
    return events


def mark_events_delivered(session: Session, change_ids: list[int]) -> None:
    if change_ids:
        session.exec(update(AgentStatusChange).where(col(AgentStatusChange.id).in_(change_ids))  # type: ignore[call-overload]
                     .values(delivered_at=utcnow()))
        session.commit()


async def signal_account(client: Client, event: AccountEvent) -> None:
    await client.start_workflow(
        contract.ACCOUNT_WORKFLOW, AccountStart(agent_id=event.agent_id), id=account_workflow_id(event.agent_id),
        task_queue=contract.TASK_QUEUE, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=contract.ACCOUNT_EVENT, start_signal_args=[event])


async def deliver(client: Client | None, events: list[AccountEvent]) -> list[int]:
    """Signal (with start) the account workflow with each step, in order; the ids delivered. A failure stops
    there: the rest keep `delivered_at` empty and go out with the next request about this agent."""
    delivered: list[int] = []
    if client is None:
        if events:
            log.warning("account steps not delivered: Temporal unreachable", pending=len(events))
        return delivered
    for ev in events:
        try:
            await signal_account(client, ev)
        except Exception as err:  # noqa: BLE001 - kept for the next request
            log.warning("account step not delivered", agent_id=ev.agent_id, change_id=ev.change_id,
                        error=f"{type(err).__name__}: {err}")
            break
        delivered.append(ev.change_id)
    return delivered


# ---- maintenance windows ------------------------------------------------------------------------


def announce_maintenance(session: Session, starts_at: datetime, ends_at: datetime, message: str, actor: str,
                         now: datetime | None = None) -> MaintenanceWindow:
    """A platform maintenance window announced ahead (agent accounts 2.4): ordering pauses during it."""
    if ends_at <= starts_at:
        raise Refused("a maintenance window ends after it starts", type="maintenance_window")
    if ends_at <= (now or utcnow()):
        raise Refused("a maintenance window cannot end in the past", type="maintenance_window")
    row = MaintenanceWindow(starts_at=starts_at, ends_at=ends_at, message=message, announced_by=actor)
    session.add(row)
    session.commit()
    session.refresh(row)
    log.info("maintenance announced", window_id=row.id, actor=actor)
    return row


def maintenance_start(row: MaintenanceWindow) -> MaintenanceStart:
    return MaintenanceStart(window_id=int(row.id), starts_at=row.starts_at, ends_at=row.ends_at,  # type: ignore[arg-type]
                            message=row.message)


async def start_maintenance(client: Client, row: MaintenanceWindow) -> None:
    await client.start_workflow(contract.MAINTENANCE_WORKFLOW, maintenance_start(row),
                                id=maintenance_workflow_id(int(row.id)), task_queue=contract.TASK_QUEUE,  # type: ignore[arg-type]
                                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


async def signal_maintenance(client: Client, window_id: int, change: MaintenanceChange) -> None:
    await client.get_workflow_handle(maintenance_workflow_id(window_id)).signal(contract.MAINTENANCE_CHANGE, change)


def change_maintenance(session: Session, window_id: int, starts_at: datetime | None, ends_at: datetime | None,
                       cancel: bool, actor: str) -> tuple[MaintenanceWindow, MaintenanceChange]:
    row = session.get(MaintenanceWindow, window_id)
    if row is None:
        raise NotFound(f"no maintenance window {window_id}")
    if row.state in ("ended", "cancelled"):
        raise InvalidTransition(f"maintenance window {window_id} is {row.state}")
    if cancel:
        row.state, row.cancelled_by = "cancelled", actor
    else:
        s, e = starts_at or row.starts_at, ends_at or row.ends_at
        if e <= s:
            raise Refused("a maintenance window ends after it starts", type="maintenance_window")
        row.starts_at, row.ends_at = s, e
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, MaintenanceChange(starts_at=starts_at, ends_at=ends_at, cancelled=cancel, actor=actor)


def set_maintenance_state(session: Session, window_id: int, state: str) -> None:
    row = session.get(MaintenanceWindow, window_id)
    if row is not None and row.state != "cancelled":
        row.state = state
        session.add(row)
        session.commit()


def maintenance_at(session: Session, at: datetime) -> MaintenanceWindow | None:
    """The window ordering is paused by at this instant, if any (by its times, whatever the workflow's progress)."""
    return session.exec(select(MaintenanceWindow).where(
        MaintenanceWindow.state != "cancelled", col(MaintenanceWindow.starts_at) <= at,
        col(MaintenanceWindow.ends_at) > at).order_by(col(MaintenanceWindow.ends_at).desc())).first()


def maintenance_windows(session: Session, include_past: bool, now: datetime | None = None) -> list[MaintenanceWindow]:
    q = select(MaintenanceWindow)
    if not include_past:
        q = q.where(MaintenanceWindow.state != "cancelled", col(MaintenanceWindow.ends_at) > (now or utcnow()))
    return list(session.exec(q.order_by(col(MaintenanceWindow.starts_at))).all())


# ---- number suspension cases --------------------------------------------------------------------


def recovery_guide() -> dict[str, object]:
    return {"steps": list(RECOVERY_STEPS),
            "windows_hours": {k.value: int(v.total_seconds() // 3600) for k, v in RECOVERY_WINDOW.items()}}


def suspension_cases(session: Session, agent_id: str | None, order_id: str | None, state: str | None,
                     overdue: bool | None, limit: int, offset: int) -> tuple[list[SuspensionCase], int]:
    conds = []
    if agent_id:
        conds.append(SuspensionCase.agent_id == agent_id)
    if order_id:
        conds.append(SuspensionCase.order_id == order_id)
    if state:
        conds.append(SuspensionCase.state == state)
    if overdue is not None:
        conds.append(SuspensionCase.overdue == overdue)
    total = session.exec(select(func.count()).select_from(SuspensionCase).where(*conds)).one()
    rows = session.exec(select(SuspensionCase).where(*conds).order_by(col(SuspensionCase.suspended_at).desc())
                        .limit(limit).offset(offset)).all()
    return list(rows), int(total)


def case_facts(row: SuspensionCase) -> CaseFacts:
    """A case as the agent, ops and the order's checklist see it."""
    return CaseFacts(case_id=row.id, order_id=row.order_id, n=row.n, agent_id=row.agent_id, carrier=row.carrier,
                     msisdn_masked=row.msisdn_masked, kind=SuspensionMode(row.kind),
                     trigger=RiskTrigger(row.trigger) if row.trigger else None, suspended_at=row.suspended_at,
                     window_ends_at=row.window_ends_at, state=CaseState(row.state), restored_at=row.restored_at,
                     closed_at=row.closed_at, reminders=row.reminders, close_note=row.close_note)


def cases_of_order(session: Session, order_id: str) -> list[CaseFacts]:
    rows = session.exec(select(SuspensionCase).where(SuspensionCase.order_id == order_id)
                        .order_by(col(SuspensionCase.n))).all()
    return [case_facts(r) for r in rows]


def suspension_case(session: Session, case_id: str) -> SuspensionCase:
    row = session.get(SuspensionCase, case_id)
    if row is None:
        raise NotFound(f"no suspension case {case_id}")
    return row


async def set_case_trigger(client: Client, row: SuspensionCase, trigger: RiskTrigger, actor: str) -> None:
    if row.kind != "risk_control":
        raise Invalid("only a risk-control hold has a trigger", type="not_risk_control")
    if row.state not in ("open", "overdue"):
        raise InvalidTransition(f"suspension case {row.id} is {row.state}")
    await client.get_workflow_handle(contract.suspension_case_workflow_id(row.order_id, row.n)).signal(
        contract.CASE_TRIGGER, CaseTrigger(trigger=trigger, actor=actor))


# ---- monthly reports ----------------------------------------------------------------------------


def case_report(session: Session, month: str, agent_id: str | None) -> list[tuple]:
    """Suspension cases opened in the month (Asia/Shanghai), per agent, carrier and kind."""
    start, end = month_bounds(month)
    q = select(SuspensionCase).where(col(SuspensionCase.suspended_at) >= start, col(SuspensionCase.suspended_at) < end)
    if agent_id:
        q = q.where(SuspensionCase.agent_id == agent_id)
    return reports.case_report(reports.CaseLine(r.agent_id, r.carrier, r.kind, r.suspended_at, r.window_ends_at,
                                                r.restored_at) for r in session.exec(q).all())


def account_report(session: Session, month: str, agent_id: str | None) -> list[tuple]:
    """Suspensions decided and appeals filed in the month (Asia/Shanghai), per agent."""
    start, end = month_bounds(month)
    sq = select(AgentStatusChange).where(AgentStatusChange.action == SUSPEND, col(AgentStatusChange.at) >= start,
                                         col(AgentStatusChange.at) < end)
    aq = select(Appeal).where(col(Appeal.filed_at) >= start, col(Appeal.filed_at) < end)
    if agent_id:
        sq, aq = sq.where(AgentStatusChange.agent_id == agent_id), aq.where(Appeal.agent_id == agent_id)
    suspensions = [(c.agent_id, c.category or "other") for c in session.exec(sq).all()]
    appeals = [reports.AppealLine(a.agent_id, a.outcome or ("withdrawn" if a.state == AppealState.WITHDRAWN else "open"),
                                  a.filed_at, a.answered_at, a.escalated_at is not None) for a in session.exec(aq).all()]
    return reports.account_report(suspensions, appeals)

"""Delivery rescue tasks as the agent works them (settlement rules 1.9): list, record each contact attempt with its
outcome, close with a resolution. The task row is the record; the order workflow owns the clocks (reminders, the
give-up) and hears of a close by the `rescue_closed` signal, sent after the commit. A close whose signal did not
go out (`close_signalled_at` empty) goes out again with the next close or list of that agent's tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import func
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.db import utcnow
from core.errors import Conflict, NotFound, Refused
from db.orders import Order, RescueContact, RescueTask
from domain.orders.delivery import ContactChannel, ContactOutcome, RescueResolution, day_slot
from workflows.orders import contract
from workflows.orders.contract import RescueClosed, order_workflow_id

log = structlog.get_logger(__name__)


class RescueClosedAlready(Conflict):
    """The task is closed (by the agent, the parcel's news or the give-up): nothing more to record on it."""


@dataclass
class TaskView:
    task: RescueTask
    contacts: list[RescueContact] = field(default_factory=list)

    @property
    def channels_tried(self) -> list[str]:
        return sorted({c.channel for c in self.contacts})

    @property
    def day_slots_tried(self) -> list[str]:
        return sorted({day_slot(c.at).value for c in self.contacts})


def _views(session: Session, tasks: list[RescueTask]) -> list[TaskView]:
    ids = [int(t.id) for t in tasks]  # type: ignore[arg-type]
    contacts: dict[int, list[RescueContact]] = {i: [] for i in ids}
    if ids:
        for c in session.exec(select(RescueContact).where(col(RescueContact.task_id).in_(ids))
                              .order_by(col(RescueContact.at), col(RescueContact.id))):
            contacts[c.task_id].append(c)
    return [TaskView(t, contacts[int(t.id)]) for t in tasks]  # type: ignore[arg-type]


def list_tasks(session: Session, agent_id: str | None, open_only: bool | None, order_id: str | None, limit: int,
               offset: int) -> tuple[list[TaskView], int]:
    """Tasks newest first; `open_only` True: still open, False: closed, None: both."""
    conds = []
    if agent_id:
        conds.append(RescueTask.agent_id == agent_id)
    if order_id:
        conds.append(RescueTask.order_id == order_id)
    if open_only is True:
        conds.append(col(RescueTask.resolved_at).is_(None))
    elif open_only is False:
        conds.append(col(RescueTask.resolved_at).is_not(None))
    total = session.exec(select(func.count()).select_from(RescueTask).where(*conds)).one()
    tasks = session.exec(select(RescueTask).where(*conds).order_by(col(RescueTask.opened_at).desc(),
                                                                   col(RescueTask.id).desc())
                         .limit(limit).offset(offset)).all()
    return _views(session, list(tasks)), int(total)


def get_task(session: Session, task_id: int) -> TaskView:
    task = session.get(RescueTask, task_id)
    if task is None:
        raise NotFound(f"unknown rescue task {task_id}")
    return _views(session, [task])[0]


def record_contact(session: Session, task_id: int, at: datetime, channel: ContactChannel, outcome: ContactOutcome,
                   note: str, by: str, now: datetime | None = None) -> TaskView:
    task = get_task(session, task_id).task
    if task.resolved_at is not None:
        raise RescueClosedAlready(f"rescue task {task_id} is closed ({task.resolution}): no more attempts on it")
    if at > (now or utcnow()):
        raise Refused("a contact attempt is recorded after it happened, not before", type="contact_in_future")
    if at < task.opened_at:
        raise Refused(f"the task was opened at {task.opened_at.isoformat()}: an attempt before it belongs to no task",
                      type="contact_before_task")
    session.add(RescueContact(task_id=task_id, at=at, channel=channel.value, outcome=outcome.value, note=note, by=by))
    session.commit()
    log.info("rescue contact recorded", task_id=task_id, order_id=task.order_id, agent_id=task.agent_id,
             channel=channel.value, outcome=outcome.value)
    return get_task(session, task_id)


def close_task(session: Session, task_id: int, resolution: RescueResolution, note: str, by: str,
               now: datetime | None = None) -> TaskView:
    """Close once; the same close again answers the task as it is (a retry after a lost answer)."""
    task = get_task(session, task_id).task
    if task.resolved_at is not None:
        if task.closed_by and task.resolution == resolution.value:
            return get_task(session, task_id)
        raise RescueClosedAlready(f"rescue task {task_id} is closed already ({task.resolution})")
    task.resolved_at, task.resolution, task.closed_by, task.close_note = now or utcnow(), resolution.value, by, note
    session.add(task)
    session.commit()
    log.info("rescue task closed by the agent", task_id=task_id, order_id=task.order_id, agent_id=task.agent_id,
             resolution=resolution.value)
    return get_task(session, task_id)


def unsignalled_closes(session: Session, agent_id: str | None = None) -> list[RescueTask]:
    conds = [col(RescueTask.closed_by) != "", col(RescueTask.close_signalled_at).is_(None)]
    if agent_id:
        conds.append(RescueTask.agent_id == agent_id)
    return list(session.exec(select(RescueTask).where(*conds).order_by(col(RescueTask.id)).limit(100)).all())


async def signal_closes(client: Client | None, tasks: list[RescueTask]) -> list[int]:
    """Tell each order workflow of its task's close; the ids told (an order already ended counts: nothing to
    tell). A failure leaves the rest for the next request."""
    told: list[int] = []
    if client is None:
        return told
    for t in tasks:
        try:
            await client.get_workflow_handle(order_workflow_id(t.order_id)).signal(
                contract.RESCUE_CLOSED, RescueClosed(exception_event_id=t.exception_event_id, resolution=t.resolution,
                                                     by=t.closed_by))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                log.warning("rescue close not signalled", task_id=t.id, order_id=t.order_id, error=str(err))
                break
        except Exception as err:  # noqa: BLE001 - kept for the next request
            log.warning("rescue close not signalled", task_id=t.id, order_id=t.order_id,
                        error=f"{type(err).__name__}: {err}")
            break
        told.append(int(t.id))  # type: ignore[arg-type]
    return told


def mark_signalled(session: Session, task_ids: list[int]) -> None:
    for task_id in task_ids:
        if (t := session.get(RescueTask, task_id)) is not None and t.close_signalled_at is None:
            t.close_signalled_at = utcnow()
            session.add(t)
    session.commit()


def order_of(session: Session, order_id: str) -> Order | None:
    return session.get(Order, order_id)

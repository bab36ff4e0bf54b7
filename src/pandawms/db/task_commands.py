"""Queued task commands (PanDA's commandToTask / JEDI's TaskCommando queue): insert, pending in order,
mark processed. ``processed_at`` NULL = pending (``ix_task_commands_pending``); ``params`` is the
command's request as JSON text (services/task_commands.py reads and writes it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pandawms.core.task_commands import CommandOutcome
from pandawms.core.tasks import TaskCommand
from pandawms.db.schema import task_commands

REASON_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class CommandRow:
    command_id: int
    task_id: int
    command: TaskCommand
    params: str  # JSON
    requested_by: str
    created_at: datetime
    processed_at: datetime | None
    outcome: CommandOutcome | None
    reason: str


def _row(r: Any) -> CommandRow:
    return CommandRow(
        command_id=int(r.command_id),
        task_id=int(r.task_id),
        command=TaskCommand(r.command),
        params=r.params,
        requested_by=r.requested_by,
        created_at=r.created_at,
        processed_at=r.processed_at,
        outcome=CommandOutcome(r.outcome) if r.outcome else None,
        reason=r.reason,
    )


def insert_command(
    conn: Connection, task_id: int, command: TaskCommand, params: str, requested_by: str, now: datetime
) -> int:
    """Queue a command; returns its id."""
    stmt = (
        insert(task_commands)
        .values(
            task_id=task_id, command=command.value, params=params, requested_by=requested_by, created_at=now
        )
        .returning(task_commands.c.command_id)
    )
    return int(conn.execute(stmt).scalar_one())


def pending(conn: Connection, limit: int, after: int = 0) -> list[CommandRow]:
    """Commands not yet carried out, oldest first (an index range on ``ix_task_commands_pending``)."""
    stmt = (
        select(task_commands)
        .where(task_commands.c.processed_at.is_(None), task_commands.c.command_id > after)
        .order_by(task_commands.c.command_id)
        .limit(limit)
    )
    return [_row(r) for r in conn.execute(stmt)]


def pending_for(conn: Connection, task_id: int, command: TaskCommand) -> CommandRow | None:
    """The task's pending ``command``, if one is queued."""
    stmt = (
        select(task_commands)
        .where(
            task_commands.c.task_id == task_id,
            task_commands.c.command == command.value,
            task_commands.c.processed_at.is_(None),
        )
        .order_by(task_commands.c.command_id)
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return _row(row) if row is not None else None


def mark_processed(
    conn: Connection, command_id: int, outcome: CommandOutcome, reason: str, now: datetime
) -> bool:
    """Record how a pending command ended; False if it was processed already (compare-and-set)."""
    stmt = (
        update(task_commands)
        .where(task_commands.c.command_id == command_id, task_commands.c.processed_at.is_(None))
        .values(processed_at=now, outcome=outcome.value, reason=reason[:REASON_LENGTH])
    )
    return conn.execute(stmt).rowcount == 1


def commands_of(conn: Connection, task_id: int) -> list[CommandRow]:
    """A task's commands, oldest first (``ix_task_commands_task``)."""
    stmt = (
        select(task_commands).where(task_commands.c.task_id == task_id).order_by(task_commands.c.command_id)
    )
    return [_row(r) for r in conn.execute(stmt)]

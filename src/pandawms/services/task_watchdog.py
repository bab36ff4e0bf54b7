"""JEDI's task WatchDog (states.md §2.2): a task ``pending`` for ``pending_wait`` (60 min) goes back to
the status it was in, to try again; one pending for ``pending_timeout`` (7 d) becomes ``exhausted``;
input rows stuck ``picked`` for ``picked_timeout`` (30 min) return to ``ready``.

Restoring moves the task out of pending, so "pending for 7 days" is measured over the streak of
pending spells joined by this watchdog's own restores in the task history (pending_since).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pandawms.core.tasks import TaskStatus
from pandawms.db import tasks as tasks_db
from pandawms.db.tasks import TaskHistoryEntry
from pandawms.services import lifecycle_taskfiles, lifecycle_tasks
from pandawms.services.activator import Batch

T = TaskStatus
RESTORE_PREFIX = "pending for"
_PENDING = frozenset({T.PENDING})


@dataclass(frozen=True, slots=True)
class WatchdogTimes:
    pending_wait: timedelta = timedelta(minutes=60)
    pending_timeout: timedelta = timedelta(days=7)
    picked_timeout: timedelta = timedelta(minutes=30)


def pending_since(history: Sequence[TaskHistoryEntry]) -> datetime | None:
    """When the task's current pending streak began: the oldest entry into ``pending`` reached from the
    newest one through pending spells and watchdog restores only (None if the task is not pending)."""
    since: datetime | None = None
    for entry in reversed(history):
        if entry.status == T.PENDING.value:
            since = entry.change_time
        elif not (entry.previous_status == T.PENDING.value and entry.reason.startswith(RESTORE_PREFIX)):
            break
        if since is None:
            break
    return since


def watch_pending(conn: Connection, now: datetime, times: WatchdogTimes, limit: int, after: int = 0) -> Batch:
    """One batch of pending tasks by id from ``after``: restore or exhaust those waiting long enough."""
    ids = tasks_db.task_ids_in(conn, [T.PENDING], limit, after)
    moved = sum(1 for task_id in ids if _one(conn, task_id, now, times))
    return Batch(len(ids), moved, ids[-1] if ids else after)


def _one(conn: Connection, task_id: int, now: datetime, times: WatchdogTimes) -> bool:
    task = tasks_db.get_task(conn, task_id, lock=True)
    if task is None or task.status is not T.PENDING:
        return False
    waited = now - task.state_change_time
    if waited < times.pending_wait:
        return False
    since = pending_since(tasks_db.history(conn, task_id)) or task.state_change_time
    why = task.error_dialog or "no reason given"
    if now - since >= times.pending_timeout:
        reason = f"pending since {since:%Y-%m-%d %H:%M} ({_span(now - since)}): {why}"
        moved = lifecycle_tasks.transition_task(conn, task_id, T.EXHAUSTED, now, reason, only_from=_PENDING)
    else:
        reason = f"{RESTORE_PREFIX} {_span(waited)}, trying again ({why})"
        moved = lifecycle_tasks.transition_task(
            conn, task_id, T.READY, now, reason, only_from=_PENDING, restore=True
        )
    return moved.accepted


def rescue_picked(conn: Connection, now: datetime, times: WatchdogTimes, limit: int) -> int:
    """Input rows ``picked`` longer than ``picked_timeout`` (a generator that died mid-cycle) -> ready."""
    return lifecycle_taskfiles.rescue_picked(conn, now - times.picked_timeout, now, limit)


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} d {hours % 24} h"

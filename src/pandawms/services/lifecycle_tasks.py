"""The ONLY code that writes the status of tasks and task datasets (and, through the job generator's
and the job-end hook's calls, task files).

Tasks follow core.tasks.TASK_TRANSITIONS: each change locks the row, checks the table, writes with
compare-and-set and appends task_history in the caller's transaction. Entering ``pending`` or ``paused``
saves the status to return to (``old_status``); leaving them with ``restore=True`` goes back there. A
repeat is a no-op, a refusal carries the reason and the current status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from pandawms.core.errors import NotFound
from pandawms.core.tasks import (
    TASK_FINAL_STATES,
    TaskDatasetStatus,
    TaskStatus,
    task_allowed,
    task_dataset_allowed,
)
from pandawms.core.taskspecs import NewTaskDataset, Task, TaskSpec
from pandawms.db import tasks as tasks_db
from pandawms.db.tasks import TaskHistoryEntry


class TaskOutcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOOP = "noop"


@dataclass(frozen=True, slots=True)
class TaskTransition:
    outcome: TaskOutcome
    status: TaskStatus  # the status now
    previous: TaskStatus
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.outcome is TaskOutcome.ACCEPTED


# Entering these saves the status to come back to.
_SAVING = frozenset({TaskStatus.PENDING, TaskStatus.PAUSED})
# Entering these records the reason as the task's error dialog (shown by task/get and the monitor).
_DIALOG = frozenset(
    {
        TaskStatus.PENDING,
        TaskStatus.PAUSED,
        TaskStatus.EXHAUSTED,
        TaskStatus.TOBROKEN,
        TaskStatus.BROKEN,
        TaskStatus.FAILED,
        TaskStatus.ABORTING,
        TaskStatus.ABORTED,
        TaskStatus.FINISHED,
    }
)
_STARTED = frozenset({TaskStatus.SCOUTING, TaskStatus.RUNNING})


def create_task(
    conn: Connection,
    spec: TaskSpec,
    params_json: str,
    datasets: Sequence[NewTaskDataset],
    now: datetime,
    *,
    priority: int | None = None,
    reason: str = "submitted",
) -> int:
    """Store a new task ``registered`` with its parameters and datasets (``defined``); returns its id."""
    task_id = tasks_db.insert_task(
        conn,
        spec,
        TaskStatus.REGISTERED,
        params_json,
        now,
        spec.task_priority if priority is None else priority,
    )
    tasks_db.insert_datasets(conn, task_id, datasets, TaskDatasetStatus.DEFINED, now)
    tasks_db.insert_history(conn, [TaskHistoryEntry(task_id, TaskStatus.REGISTERED.value, "", now, reason)])
    return task_id


def transition_task(
    conn: Connection,
    task_id: int,
    target: TaskStatus,
    now: datetime,
    reason: str = "",
    *,
    only_from: frozenset[TaskStatus] | None = None,
    restore: bool = False,
) -> TaskTransition:
    """Move one task to ``target`` (or, with ``restore``, back to the status saved when it entered
    pending/paused, ``target`` being the fallback); NotFound if there is no such task.

    ``only_from`` narrows the table for callers acting on a status they just read (agents): a task that
    moved on in between is refused instead of being changed.
    """
    task = tasks_db.get_task(conn, task_id, lock=True)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    current = task.status
    if restore and task.old_status is not None:
        target = task.old_status
    if current is target:
        return TaskTransition(
            TaskOutcome.NOOP, current, current, f"task {task_id} is already {current.value}"
        )
    if only_from is not None and current not in only_from:
        why = f"task {task_id} is {current.value}, not {_names(only_from)}"
        return TaskTransition(TaskOutcome.REJECTED, current, current, why)
    if not task_allowed(current, target):
        why = f"task {task_id} is {current.value}: it cannot become {target.value}"
        return TaskTransition(TaskOutcome.REJECTED, current, current, why)
    columns = _columns(task, target, reason, now)
    if not tasks_db.write_task_status(conn, task_id, current, target, now, columns):
        return TaskTransition(TaskOutcome.REJECTED, current, current, f"task {task_id} changed concurrently")
    tasks_db.insert_history(conn, [TaskHistoryEntry(task_id, target.value, current.value, now, reason)])
    return TaskTransition(TaskOutcome.ACCEPTED, target, current, reason)


def transition_dataset(
    conn: Connection, dataset_id: int, target: TaskDatasetStatus, now: datetime
) -> TaskOutcome:
    """Move one task dataset along TASK_DATASET_TRANSITIONS; NotFound if there is no such dataset."""
    ds = tasks_db.get_dataset(conn, dataset_id, lock=True)
    if ds is None:
        raise NotFound(f"task dataset {dataset_id} not found")
    if ds.status is target:
        return TaskOutcome.NOOP
    if not task_dataset_allowed(ds.status, target):
        return TaskOutcome.REJECTED
    ok = tasks_db.write_dataset_status(conn, dataset_id, ds.status, target, now)
    return TaskOutcome.ACCEPTED if ok else TaskOutcome.REJECTED


def add_datasets(conn: Connection, task_id: int, new: Sequence[NewTaskDataset], now: datetime) -> list[int]:
    """Datasets added to an existing task (``defined``; the feeder's transient pre-merge datasets)."""
    return tasks_db.insert_datasets(conn, task_id, new, TaskDatasetStatus.DEFINED, now)


def note(conn: Connection, task_id: int, now: datetime, reason: str) -> None:
    """A history row without a status change (an attribute the engine changed, e.g. by a retry rule)."""
    task = tasks_db.get_task(conn, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    status = task.status.value
    tasks_db.insert_history(conn, [TaskHistoryEntry(task_id, status, status, now, reason[:1000])])


def _columns(task: Task, target: TaskStatus, reason: str, now: datetime) -> dict[str, Any]:
    """What entering ``target`` writes besides the status: the saved status, the dialog, the times."""
    current = task.status
    columns: dict[str, Any] = {}
    if target in _SAVING:
        columns["old_status"] = (task.old_status or current).value if current in _SAVING else current.value
    elif current in _SAVING:
        columns["old_status"] = ""
    if target in _DIALOG and reason:
        columns["error_dialog"] = reason[:1000]
    if target in _STARTED and task.start_time is None:
        columns["start_time"] = now
    if target in TASK_FINAL_STATES:
        columns["end_time"] = now
    return columns


def _names(states: frozenset[TaskStatus]) -> str:
    return "/".join(sorted(s.value for s in states))

"""Tasks repository: task rows, their parameters, history and datasets (JEDI_Tasks, JEDI_TaskParams,
JEDI_Datasets).

The status writers (insert_task, write_task_status, insert_datasets, write_dataset_status) are called
only by services/lifecycle_tasks.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pandawms.core.specs import ProdSourceLabel
from pandawms.core.tasks import TaskDatasetStatus, TaskDatasetType, TaskStatus
from pandawms.core.taskspecs import NewTaskDataset, Task, TaskDataset, TaskSpec
from pandawms.db.schema import task_datasets, task_history, task_params, tasks

_SPEC_COLUMNS = tuple(
    f for f in TaskSpec.__dataclass_fields__ if f not in ("included_sites", "excluded_sites")
)


def _csv(values: Sequence[str]) -> str:
    return ",".join(values)


def _spec_row(spec: TaskSpec) -> dict[str, Any]:
    row: dict[str, Any] = {c: getattr(spec, c) for c in _SPEC_COLUMNS}
    row["prod_source_label"] = spec.prod_source_label.value
    row["included_sites"] = _csv(spec.included_sites)
    row["excluded_sites"] = _csv(spec.excluded_sites)
    return row


def _split(text: str) -> tuple[str, ...]:
    return tuple(v for v in text.split(",") if v)


def task_from_row(r: Any) -> Task:
    """A tasks row (any select of all its columns) as a Task."""
    values = {c: getattr(r, c) for c in _SPEC_COLUMNS}
    values["prod_source_label"] = ProdSourceLabel(r.prod_source_label)
    spec = TaskSpec(
        **values, included_sites=_split(r.included_sites), excluded_sites=_split(r.excluded_sites)
    )
    return Task(
        task_id=int(r.task_id),
        spec=spec,
        status=TaskStatus(r.status),
        old_status=TaskStatus(r.old_status) if r.old_status else None,
        error_dialog=r.error_dialog,
        current_priority=r.current_priority,
        scout_jobs=r.scout_jobs,
        locked_by=r.locked_by,
        creation_time=r.creation_time,
        modification_time=r.modification_time,
        state_change_time=r.state_change_time,
        start_time=r.start_time,
        end_time=r.end_time,
    )


@dataclass(frozen=True, slots=True)
class TaskHistoryEntry:
    task_id: int
    status: str
    previous_status: str
    change_time: datetime
    reason: str = ""


# -- tasks ---------------------------------------------------------------------------------------------


def insert_task(
    conn: Connection, spec: TaskSpec, status: TaskStatus, params_json: str, now: datetime, priority: int
) -> int:
    """Insert the task row (in ``status``) and its parameter JSON; returns the new jediTaskID."""
    row = {
        **_spec_row(spec),
        "status": status.value,
        "current_priority": priority,
        "creation_time": now,
        "modification_time": now,
        "state_change_time": now,
    }
    task_id = int(conn.execute(insert(tasks).values(**row).returning(tasks.c.task_id)).scalar_one())
    conn.execute(insert(task_params).values(task_id=task_id, params=params_json))
    return task_id


def get_task(conn: Connection, task_id: int, *, lock: bool = False) -> Task | None:
    """The task (``lock``: FOR UPDATE on PostgreSQL; SQLite write transactions hold the lock already)."""
    stmt = select(tasks).where(tasks.c.task_id == task_id)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    return task_from_row(row) if row is not None else None


def get_params(conn: Connection, task_id: int) -> str | None:
    """The task-parameter JSON as submitted."""
    row = conn.execute(select(task_params.c.params).where(task_params.c.task_id == task_id)).first()
    return str(row[0]) if row is not None else None


def write_task_status(
    conn: Connection,
    task_id: int,
    expected: TaskStatus,
    target: TaskStatus,
    now: datetime,
    columns: Mapping[str, Any],
) -> bool:
    """Compare-and-set the status plus ``columns`` (old_status, error_dialog, times); True when the row
    was in ``expected``."""
    stmt = (
        update(tasks)
        .where(tasks.c.task_id == task_id, tasks.c.status == expected.value)
        .values(status=target.value, state_change_time=now, modification_time=now, **columns)
    )
    return conn.execute(stmt).rowcount == 1


def update_task(conn: Connection, task_id: int, now: datetime, columns: Mapping[str, Any]) -> None:
    """Write non-status columns (measured sizes, priority, scout count, lock)."""
    if "status" in columns or "old_status" in columns:
        raise ValueError("task status changes go through services/lifecycle_tasks.py")
    conn.execute(update(tasks).where(tasks.c.task_id == task_id).values(modification_time=now, **columns))


def insert_history(conn: Connection, entries: Sequence[TaskHistoryEntry]) -> None:
    if entries:
        conn.execute(
            insert(task_history),
            [
                {
                    "task_id": e.task_id,
                    "status": e.status,
                    "previous_status": e.previous_status,
                    "change_time": e.change_time,
                    "reason": e.reason[:1000],
                }
                for e in entries
            ],
        )


def history(conn: Connection, task_id: int) -> list[TaskHistoryEntry]:
    """The task's status changes, oldest first."""
    stmt = select(task_history).where(task_history.c.task_id == task_id).order_by(task_history.c.row_id)
    return [
        TaskHistoryEntry(int(r.task_id), r.status, r.previous_status, r.change_time, r.reason)
        for r in conn.execute(stmt)
    ]


def task_ids_in(conn: Connection, statuses: Sequence[TaskStatus], limit: int, after: int = 0) -> list[int]:
    """Ids of tasks in ``statuses`` (an agent's batch), by id from ``after``."""
    stmt = (
        select(tasks.c.task_id)
        .where(tasks.c.status.in_([s.value for s in statuses]), tasks.c.task_id > after)
        .order_by(tasks.c.task_id)
        .limit(limit)
    )
    return [int(r[0]) for r in conn.execute(stmt)]


# -- datasets ------------------------------------------------------------------------------------------


def _dataset(r: Any) -> TaskDataset:
    return TaskDataset(
        dataset_id=int(r.dataset_id),
        task_id=int(r.task_id),
        type=TaskDatasetType(r.type),
        master_id=int(r.master_id) if r.master_id is not None else None,
        scope=r.scope,
        name=r.name,
        status=TaskDatasetStatus(r.status),
        mutable=bool(r.mutable),
        template=r.template,
        destination=r.destination,
        next_serial=r.next_serial,
        n_files=r.n_files,
        n_files_used=r.n_files_used,
        n_files_finished=r.n_files_finished,
        n_files_failed=r.n_files_failed,
        n_events=int(r.n_events),
        n_events_used=int(r.n_events_used),
    )


def insert_datasets(
    conn: Connection, task_id: int, new: Sequence[NewTaskDataset], status: TaskDatasetStatus, now: datetime
) -> list[int]:
    """Insert a task's datasets in order (secondary inputs after their master); returns their ids."""
    ids: list[int] = []
    for d in new:
        master = ids[d.master_index] if d.master_index is not None else None
        values = {
            "task_id": task_id,
            "type": d.type.value,
            "master_id": master,
            "scope": d.scope,
            "name": d.name,
            "status": status.value,
            "mutable": d.mutable,
            "template": d.template,
            "destination": d.destination,
            "creation_time": now,
            "modification_time": now,
        }
        stmt = insert(task_datasets).values(**values).returning(task_datasets.c.dataset_id)
        ids.append(int(conn.execute(stmt).scalar_one()))
    return ids


def datasets_of(conn: Connection, task_id: int) -> list[TaskDataset]:
    """A task's datasets, in the order they were defined."""
    stmt = (
        select(task_datasets).where(task_datasets.c.task_id == task_id).order_by(task_datasets.c.dataset_id)
    )
    return [_dataset(r) for r in conn.execute(stmt)]


def get_dataset(conn: Connection, dataset_id: int, *, lock: bool = False) -> TaskDataset | None:
    stmt = select(task_datasets).where(task_datasets.c.dataset_id == dataset_id)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    return _dataset(row) if row is not None else None


def write_dataset_status(
    conn: Connection,
    dataset_id: int,
    expected: TaskDatasetStatus,
    target: TaskDatasetStatus,
    now: datetime,
) -> bool:
    stmt = (
        update(task_datasets)
        .where(task_datasets.c.dataset_id == dataset_id, task_datasets.c.status == expected.value)
        .values(status=target.value, modification_time=now)
    )
    return conn.execute(stmt).rowcount == 1


def update_dataset(conn: Connection, dataset_id: int, now: datetime, columns: Mapping[str, Any]) -> None:
    """Write non-status columns (counters, mutable, next_serial)."""
    if "status" in columns:
        raise ValueError("dataset status changes go through services/lifecycle_tasks.py")
    conn.execute(
        update(task_datasets)
        .where(task_datasets.c.dataset_id == dataset_id)
        .values(modification_time=now, **columns)
    )

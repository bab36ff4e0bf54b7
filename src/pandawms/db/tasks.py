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

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from pandawms.core.specs import ProdSourceLabel
from pandawms.core.states import JobStatus
from pandawms.core.tasks import (
    INPUT_TYPES,
    TASK_FINAL_STATES,
    FileCounts,
    TaskDatasetStatus,
    TaskDatasetType,
    TaskStatus,
)
from pandawms.core.taskspecs import NewTaskDataset, Task, TaskDataset, TaskQuery, TaskSpec
from pandawms.db.schema import jobs, task_datasets, task_history, task_params, tasks

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


def tasks_with_datasets_in(
    conn: Connection, status: TaskDatasetStatus, task_statuses: Sequence[str], limit: int
) -> list[int]:
    """Tasks in ``task_statuses`` (ix_tasks_status_modtime) with an input dataset in ``status``
    (ix_task_datasets_task), by id: e.g. inputs still being loaded (``toupdate``)."""
    td = task_datasets
    stmt = (
        select(tasks.c.task_id)
        .join(td, td.c.task_id == tasks.c.task_id)
        .where(tasks.c.status.in_(list(task_statuses)))
        .where(td.c.status == status.value, td.c.type.in_([t.value for t in INPUT_TYPES]))
        .group_by(tasks.c.task_id)
        .order_by(tasks.c.task_id)
        .limit(limit)
    )
    return [int(r[0]) for r in conn.execute(stmt)]


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


# -- listings, submission checks and a task's jobs (read-only) -----------------------------------------

_FINAL_VALUES = tuple(s.value for s in TASK_FINAL_STATES)


def lock_submissions(conn: Connection, key: str) -> None:
    """Serialise task submissions under ``key`` (one user) until the transaction ends, so two concurrent
    submits cannot both pass the duplicate check or the active-task cap (a PostgreSQL advisory lock;
    SQLite write transactions are serial already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


def active_duplicate(
    conn: Connection, vo: str, label: str, user: str, task_name: str
) -> tuple[int, TaskStatus] | None:
    """A non-final task with the same vo, prodSourceLabel, userName and taskName (ix_tasks_name)."""
    stmt = (
        select(tasks.c.task_id, tasks.c.status)
        .where(
            tasks.c.vo == vo,
            tasks.c.prod_source_label == label,
            tasks.c.user_name == user,
            tasks.c.task_name == task_name,
            tasks.c.status.not_in(_FINAL_VALUES),
        )
        .order_by(tasks.c.task_id)
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return (int(row.task_id), TaskStatus(row.status)) if row is not None else None


def count_active(conn: Connection, user: str) -> int:
    """The user's tasks that are not final (ix_tasks_user_id)."""
    stmt = select(func.count()).where(tasks.c.user_name == user, tasks.c.status.not_in(_FINAL_VALUES))
    return int(conn.execute(stmt).scalar_one())


def glob_pattern(glob: str) -> str:
    """A LIKE pattern (escape character ``\\``) for a glob with ``*`` and ``?``."""
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _name_filter(glob: str, sqlite: bool) -> ColumnElement[bool]:
    """Case-sensitive on both back ends: SQLite's LIKE ignores ASCII case, its GLOB does not (task
    names cannot hold GLOB's other special characters, ``[`` and ``]``)."""
    if sqlite:
        return tasks.c.task_name.op("GLOB")(glob)
    return tasks.c.task_name.like(glob_pattern(glob), escape="\\")


def _task_filters(q: TaskQuery, sqlite: bool) -> list[ColumnElement[bool]]:
    pairs: list[tuple[Any, tuple[str, ...]]] = [
        (tasks.c.status, tuple(s.value for s in q.statuses)),
        (tasks.c.user_name, q.users),
        (tasks.c.prod_source_label, q.labels),
        (tasks.c.working_group, q.working_groups),
    ]
    filters: list[ColumnElement[bool]] = [col.in_(vals) for col, vals in pairs if vals]
    if q.name and ("*" in q.name or "?" in q.name):
        filters.append(_name_filter(q.name, sqlite))
    elif q.name:
        filters.append(tasks.c.task_name == q.name)
    if q.parent_task_id is not None:
        filters.append(tasks.c.parent_task_id == q.parent_task_id)
    if q.since is not None:
        filters.append(tasks.c.modification_time >= q.since)
    if q.before_id is not None:
        filters.append(tasks.c.task_id < q.before_id)
    return filters


def list_tasks(conn: Connection, q: TaskQuery) -> list[Task]:
    """Newest first; pass the last jediTaskID of a page as ``before_id`` for the next one."""
    filters = _task_filters(q, conn.dialect.name == "sqlite")
    stmt = select(tasks).where(*filters).order_by(tasks.c.task_id.desc()).limit(q.limit)
    return [task_from_row(r) for r in conn.execute(stmt)]


def input_progress(conn: Connection, task_ids: Sequence[int]) -> dict[int, FileCounts]:
    """Master input files of each task (total, finished, failed), summed over its master inputs."""
    if not task_ids:
        return {}
    d = task_datasets
    stmt = (
        select(
            d.c.task_id,
            func.sum(d.c.n_files),
            func.sum(d.c.n_files_finished),
            func.sum(d.c.n_files_failed),
        )
        .where(
            d.c.task_id.in_(list(task_ids)),
            d.c.type.in_([t.value for t in INPUT_TYPES]),
            d.c.master_id.is_(None),
        )
        .group_by(d.c.task_id)
    )
    return {int(r[0]): FileCounts(int(r[1] or 0), int(r[2] or 0), int(r[3] or 0)) for r in conn.execute(stmt)}


def job_counts(conn: Connection, task_id: int) -> dict[str, int]:
    """The task's jobs by status (ix_jobs_task_id)."""
    stmt = (
        select(jobs.c.job_status, func.count()).where(jobs.c.task_id == task_id).group_by(jobs.c.job_status)
    )
    return {str(r[0]): int(r[1]) for r in conn.execute(stmt)}


def running_jobs(conn: Connection, task_ids: Sequence[int]) -> dict[int, int]:
    """Running jobs of each of ``task_ids`` (tasks with none are absent)."""
    if not task_ids:
        return {}
    stmt = (
        select(jobs.c.task_id, func.count())
        .where(jobs.c.task_id.in_(list(task_ids)), jobs.c.job_status == JobStatus.RUNNING.value)
        .group_by(jobs.c.task_id)
    )
    return {int(r[0]): int(r[1]) for r in conn.execute(stmt)}


def job_ids(conn: Connection, task_id: int) -> list[int]:
    """PandaIDs of the task's jobs, oldest first (ix_jobs_task_id)."""
    stmt = select(jobs.c.panda_id).where(jobs.c.task_id == task_id).order_by(jobs.c.panda_id)
    return [int(r[0]) for r in conn.execute(stmt)]

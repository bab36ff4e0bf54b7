"""Task files repository (JEDI_Dataset_Contents): one row per input file, event range of a file, or
produced output of a task.

The status writers (``insert_files``, ``write_changes``, ``start_rows``, ``release_rows``) are called only
by services/lifecycle_taskfiles.py. Every status write is a compare-and-set on the expected status, and
bulk writes say how many rows they changed so the caller can refuse a partial one (roll back).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY

from pandawms.core.states import ACTIVE_STATES, JobStatus
from pandawms.core.tasks import TaskFileStatus
from pandawms.db.lean import LeanInsert
from pandawms.db.schema import jobs, task_datasets, task_files, tasks

tf = task_files


@dataclass(frozen=True, slots=True)
class NewTaskFile:
    """A row to insert (the feeder's inputs, the generator's outputs)."""

    task_id: int
    dataset_id: int
    scope: str
    lfn: str
    status: TaskFileStatus
    chunk: int = 0
    guid: str = ""
    fsize: int = 0
    checksum: str = ""
    n_events: int = 0
    start_event: int | None = None
    end_event: int | None = None
    attempt_nr: int = 0
    max_attempt: int = 3
    max_failure: int | None = None
    ram_count: int = 0
    is_scout: bool = False
    panda_id: int | None = None
    boundary: str = ""


@dataclass(frozen=True, slots=True)
class TaskFileRow:
    """A stored row. ``status`` changes only through services/lifecycle_taskfiles.py."""

    file_id: int
    task_id: int
    dataset_id: int
    scope: str
    lfn: str
    chunk: int
    guid: str
    fsize: int
    checksum: str
    n_events: int
    start_event: int | None
    end_event: int | None
    status: TaskFileStatus
    attempt_nr: int
    max_attempt: int
    failed_attempt: int
    max_failure: int | None
    ram_count: int
    is_scout: bool
    panda_id: int | None
    boundary: str


@dataclass(frozen=True, slots=True)
class RowChange:
    """A compare-and-set of one row: from ``expected`` to ``status`` with the counters after."""

    file_id: int
    expected: TaskFileStatus
    status: TaskFileStatus
    attempt_nr: int
    failed_attempt: int
    max_attempt: int
    ram_count: int
    max_failure: int | None = None


_NEW_FIELDS = tuple(f for f in NewTaskFile.__dataclass_fields__ if f != "status")
_new_values = operator.attrgetter(*_NEW_FIELDS)
# PostgreSQL: ON CONFLICT DO NOTHING; SQLite: the lean path runs INSERT OR IGNORE (db/lean.py).
_INSERT = LeanInsert(postgresql.insert(tf).on_conflict_do_nothing(), or_ignore=True)


def _row(r: Any) -> TaskFileRow:
    return TaskFileRow(
        file_id=int(r.file_id),
        task_id=int(r.task_id),
        dataset_id=int(r.dataset_id),
        scope=r.scope,
        lfn=r.lfn,
        chunk=r.chunk,
        guid=r.guid,
        fsize=int(r.fsize),
        checksum=r.checksum,
        n_events=r.n_events,
        start_event=r.start_event,
        end_event=r.end_event,
        status=TaskFileStatus(r.status),
        attempt_nr=r.attempt_nr,
        max_attempt=r.max_attempt,
        failed_attempt=r.failed_attempt,
        max_failure=r.max_failure,
        ram_count=r.ram_count,
        is_scout=bool(r.is_scout),
        panda_id=int(r.panda_id) if r.panda_id is not None else None,
        boundary=r.boundary,
    )


# -- inserts (lifecycle_taskfiles only) ------------------------------------------------------------------


_COLUMNS = (*_NEW_FIELDS, "status", "failed_attempt", "creation_time", "modification_time")


def insert_files(conn: Connection, new: Sequence[NewTaskFile], now: datetime) -> int:
    """Insert rows, skipping those already there (ux_task_files_file); returns how many were new
    (PostgreSQL: one ``INSERT ... SELECT unnest(...) ON CONFLICT DO NOTHING``, db/lean.py)."""
    if not new:
        return 0
    rows = [(*_new_values(n), n.status.value, 0, now, now) for n in new]
    return _INSERT.execute_values(conn, _COLUMNS, rows)


_ALL_VALUES = operator.attrgetter(*NewTaskFile.__dataclass_fields__)
_PANDA_AT = list(NewTaskFile.__dataclass_fields__).index("panda_id")


def for_job(row: NewTaskFile, panda_id: int) -> NewTaskFile:
    """``row`` with its job's PandaID (dataclasses.replace cost ~10x more, twice per generated job)."""
    values = _ALL_VALUES(row)
    return NewTaskFile(*values[:_PANDA_AT], panda_id, *values[_PANDA_AT + 1 :])  # type: ignore[call-arg]  # every field, in order


# -- status writes (lifecycle_taskfiles only) ---------------------------------------------------------

_START = (
    update(tf)
    .where(tf.c.file_id == bindparam("b_id"), tf.c.status == bindparam("b_expected"))
    .values(status=bindparam("b_status"), panda_id=bindparam("b_panda"), modification_time=bindparam("b_now"))
)
# PostgreSQL: one UPDATE joined to the (file_id, panda_id) arrays instead of one statement per row.
_PAIRS = select(
    func.unnest(bindparam("b_ids", type_=ARRAY(BigInteger))).label("file_id"),
    func.unnest(bindparam("b_pandas", type_=ARRAY(BigInteger))).label("panda_id"),
).subquery("pairs")
_START_PG = (
    update(tf)
    .where(tf.c.file_id == _PAIRS.c.file_id, tf.c.status == bindparam("b_expected"))
    .values(status=bindparam("b_status"), panda_id=_PAIRS.c.panda_id, modification_time=bindparam("b_now"))
)


def start_rows(
    conn: Connection,
    pairs: Sequence[tuple[int, int]],
    expected: TaskFileStatus,
    target: TaskFileStatus,
    now: datetime,
) -> int:
    """(file_id, panda_id) pairs: ``expected`` -> ``target`` with the job's PandaID; how many changed."""
    if not pairs:
        return 0
    fixed = {"b_expected": expected.value, "b_status": target.value, "b_now": now}
    if conn.dialect.name == "postgresql":
        ids, pandas = [f for f, _ in pairs], [p for _, p in pairs]
        return int(conn.execute(_START_PG, {"b_ids": ids, "b_pandas": pandas, **fixed}).rowcount)
    params = [{"b_id": fid, "b_panda": pid, **fixed} for fid, pid in pairs]
    return int(conn.execute(_START, params).rowcount)


_CHANGE = (
    update(tf)
    .where(tf.c.file_id == bindparam("b_id"), tf.c.status == bindparam("b_expected"))
    .values(
        status=bindparam("b_status"),
        attempt_nr=bindparam("b_attempt"),
        failed_attempt=bindparam("b_failed"),
        max_attempt=bindparam("b_max"),
        max_failure=bindparam("b_max_failure"),
        ram_count=bindparam("b_ram"),
        modification_time=bindparam("b_now"),
    )
)


def write_changes(conn: Connection, changes: Sequence[RowChange], now: datetime) -> int:
    """Compare-and-set each row's status and counters; how many rows changed."""
    if not changes:
        return 0
    params = [
        {
            "b_id": c.file_id,
            "b_expected": c.expected.value,
            "b_status": c.status.value,
            "b_attempt": c.attempt_nr,
            "b_failed": c.failed_attempt,
            "b_max": c.max_attempt,
            "b_ram": c.ram_count,
            "b_max_failure": c.max_failure,
            "b_now": now,
        }
        for c in changes
    ]
    return int(conn.execute(_CHANGE, params).rowcount)


def release_rows(
    conn: Connection,
    status: TaskFileStatus,
    target: TaskFileStatus,
    now: datetime,
    *,
    older_than: datetime,
    limit: int = 1000,
) -> list[TaskFileRow]:
    """Rows in ``status`` last changed before ``older_than`` -> ``target``, up to ``limit`` (oldest
    first, ix_task_files_status_modtime); returns the rows as they were."""
    stmt = select(tf).where(tf.c.status == status.value)
    if older_than is not None:
        stmt = stmt.where(tf.c.modification_time < older_than)
    rows = [_row(r) for r in conn.execute(stmt.order_by(tf.c.modification_time).limit(limit))]
    if rows:
        stmt2 = (
            update(tf)
            .where(tf.c.file_id.in_([r.file_id for r in rows]), tf.c.status == status.value)
            .values(status=target.value, modification_time=now)
        )
        conn.execute(stmt2)
    return rows


# -- reads ---------------------------------------------------------------------------------------------

_READY = (
    select(tf)
    .where(
        tf.c.dataset_id == bindparam("b_ds"),
        tf.c.status == TaskFileStatus.READY.value,
        tf.c.attempt_nr < tf.c.max_attempt,
        or_(tf.c.max_failure.is_(None), tf.c.failed_attempt < tf.c.max_failure),
    )
    .order_by(tf.c.file_id)
    .limit(bindparam("b_limit"))
)
_READY_SCOUTS = _READY.where(tf.c.is_scout == True)  # noqa: E712 (SQL)


def ready_rows(
    conn: Connection, dataset_id: int, limit: int, *, scouts_only: bool = False
) -> list[TaskFileRow]:
    """Eligible ready rows of a dataset in file_id order (ix_task_files_status): attempts and failures
    left (states.md §4)."""
    stmt = _READY_SCOUTS if scouts_only else _READY
    return [_row(r) for r in conn.execute(stmt, {"b_ds": dataset_id, "b_limit": limit})]


_OF_JOB = select(tf).where(tf.c.panda_id == bindparam("b_pid")).order_by(tf.c.file_id)


def rows_of_job(conn: Connection, panda_id: int) -> list[TaskFileRow]:
    """The rows a job uses or produces (ix_task_files_panda)."""
    return [_row(r) for r in conn.execute(_OF_JOB, {"b_pid": panda_id})]


def rows_of_dataset(conn: Connection, dataset_id: int, limit: int = 100_000) -> list[TaskFileRow]:
    stmt = select(tf).where(tf.c.dataset_id == dataset_id).order_by(tf.c.file_id).limit(limit)
    return [_row(r) for r in conn.execute(stmt)]


def failed_rows(conn: Connection, dataset_id: int, limit: int) -> list[TaskFileRow]:
    """A dataset's failed rows (a task retry's input), by file_id (ix_task_files_status)."""
    stmt = (
        select(tf)
        .where(tf.c.dataset_id == dataset_id, tf.c.status == TaskFileStatus.FAILED.value)
        .order_by(tf.c.file_id)
        .limit(limit)
    )
    return [_row(r) for r in conn.execute(stmt)]


def counts(conn: Connection, dataset_id: int) -> dict[TaskFileStatus, tuple[int, int]]:
    """Rows and events of a dataset per status."""
    stmt = (
        select(tf.c.status, func.count(), func.coalesce(func.sum(tf.c.n_events), 0))
        .where(tf.c.dataset_id == dataset_id)
        .group_by(tf.c.status)
    )
    return {TaskFileStatus(s): (int(n), int(e)) for s, n, e in conn.execute(stmt)}


def fed_files(conn: Connection, dataset_id: int) -> int:
    """Distinct catalog files fed into a dataset (chunk 0 of each)."""
    stmt = select(func.count()).where(tf.c.dataset_id == dataset_id, tf.c.chunk == 0)
    return int(conn.execute(stmt).scalar_one())


def add_counts(conn: Connection, dataset_id: int, now: datetime, **delta: int) -> None:
    """Add to a dataset's counters (n_files, n_files_used, n_files_finished, n_files_failed, n_events,
    n_events_used) in one statement."""
    if "status" in delta:
        raise ValueError("dataset status changes go through services/lifecycle_tasks.py")
    values: dict[str, Any] = {k: task_datasets.c[k] + v for k, v in delta.items() if v}
    if values:
        stmt = update(task_datasets).where(task_datasets.c.dataset_id == dataset_id)
        conn.execute(stmt.values(modification_time=now, **values))


def mark_scouts(conn: Connection, dataset_id: int, n: int) -> int:
    """The first ``n`` rows of a dataset become scouts (is_scout); returns how many."""
    first = select(tf.c.file_id).where(tf.c.dataset_id == dataset_id).order_by(tf.c.file_id).limit(n)
    ids = [int(r[0]) for r in conn.execute(first)]
    if ids:
        conn.execute(update(tf).where(tf.c.file_id.in_(ids)).values(is_scout=True))
    return len(ids)


# -- a task's jobs ------------------------------------------------------------------------------------


def task_job_counts(conn: Connection, task_id: int) -> dict[JobStatus, int]:
    """A task's active jobs per status (ix_jobs_task_id; ended jobs are skipped, not counted)."""
    stmt = (
        select(jobs.c.job_status, func.count())
        .where(jobs.c.task_id == task_id, jobs.c.job_status.in_([s.value for s in ACTIVE_STATES]))
        .group_by(jobs.c.job_status)
    )
    return {JobStatus(s): int(n) for s, n in conn.execute(stmt)}


def task_job_ids(conn: Connection, task_id: int) -> list[int]:
    """Every job of a task, by PandaID (ix_jobs_task_id)."""
    stmt = select(jobs.c.panda_id).where(jobs.c.task_id == task_id).order_by(jobs.c.panda_id)
    return [int(r[0]) for r in conn.execute(stmt)]


# -- merging (services/merging.py) ---------------------------------------------------------------------


def prepared_pieces(conn: Connection, dataset_id: int, limit: int) -> list[tuple[TaskFileRow, str]]:
    """A transient dataset's prepared pieces in file_id order (ix_task_files_status), each with the
    queue of the job that last had it (its producer, or a merge job that failed there; "" unknown)."""
    stmt = (
        select(tf, jobs.c.computing_site)
        .outerjoin(jobs, jobs.c.panda_id == tf.c.panda_id)
        .where(tf.c.dataset_id == dataset_id, tf.c.status == TaskFileStatus.PREPARED.value)
        .order_by(tf.c.file_id)
        .limit(limit)
    )
    return [(_row(r), r.computing_site or "") for r in conn.execute(stmt)]


def tasks_with_pieces(conn: Connection, statuses: Sequence[str], limit: int) -> list[int]:
    """Tasks in ``statuses`` with prepared pre-merge pieces (ix_task_files_status_modtime), by id."""
    stmt = (
        select(tf.c.task_id)
        .join(tasks, tasks.c.task_id == tf.c.task_id)
        .where(tf.c.status == TaskFileStatus.PREPARED.value, tasks.c.status.in_(list(statuses)))
        .group_by(tf.c.task_id)
        .order_by(tf.c.task_id)
        .limit(limit)
    )
    return [int(r[0]) for r in conn.execute(stmt)]

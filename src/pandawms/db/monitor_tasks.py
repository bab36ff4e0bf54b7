"""Monitor reads for the task pages (/tasks/, /task/<id>/): every statement is a grouped query or a LIMITed
index range, so a page costs O(shown rows + groups) in Python whatever the size of the task (read-only).

- The task list reads one status at a time on ``ix_tasks_status_modtime`` newest first with a LIMIT and
  merges (as the job list does on ``ix_jobs_status_modtime``); counts by status are index-only when only
  states and the window filter.
- Progress comes from the master input datasets' counters (``task_datasets``), never from file rows.
- The jobs a listed task has running or queued are the ``panda_id`` of its input rows in ``picked``/
  ``running``/``merging`` (``ix_task_files_status`` ranges): O(active files), not O(jobs of the task).
- File counts by (dataset, status) are index-only on ``ix_task_files_status``; attempts, finished-over-time
  and job states are grouped in SQL (``ix_task_files_status`` / ``ix_jobs_task_id`` ranges), only the groups
  come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, false, func, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from pandawms.core.states import ACTIVE_STATES
from pandawms.core.tasks import INPUT_TYPES, FileCounts, TaskDatasetType, TaskFileStatus
from pandawms.core.taskspecs import Task
from pandawms.db.monitor import COMPONENTS, Match, epoch_seconds, term_clause
from pandawms.db.schema import jobs, task_datasets, task_files, task_history, tasks
from pandawms.db.tasks import TaskHistoryEntry, task_from_row

TEXT_COLUMNS = frozenset(
    {"user_name", "task_name", "prod_source_label", "working_group", "processing_type", "task_type"}
)
_INPUTS = tuple(t.value for t in INPUT_TYPES)
_IN_USE = (TaskFileStatus.PICKED.value, TaskFileStatus.RUNNING.value, TaskFileStatus.MERGING.value)
_ACTIVE_JOB = tuple(s.value for s in ACTIVE_STATES)
F_DONE = (TaskFileStatus.FINISHED.value, TaskFileStatus.FAILED.value)


@dataclass(frozen=True, slots=True)
class TaskSelection:
    """Which tasks a page shows. ``statuses`` is never empty (the parser expands wildcards)."""

    statuses: tuple[str, ...]
    matches: tuple[Match, ...] = ()
    ids: tuple[int, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    @property
    def status_only(self) -> bool:
        return not (self.matches or self.ids)


@dataclass(frozen=True, slots=True)
class TaskCursor:
    """Keyset position: modification time and jediTaskID of the last task shown."""

    time: datetime
    task_id: int


@dataclass(frozen=True, slots=True)
class FailedFile:
    """An input row that failed finally, with the error of the last job that used it."""

    file_id: int
    dataset_id: int
    scope: str
    lfn: str
    attempt_nr: int
    max_attempt: int
    panda_id: int | None
    errors: tuple[tuple[str, int, str], ...]  # (component, code, diag) of the job


@dataclass(frozen=True, slots=True)
class ErrorCount:
    """One (component, code) among a task's failed jobs: how many and the newest job with it."""

    component: str
    code: int
    count: int
    latest: int  # epoch seconds of the newest failure (its last change)
    latest_pid: int  # a job with the code (the newest id): its diagnostic is the sample


@dataclass(frozen=True, slots=True)
class CoreUsage:
    """Cores of running jobs with one (label, working group, user)."""

    label: str
    working_group: str
    user: str
    cores: int


# -- the task list -------------------------------------------------------------------------------------


def _filters(sel: TaskSelection, *, with_status: bool = True) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if with_status:
        out.append(tasks.c.status.in_(sel.statuses))
    for m in sel.matches:
        if m.column not in TEXT_COLUMNS:
            raise ValueError(f"column {m.column!r} cannot be filtered")
        col = tasks.c[m.column]
        out.append(or_(*(and_(*(term_clause(col, t) for t in group)) for group in m.any_of)))
    if sel.ids:
        out.append(tasks.c.task_id.in_(sel.ids))
    if sel.since is not None:
        out.append(tasks.c.modification_time >= sel.since)
    if sel.until is not None:
        out.append(tasks.c.modification_time < sel.until)
    return out


def count_by_status(conn: Connection, sel: TaskSelection) -> dict[str, int]:
    """Exact task counts per status (index-only on ix_tasks_status_modtime for states and window)."""
    stmt = select(tasks.c.status, func.count()).where(*_filters(sel)).group_by(tasks.c.status)
    return {str(s): int(n) for s, n in conn.execute(stmt)}


def _newest_ids(sel: TaskSelection, n: int, cursor: TaskCursor | None) -> Select[Any]:
    """jediTaskIDs of up to n tasks newest first after ``cursor``: one LIMITed read per status, merged."""
    t = tasks.c
    common = _filters(sel, with_status=False)
    if cursor is not None:
        common += [
            t.modification_time <= cursor.time,
            or_(t.modification_time < cursor.time, t.task_id < cursor.task_id),
        ]
    cols = (t.modification_time.label("sort_key"), t.task_id.label("sort_id"))
    parts = [
        select(*cols)
        .where(t.status == st, *common)
        .order_by(t.modification_time.desc(), t.task_id.desc())
        .limit(n)
        .subquery()
        for st in sel.statuses
    ]
    if not parts:
        return select(t.task_id).where(false())
    merged = union_all(*(select(p) for p in parts)).subquery()
    return select(merged.c.sort_id).order_by(merged.c.sort_key.desc(), merged.c.sort_id.desc()).limit(n)


def list_page(conn: Connection, sel: TaskSelection, cursor: TaskCursor | None, n: int) -> list[Task]:
    """One page of tasks, newest modification first, after ``cursor``."""
    ids = [int(r[0]) for r in conn.execute(_newest_ids(sel, n, cursor))]
    if not ids:
        return []
    rows = {int(r.task_id): r for r in conn.execute(select(tasks).where(tasks.c.task_id.in_(ids)))}
    return [task_from_row(rows[i]) for i in ids if i in rows]


def newest_statuses(conn: Connection, sel: TaskSelection, cap: int) -> list[str]:
    """The statuses of the newest ``cap`` tasks of the selection (the summary of a filtered list)."""
    ids = _newest_ids(sel, cap, None).subquery()
    stmt = select(tasks.c.status).where(tasks.c.task_id.in_(select(ids.c.sort_id)))
    return [str(s) for (s,) in conn.execute(stmt)]


def master_progress(conn: Connection, task_ids: Sequence[int]) -> dict[int, FileCounts]:
    """Master input files of each task (total, finished, failed) from the dataset counters."""
    if not task_ids:
        return {}
    d = task_datasets.c
    stmt = (
        select(d.task_id, func.sum(d.n_files), func.sum(d.n_files_finished), func.sum(d.n_files_failed))
        .where(d.task_id.in_(task_ids), d.type.in_(_INPUTS), d.master_id.is_(None))
        .group_by(d.task_id)
    )
    return {int(t): FileCounts(int(n), int(ok), int(bad)) for t, n, ok, bad in conn.execute(stmt)}


def active_jobs(conn: Connection, task_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{task: {job status: n}} of the active jobs using the tasks' input rows now."""
    if not task_ids:
        return {}
    d, f, j = task_datasets.c, task_files.c, jobs.c
    inputs = select(d.dataset_id).where(
        d.task_id.in_(task_ids), d.type.in_((*_INPUTS, TaskDatasetType.TRN_OUTPUT.value))
    )
    in_use = (
        select(f.task_id, f.panda_id)
        .where(f.dataset_id.in_(inputs), f.status.in_(_IN_USE), f.panda_id.is_not(None))
        .distinct()
        .subquery()
    )
    stmt = (
        select(in_use.c.task_id, j.job_status, func.count())
        .join(jobs, j.panda_id == in_use.c.panda_id)
        .where(j.job_status.in_(_ACTIVE_JOB))
        .group_by(in_use.c.task_id, j.job_status)
    )
    out: dict[int, dict[str, int]] = {}
    for task_id, status, n in conn.execute(stmt):
        out.setdefault(int(task_id), {})[str(status)] = int(n)
    return out


def running_cores(conn: Connection) -> list[CoreUsage]:
    """Cores of the running jobs by (label, the task's working group, user): the share usage."""
    j, t = jobs.c, tasks.c
    wg = func.coalesce(t.working_group, "")
    stmt = (
        select(
            j.prod_source_label,
            wg,
            j.prod_user_name,
            func.sum(func.coalesce(j.actual_core_count, j.core_count)),
        )
        .select_from(jobs.outerjoin(tasks, t.task_id == j.task_id))
        .where(j.job_status == "running")
        .group_by(j.prod_source_label, wg, j.prod_user_name)
    )
    return [CoreUsage(str(lb), str(g), str(u), int(c or 0)) for lb, g, u, c in conn.execute(stmt)]


# -- one task ------------------------------------------------------------------------------------------


def file_counts(conn: Connection, dataset_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{dataset: {file status: rows}}: index-only on ix_task_files_status."""
    if not dataset_ids:
        return {}
    f = task_files.c
    stmt = (
        select(f.dataset_id, f.status, func.count())
        .where(f.dataset_id.in_(dataset_ids))
        .group_by(f.dataset_id, f.status)
    )
    out: dict[int, dict[str, int]] = {}
    for ds, status, n in conn.execute(stmt):
        out.setdefault(int(ds), {})[str(status)] = int(n)
    return out


def job_counts(conn: Connection, task_id: int) -> dict[str, int]:
    """The task's jobs per status (grouped in SQL on the ix_jobs_task_id range)."""
    j = jobs.c
    stmt = select(j.job_status, func.count()).where(j.task_id == task_id).group_by(j.job_status)
    return {str(s): int(n) for s, n in conn.execute(stmt)}


def scout_jobs(conn: Connection, task_id: int, first: int) -> list[dict[str, Any]]:
    """The scouts (specialHandling has "sj") among the task's first ``first`` jobs (scouts come first)."""
    j = jobs.c
    head = select(j.panda_id).where(j.task_id == task_id).order_by(j.panda_id).limit(first).subquery()
    stmt = (
        select(jobs)
        .where(j.panda_id.in_(select(head.c.panda_id)), j.special_handling.like("%sj%"))
        .order_by(j.panda_id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def attempt_counts(conn: Connection, dataset_ids: Sequence[int]) -> dict[int, int]:
    """{attemptNr: rows} of the datasets' rows that were retried (attemptNr > 0)."""
    if not dataset_ids:
        return {}
    f = task_files.c
    stmt = (
        select(f.attempt_nr, func.count())
        .where(f.dataset_id.in_(dataset_ids), f.attempt_nr > 0)
        .group_by(f.attempt_nr)
        .order_by(f.attempt_nr)
    )
    return {int(a): int(n) for a, n in conn.execute(stmt)}


def _job_errors(conn: Connection, panda_ids: Sequence[int]) -> dict[int, tuple[tuple[str, int, str], ...]]:
    if not panda_ids:
        return {}
    j = jobs.c
    cols = [j.panda_id]
    for comp in COMPONENTS:
        cols += [j[f"{comp}_error_code"], j[f"{comp}_error_diag"]]
    out: dict[int, tuple[tuple[str, int, str], ...]] = {}
    for pid, *values in conn.execute(select(*cols).where(j.panda_id.in_(sorted(set(panda_ids))))):
        pairs = zip(COMPONENTS, values[0::2], values[1::2], strict=True)
        out[int(pid)] = tuple((c, int(code), str(diag)) for c, code, diag in pairs if code)
    return out


def failed_files(conn: Connection, dataset_ids: Sequence[int], limit: int) -> tuple[list[FailedFile], int]:
    """The first ``limit`` rows failed finally (ix_task_files_status ranges) with their last job's errors,
    and how many there are."""
    if not dataset_ids:
        return [], 0
    f = task_files.c
    where = (f.dataset_id.in_(dataset_ids), f.status == TaskFileStatus.FAILED.value)
    total = int(conn.execute(select(func.count()).where(*where)).scalar_one())
    cols = (f.file_id, f.dataset_id, f.scope, f.lfn, f.attempt_nr, f.max_attempt, f.panda_id)
    rows = conn.execute(select(*cols).where(*where).order_by(f.dataset_id, f.file_id).limit(limit)).all()
    errors = _job_errors(conn, [int(r.panda_id) for r in rows if r.panda_id is not None])
    out = [
        FailedFile(
            int(r.file_id),
            int(r.dataset_id),
            str(r.scope),
            str(r.lfn),
            int(r.attempt_nr),
            int(r.max_attempt),
            int(r.panda_id) if r.panda_id is not None else None,
            errors.get(int(r.panda_id), ()) if r.panda_id is not None else (),
        )
        for r in rows
    ]
    return out, total


def error_counts(conn: Connection, task_id: int) -> list[ErrorCount]:
    """(component, code) of the task's failed jobs, most frequent first: one query grouped by the codes."""
    j = jobs.c
    codes = [j[f"{comp}_error_code"] for comp in COMPONENTS]
    stmt = (
        select(*codes, func.count(), func.max(epoch_seconds(conn, j.modification_time)), func.max(j.panda_id))
        .where(j.task_id == task_id, j.job_status == "failed")
        .group_by(*codes)
    )
    counts: dict[tuple[str, int], tuple[int, int, int]] = {}
    for *values, n, latest, pid in conn.execute(stmt):
        for comp, code in zip(COMPONENTS, values, strict=True):
            if code:
                seen, t, p = counts.get((comp, int(code)), (0, 0, 0))
                counts[(comp, int(code))] = (seen + int(n), max(t, int(latest)), max(p, int(pid)))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [ErrorCount(comp, code, n, latest, pid) for (comp, code), (n, latest, pid) in ranked]


def ended_per_bin(
    conn: Connection, dataset_ids: Sequence[int], start: int, width: int
) -> dict[str, dict[int, int]]:
    """{finished|failed: {bin: rows}} of the datasets' rows by the time they ended (their last change),
    bins of ``width`` seconds from epoch ``start``: grouped in SQL, only the bins come back."""
    if not dataset_ids:
        return {}
    f = task_files.c
    index = ((epoch_seconds(conn, f.modification_time) - start) // width).label("bin")
    stmt = (
        select(f.status, index, func.count())
        .where(f.dataset_id.in_(dataset_ids), f.status.in_(F_DONE))
        .group_by(f.status, index)
    )
    out: dict[str, dict[int, int]] = {}
    for status, i, n in conn.execute(stmt):
        out.setdefault(str(status), {})[int(i)] = int(n)
    return out


def history_tail(conn: Connection, task_id: int, n: int) -> list[TaskHistoryEntry]:
    """The task's newest ``n`` status changes, oldest first (ix_task_history_task, newest first)."""
    h = task_history.c
    stmt = select(task_history).where(h.task_id == task_id).order_by(h.row_id.desc()).limit(n)
    rows = list(conn.execute(stmt))[::-1]
    return [
        TaskHistoryEntry(int(r.task_id), r.status, r.previous_status, r.change_time, r.reason) for r in rows
    ]

"""Job repository: every SQL statement on jobs, job files and status history.

Status columns are written only by ``write_status``, ``insert_jobs`` and db/claims.claim_activated, and
those are called only from services/lifecycle.py (a test enforces it).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    bindparam,
    func,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import Update

from pandawms.core.changes import JobChange
from pandawms.core.ids import PandaID, QueueName
from pandawms.core.specs import FileSpec, Job, JobQuery, QueueLoad
from pandawms.core.states import ACTIVE_STATES, JobStatus
from pandawms.db.direct import Direct
from pandawms.db.lean import LeanInsert
from pandawms.db.rows import change_columns, file_to_row, row_to_file, row_to_job
from pandawms.db.schema import job_files, job_status_history, jobs


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    panda_id: PandaID
    status: str
    previous: str
    time: datetime
    host: str
    reason: str


@dataclass(frozen=True, slots=True)
class StatusRow:
    """The few columns a transition needs, read under the row lock."""

    panda_id: PandaID
    status: JobStatus
    attempt_nr: int
    command_to_pilot: str
    computing_site: str | None = None
    task_id: int | None = None  # a JEDI task's job: its end updates the task's files


# -- inserts -------------------------------------------------------------------------------------------


def insert_jobs(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[PandaID]:
    """Insert job rows (each with job_status set) and return their new PandaIDs in order."""
    if not rows:
        return []
    return [PandaID(i) for i in _INSERT_JOBS.insert_returning(conn, rows)]


def insert_files(conn: Connection, files: Iterable[tuple[int, FileSpec]]) -> None:
    _INSERT_FILES.execute(conn, [file_to_row(pid, f) for pid, f in files])


def insert_history(conn: Connection, entries: Sequence[HistoryEntry]) -> None:
    rows = [
        {
            "panda_id": e.panda_id,
            "job_status": e.status,
            "previous_status": e.previous,
            "change_time": e.time,
            "modification_host": e.host[:128],
            "reason": e.reason[:500],
        }
        for e in entries
    ]
    if len(rows) == 1:  # a transition's or a claim's one row: on the DBAPI (db/direct.py)
        _INSERT_HISTORY_ROW.execute(conn, rows[0])
    else:
        _INSERT_HISTORY.execute(conn, rows)


# -- status writes (lifecycle only) --------------------------------------------------------------------


# Hot statements are built once: SQLAlchemy then reuses their compiled form and memoized cache key
# (building them per call cost more CPU than executing them).
STATUS_COLUMNS = (  # a StatusRow, in its order
    jobs.c.panda_id,
    jobs.c.job_status,
    jobs.c.attempt_nr,
    jobs.c.command_to_pilot,
    jobs.c.computing_site,
    jobs.c.task_id,
)
_READ_STATUS = select(*STATUS_COLUMNS).where(jobs.c.panda_id == bindparam("b_id"))
_LOCK_STATUS = _READ_STATUS.with_for_update()
# The inserts of a submission's chunks: lean on SQLite (db/lean.py), where they were most of its CPU.
_INSERT_HISTORY = LeanInsert(insert(job_status_history))
HISTORY_COLUMNS = ("panda_id", "job_status", "previous_status", "change_time", "modification_host", "reason")
_INSERT_HISTORY_ROW = Direct(insert(job_status_history).values({c: bindparam(c) for c in HISTORY_COLUMNS}))
_INSERT_JOBS = LeanInsert(insert(jobs), key="panda_id")
_INSERT_FILES = LeanInsert(insert(job_files))
_JOBS_BY_IDS = select(jobs).where(jobs.c.panda_id.in_(bindparam("b_ids", expanding=True)))
_FILES_BY_IDS = select(job_files).where(job_files.c.panda_id.in_(bindparam("b_ids", expanding=True)))
_FILES_BY_IDS = _FILES_BY_IDS.order_by(job_files.c.row_id)


_EXISTS = select(jobs.c.panda_id).where(jobs.c.panda_id == bindparam("b_id"))
# the pilot calls' statements on the DBAPI (db/direct.py)
_LOCK_STATUS_DIRECT = Direct(_LOCK_STATUS)
_READ_STATUS_DIRECT = Direct(_READ_STATUS)
FILES_BY_IDS_DIRECT = Direct(_FILES_BY_IDS, expanding=("b_ids",))
FILE_KEYS = tuple(c.key for c in job_files.c)


def exists(conn: Connection, panda_id: int) -> bool:
    """Whether the job is in the task buffer (a plain read: no row lock, safe in read transactions)."""
    return conn.execute(_EXISTS, {"b_id": panda_id}).first() is not None


def lock_status(conn: Connection, panda_id: int) -> StatusRow | None:
    """Read and lock (PostgreSQL FOR UPDATE; SQLite holds the writer lock already) the job's status."""
    return _status_row(_LOCK_STATUS_DIRECT.execute(conn, {"b_id": panda_id})[0])


def read_status(conn: Connection, panda_id: int) -> StatusRow | None:
    """The job's status without a lock: for a write that is a compare-and-set on it (``write_status``,
    ``update_fields`` with ``expected``), which fails, writing nothing, if the job changed since."""
    return _status_row(_READ_STATUS_DIRECT.execute(conn, {"b_id": panda_id})[0])


def _status_row(rows: Sequence[Sequence[Any]]) -> StatusRow | None:
    if not rows:
        return None
    row = rows[0]
    return StatusRow(PandaID(row[0]), JobStatus(row[1]), row[2], row[3], row[4], row[5])


# The compare-and-set's status test, written so that PostgreSQL finds the row by its primary key. With
# ``job_status = $2`` the key and ix_jobs_status_id (job_status, panda_id) cost the same, and the planner
# takes the index that matches both conditions; its entries for a job pile up with every update (each
# heartbeat writes a new row version), and a guarded heartbeat ran 17% slower through it. job_status is
# NOT NULL: the coalesce changes no answer, only the index the test can use.
_STATUS_IS_EXPECTED = func.coalesce(jobs.c.job_status, "") == bindparam("b_expected")
_WRITE_STATUS = (
    update(jobs)
    .where(jobs.c.panda_id == bindparam("b_id"), _STATUS_IS_EXPECTED)
    .values(job_status=bindparam("b_status"), state_change_time=bindparam("b_now"))
)


def write_status(
    conn: Connection,
    panda_id: int,
    expected: JobStatus,
    status: JobStatus,
    now: datetime,
    change: JobChange,
    history: Sequence[HistoryEntry] = (),
) -> bool:
    """Compare-and-set the status (plus the change's columns) and add its ``history`` rows (entries of
    this job); True when the row was in ``expected``, and only then is the history written.

    PostgreSQL: one statement (the UPDATE in a data-modifying CTE that the history INSERT reads), so a
    transition is one round trip instead of two. SQLite: the UPDATE, then ``insert_history``.
    """
    if any(e.panda_id != panda_id for e in history):
        raise ValueError(f"history entries of another job than {panda_id}: {[e.panda_id for e in history]}")
    values = {**change_columns(change, now), "modification_time": now}
    params = {"b_id": panda_id, "b_expected": expected.value, "b_status": status.value, "b_now": now}
    params.update({f"v_{k}": v for k, v in values.items()})
    names = frozenset(values)
    if history and conn.dialect.name == "postgresql":
        for i, e in enumerate(history):
            params.update(_history_params(e, f"h{i}_"))
        return _write_status_logged_stmt(names, len(history)).execute(conn, params)[1] == len(history)
    if _write_status_stmt(names).execute(conn, params)[1] != 1:
        return False
    if history:
        insert_history(conn, history)
    return True


@functools.lru_cache(maxsize=256)
def _write_status_stmt(names: frozenset[str]) -> Direct:
    return Direct(_WRITE_STATUS.values({name: bindparam(f"v_{name}") for name in sorted(names)}))


def _history_params(e: HistoryEntry, prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}status": e.status,
        f"{prefix}previous": e.previous,
        f"{prefix}time": e.time,
        f"{prefix}host": e.host[:128],
        f"{prefix}reason": e.reason[:500],
    }


def _history_select(panda_id: ColumnElement[Any], prefix: str) -> Select[Any]:
    """The history row of ``panda_id`` with its other columns bound as ``<prefix><column>``."""
    h = job_status_history.c
    return select(
        panda_id,
        bindparam(f"{prefix}status", type_=h.job_status.type),
        bindparam(f"{prefix}previous", type_=h.previous_status.type),
        bindparam(f"{prefix}time", type_=h.change_time.type),
        bindparam(f"{prefix}host", type_=h.modification_host.type),
        bindparam(f"{prefix}reason", type_=h.reason.type),
    )


@functools.lru_cache(maxsize=256)
def _write_status_logged_stmt(names: frozenset[str], n_history: int) -> Direct:
    """PostgreSQL: ``WITH written AS (UPDATE ... RETURNING panda_id) INSERT INTO job_status_history
    SELECT ... FROM written`` with ``n_history`` rows; its rowcount is ``n_history`` when the UPDATE
    matched, else 0."""
    written = (
        _WRITE_STATUS.values({name: bindparam(f"v_{name}") for name in sorted(names)})
        .returning(jobs.c.panda_id)
        .cte("written")
    )
    rows = [_history_select(written.c.panda_id, f"h{i}_") for i in range(n_history)]
    source = rows[0] if n_history == 1 else union_all(*rows)
    return Direct(insert(job_status_history).from_select(HISTORY_COLUMNS, source).add_cte(written))


# -- non-status writes ---------------------------------------------------------------------------------


def update_fields(
    conn: Connection, panda_id: int, change: JobChange, now: datetime, expected: JobStatus | None = None
) -> bool:
    """Write a change's non-status columns (heartbeat, metrics, command to pilot, diagnostics); with
    ``expected``, only while the job is in that status (a compare-and-set). True when the row was written."""
    values = change_columns(change, now)
    params: dict[str, Any] = {"b_id": panda_id, **{f"v_{k}": v for k, v in values.items()}}
    if expected is not None:
        params["b_expected"] = expected.value
    return _update_fields_stmt(frozenset(values), expected is not None).execute(conn, params)[1] == 1


@functools.lru_cache(maxsize=256)
def _update_fields_stmt(names: frozenset[str], guarded: bool) -> Direct:
    stmt = update_fields_sql(names)
    return Direct(stmt.where(_STATUS_IS_EXPECTED) if guarded else stmt)


@functools.lru_cache(maxsize=256)
def update_fields_sql(names: frozenset[str]) -> Update:
    """UPDATE of the named columns (bound as ``v_<name>``) of the job ``b_id``, built once per column set."""
    stmt = update(jobs).where(jobs.c.panda_id == bindparam("b_id"))
    return stmt.values({name: bindparam(f"v_{name}") for name in sorted(names)})


# -- reads ---------------------------------------------------------------------------------------------


def get_job(conn: Connection, panda_id: int, *, with_files: bool = False) -> Job | None:
    row = conn.execute(select(jobs).where(jobs.c.panda_id == panda_id)).mappings().first()
    if row is None:
        return None
    return row_to_job(row, get_files(conn, panda_id) if with_files else ())


def get_jobs(conn: Connection, ids: Sequence[int], *, with_files: bool = False) -> list[Job]:
    if not ids:
        return []
    rows = conn.execute(_JOBS_BY_IDS, {"b_ids": list(ids)}).mappings().all()
    files = files_of(conn, ids) if with_files else {}
    by_id = {r["panda_id"]: row_to_job(r, files.get(r["panda_id"], ())) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def get_files(conn: Connection, panda_id: int) -> list[FileSpec]:
    stmt = select(job_files).where(job_files.c.panda_id == panda_id).order_by(job_files.c.row_id)
    return [row_to_file(r) for r in conn.execute(stmt).mappings()]


def files_of(conn: Connection, ids: Sequence[int]) -> dict[int, list[FileSpec]]:
    out: dict[int, list[FileSpec]] = {}
    for r in conn.execute(_FILES_BY_IDS, {"b_ids": list(ids)}).mappings():
        out.setdefault(r["panda_id"], []).append(row_to_file(r))
    return out


def list_jobs(conn: Connection, q: JobQuery) -> list[Job]:
    """Newest first; pass the last PandaID of a page as ``before_id`` for the next one."""
    stmt = select(jobs).where(*_query_filters(q)).order_by(jobs.c.panda_id.desc()).limit(q.limit)
    return [row_to_job(r) for r in conn.execute(stmt).mappings()]


def _query_filters(q: JobQuery) -> list[ColumnElement[bool]]:
    pairs: list[tuple[Any, tuple[Any, ...]]] = [
        (jobs.c.job_status, q.statuses),
        (jobs.c.computing_site, q.sites),
        (jobs.c.prod_user_name, q.users),
        (jobs.c.prod_source_label, q.labels),
        (jobs.c.panda_id, q.ids),
    ]
    filters: list[ColumnElement[bool]] = [col.in_(vals) for col, vals in pairs if vals]
    if q.parent_id is not None:
        filters.append(jobs.c.parent_id == q.parent_id)
    if q.since is not None:
        filters.append(jobs.c.modification_time >= q.since)
    if q.until is not None:
        filters.append(jobs.c.modification_time < q.until)
    if q.before_id is not None:
        filters.append(jobs.c.panda_id < q.before_id)
    return filters


def history(conn: Connection, panda_id: int) -> list[HistoryEntry]:
    h = job_status_history
    stmt = select(h).where(h.c.panda_id == panda_id).order_by(h.c.row_id)
    return [
        HistoryEntry(
            PandaID(r["panda_id"]),
            r["job_status"],
            r["previous_status"],
            r["change_time"],
            r["modification_host"],
            r["reason"],
        )
        for r in conn.execute(stmt).mappings()
    ]


_MODIFIED_SINCE = select(jobs.c.panda_id).where(
    jobs.c.panda_id == bindparam("b_id"), jobs.c.modification_time >= bindparam("b_cutoff")
)


def modified_since(conn: Connection, panda_id: int, cutoff: datetime) -> bool:
    """Whether the job was touched at or after ``cutoff`` (a watchdog's re-check under the row lock)."""
    return conn.execute(_MODIFIED_SINCE, {"b_id": panda_id, "b_cutoff": cutoff}).first() is not None


def stale_ids(conn: Connection, statuses: Sequence[JobStatus], cutoff: datetime, limit: int) -> list[PandaID]:
    """Jobs in ``statuses`` not modified since ``cutoff`` (index range scan on ix_jobs_status_modtime)."""
    out: list[PandaID] = []
    for status in statuses:
        stmt = (
            select(jobs.c.panda_id)
            .where(jobs.c.job_status == status.value, jobs.c.modification_time < cutoff)
            .order_by(jobs.c.modification_time)
            .limit(limit - len(out))
        )
        out.extend(PandaID(r[0]) for r in conn.execute(stmt))
        if len(out) >= limit:
            break
    return out


def ids_in_status(conn: Connection, status: JobStatus, limit: int, after: int = 0) -> list[PandaID]:
    """Jobs in ``status`` in PandaID order after ``after`` (index ix_jobs_status_id): an agent's pass."""
    stmt = (
        select(jobs.c.panda_id)
        .where(jobs.c.job_status == status.value, jobs.c.panda_id > after)
        .order_by(jobs.c.panda_id)
        .limit(limit)
    )
    return [PandaID(r[0]) for r in conn.execute(stmt)]


def unbrokered_ids(conn: Connection, limit: int, after: int = 0) -> list[PandaID]:
    """Defined jobs waiting for a queue (computing_site NULL), in PandaID order after ``after``."""
    stmt = (
        select(jobs.c.panda_id)
        .where(
            jobs.c.job_status == JobStatus.DEFINED.value,
            jobs.c.computing_site.is_(None),
            jobs.c.panda_id > after,
        )
        .order_by(jobs.c.panda_id)
        .limit(limit)
    )
    return [PandaID(r[0]) for r in conn.execute(stmt)]


def queue_loads(conn: Connection) -> dict[QueueName, QueueLoad]:
    """Per-queue counts of active jobs (index ix_jobs_site_status_modtime; final states are not read)."""
    wanted = [f.name for f in dataclasses.fields(QueueLoad)]  # its fields are job states (a test checks)
    stmt = (
        select(jobs.c.computing_site, jobs.c.job_status, func.count())
        .where(jobs.c.job_status.in_(wanted), jobs.c.computing_site.is_not(None))
        .group_by(jobs.c.computing_site, jobs.c.job_status)
    )
    counts: dict[str, dict[str, int]] = {}
    for site, status, n in conn.execute(stmt):
        counts.setdefault(site, {})[status] = n
    return {QueueName(site): QueueLoad(**c) for site, c in counts.items()}


def count_by_status(conn: Connection, sites: Sequence[str] = ()) -> dict[str, int]:
    stmt = select(jobs.c.job_status, func.count()).where(
        jobs.c.job_status.in_([s.value for s in ACTIVE_STATES])
    )
    if sites:
        stmt = stmt.where(jobs.c.computing_site.in_(list(sites)))
    return {s: n for s, n in conn.execute(stmt.group_by(jobs.c.job_status))}


def children(conn: Connection, panda_id: int) -> list[PandaID]:
    stmt = select(jobs.c.panda_id).where(jobs.c.parent_id == panda_id).order_by(jobs.c.panda_id)
    return [PandaID(r[0]) for r in conn.execute(stmt)]

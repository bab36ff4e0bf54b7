"""The pilot's claim: activated -> sent for the jobs a pilot can run, atomically, with their history rows.

A status writer (with db/jobs.write_status and insert_jobs), called only from services/lifecycle.py (a
test enforces it). PostgreSQL claims with one statement per share (data-modifying CTEs) whose cached
generic plan reads the partial dispatch indexes (tests/db/test_claim_plans.py); SQLite reads the
candidates, then claims them in one UPDATE ... RETURNING.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, insert, literal, literal_column, select, update
from sqlalchemy.sql.elements import ColumnElement

from pandawms.core.dispatch import ClaimCriteria
from pandawms.core.specs import FileSpec, Job
from pandawms.core.states import JobStatus
from pandawms.db.direct import Direct
from pandawms.db.jobs import FILE_KEYS, FILES_BY_IDS_DIRECT, HISTORY_COLUMNS, HistoryEntry, insert_history
from pandawms.db.rows import row_to_file, row_to_job
from pandawms.db.schema import job_status_history, jobs


def claim_activated(
    conn: Connection,
    criteria: ClaimCriteria,
    n_jobs: int,
    now: datetime,
    host: str,
    pilot_id: str = "",
    reason: str = "dispatched",
) -> list[Job]:
    """Atomically move up to n activated jobs matching ``criteria`` to sent, each with its history row
    (``reason``), and return them as claimed (with their files): the jobs of ``criteria.shares`` first,
    share by share (ix_jobs_dispatch_share), then any (ix_jobs_dispatch); priority then age inside each.

    PostgreSQL: candidates are locked FOR UPDATE SKIP LOCKED, so concurrent pilots skip each other's rows;
    the candidates, the UPDATE and the history INSERT are one statement (data-modifying CTEs) per share.
    SQLite: the caller's BEGIN IMMEDIATE serialises writers. Both: the UPDATE re-checks
    job_status='activated' (compare-and-set), so a row is never claimed twice. The UPDATE returns the
    claimed rows whole, so the description is not read again.
    """
    shape = (bool(criteria.memory), bool(criteria.disk), bool(criteria.cores), bool(criteria.remaining_time))
    params: dict[str, Any] = {
        "b_site": criteria.queue,
        "b_labels": sorted(label.value for label in criteria.labels),
        "b_memory": criteria.memory,
        "b_disk": criteria.disk,
        "b_cores": criteria.cores,
        "b_time": criteria.remaining_time,
    }
    stamp = {"b_now": now, "b_host": host[:128], "b_pilot": pilot_id[:200]}
    if conn.dialect.name == "postgresql":
        rows = _claim_logged(
            conn, shape, criteria.shares, n_jobs, {**params, **stamp, "b_reason": reason[:500]}
        )
    else:
        rows = _claim_then_log(conn, shape, criteria.shares, n_jobs, params, stamp, reason)
    files: dict[int, list[FileSpec]] = {}
    if rows:
        for r in FILES_BY_IDS_DIRECT.execute(conn, {"b_ids": [r["panda_id"] for r in rows]})[0]:
            files.setdefault(r[1], []).append(row_to_file(dict(zip(FILE_KEYS, r, strict=True))))
    return [row_to_job(r, files.get(r["panda_id"], ())) for r in rows]


def _claim_logged(
    conn: Connection,
    shape: tuple[bool, bool, bool, bool],
    shares: Sequence[str],
    n_jobs: int,
    params: dict[str, Any],
) -> list[dict[str, Any]]:
    """PostgreSQL: one claiming statement per share, then one for any share (the jobs this transaction
    claimed are no longer activated, so they are not candidates again)."""
    claimed: list[dict[str, Any]] = []
    for share in (*shares, None):
        if len(claimed) >= n_jobs:
            break
        want = n_jobs - len(claimed)
        stmt = _claim_logged_stmt(*shape, share is not None, want if want <= LITERAL_LIMIT_MAX else None)
        rows, _ = stmt.execute(conn, {**params, "b_share": share, "b_limit": want})
        got = [dict(zip(_JOB_KEYS, r, strict=True)) for r in rows]
        claimed += sorted(got, key=_dispatch_order)  # RETURNING has no order: the candidates' again
    return claimed


def _claim_then_log(
    conn: Connection,
    shape: tuple[bool, bool, bool, bool],
    shares: Sequence[str],
    n_jobs: int,
    params: dict[str, Any],
    stamp: dict[str, Any],
    reason: str,
) -> list[dict[str, Any]]:
    """SQLite: the candidates share by share, then one UPDATE ... RETURNING, then their history rows."""
    ids: list[int] = []
    for share in shares:
        if len(ids) >= n_jobs:
            break
        rows, _ = _claim_candidates_stmt(*shape, True).execute(
            conn, {**params, "b_share": share, "b_limit": n_jobs - len(ids)}
        )
        ids += [int(r[0]) for r in rows]
    if len(ids) < n_jobs:  # any share (jobs of the other shares, or of none); ours may come back: skip them
        rows, _ = _claim_candidates_stmt(*shape).execute(conn, {**params, "b_limit": n_jobs})
        taken = set(ids)
        ids += [i for i in (int(r[0]) for r in rows) if i not in taken][: n_jobs - len(ids)]
    if not ids:
        return []
    by_id = {
        r[0]: dict(zip(_JOB_KEYS, r, strict=True)) for r in _CLAIM.execute(conn, {"b_ids": ids, **stamp})[0]
    }
    claimed = [by_id[i] for i in ids if i in by_id]
    sent, activated = JobStatus.SENT.value, JobStatus.ACTIVATED.value
    when, where = stamp["b_now"], stamp["b_host"]
    insert_history(conn, [HistoryEntry(r["panda_id"], sent, activated, when, where, reason) for r in claimed])
    return claimed


# 'activated' as an SQL literal, not a bound value: a cached generic plan can then use the partial
# indexes (WHERE job_status = 'activated'); a pilot's claim of up to this many jobs has its LIMIT in the SQL
_ACTIVATED: ColumnElement[Any] = literal_column(f"'{JobStatus.ACTIVATED.value}'")
LITERAL_LIMIT_MAX = 16
_CLAIM_VALUES = (
    update(jobs)
    .where(jobs.c.job_status == _ACTIVATED)
    .values(
        job_status=JobStatus.SENT.value,
        state_change_time=bindparam("b_now"),
        modification_time=bindparam("b_now"),
        modification_host=bindparam("b_host"),
        pilot_id=bindparam("b_pilot"),
    )
)
_CLAIM = Direct(
    _CLAIM_VALUES.where(jobs.c.panda_id.in_(bindparam("b_ids", expanding=True))).returning(*jobs.c),
    expanding=("b_ids",),
)
_JOB_KEYS = tuple(c.key for c in jobs.c)


def _dispatch_order(row: Mapping[str, Any]) -> tuple[int, int]:
    """The candidates' ORDER BY (priority, then age) as a sort key."""
    return -int(row["current_priority"]), int(row["panda_id"])


@functools.lru_cache(maxsize=256)
def _claim_logged_stmt(
    memory: bool, disk: bool, cores: bool, remaining_time: bool, share: bool, limit: int | None
) -> Direct:
    """PostgreSQL: ``WITH candidates AS (SELECT ... FOR UPDATE SKIP LOCKED), claimed AS (UPDATE ... FROM
    candidates RETURNING *), logged AS (INSERT INTO job_status_history SELECT ... FROM claimed) SELECT *
    FROM claimed``.

    Its status test is an SQL literal and a small ``limit`` is written in the SQL, so the plan that the
    prepared statement caches (a generic plan, made without the parameters' values) can prove the partial
    dispatch indexes' ``job_status = 'activated'`` and knows the row count: with both bound, that plan was
    a bitmap scan, a sort and a hash join over the table (8 ms at 5,000 jobs), so PostgreSQL planned every
    claim anew (0.4 ms of its CPU each).
    """
    candidates = _candidates(memory, disk, cores, remaining_time, share, limit).cte("candidates")
    claimed = _CLAIM_VALUES.where(jobs.c.panda_id == candidates.c.panda_id).returning(*jobs.c).cte("claimed")
    h = job_status_history.c
    history = select(
        claimed.c.panda_id,
        literal(JobStatus.SENT.value, h.job_status.type),
        literal(JobStatus.ACTIVATED.value, h.previous_status.type),
        bindparam("b_now", type_=h.change_time.type),
        bindparam("b_host", type_=h.modification_host.type),
        bindparam("b_reason", type_=h.reason.type),
    )
    logged = insert(job_status_history).from_select(HISTORY_COLUMNS, history).cte("logged")
    return Direct(select(*claimed.c).add_cte(logged), expanding=("b_labels",))


@functools.lru_cache(maxsize=64)
def _claim_candidates_stmt(
    memory: bool, disk: bool, cores: bool, remaining_time: bool, share: bool = False
) -> Direct:
    """Candidates in priority-then-age order on ix_jobs_dispatch (``share``: of one share, on
    ix_jobs_dispatch_share); one statement per filter shape."""
    return Direct(_candidates(memory, disk, cores, remaining_time, share), expanding=("b_labels",))


def _candidates(
    memory: bool, disk: bool, cores: bool, remaining_time: bool, share: bool, limit: int | None = None
) -> Select[Any]:
    """``limit`` None: bound as ``b_limit``; a number: written in the SQL (see ``_claim_logged_stmt``)."""
    filters: list[ColumnElement[bool]] = [jobs.c.prod_source_label.in_(bindparam("b_labels", expanding=True))]
    if share:
        filters.append(jobs.c.gshare == bindparam("b_share"))
    if memory:
        filters.append(jobs.c.min_ram_count <= bindparam("b_memory"))
    if disk:
        filters.append(jobs.c.max_disk_count <= bindparam("b_disk"))
    if cores:
        filters.append(jobs.c.core_count <= bindparam("b_cores"))
    if remaining_time:
        filters.append(jobs.c.max_walltime <= bindparam("b_time"))
    return (
        select(jobs.c.panda_id)
        .where(jobs.c.job_status == _ACTIVATED, jobs.c.computing_site == bindparam("b_site"))
        .where(*filters)
        .order_by(jobs.c.current_priority.desc(), jobs.c.panda_id)
        .limit(bindparam("b_limit", type_=Integer) if limit is None else literal_column(str(int(limit))))
        .with_for_update(skip_locked=True)
    )

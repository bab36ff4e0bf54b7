"""Folding the triggers' deltas into the monitor's aggregates of final jobs (db/job_stats.py reads them).

``fold`` moves pending deltas into ``job_stats`` / ``job_error_stats``, their daily rollups and their
per-hour totals (``job_stats_by_hour``, ``job_error_stats_by_hour``): DELETE ... RETURNING of the oldest
``row_id`` range, then one upsert per key, in one transaction, so a delta is folded exactly once, and on
PostgreSQL a delta committed during the fold stays for the next one. The job-stats agent
(agents/job_stats.py) and ``panda seed`` call it.

Its statements are built once per dialect and table (``_statement``): building an upsert's SET clause
of 22 sums (``table.c[x] + excluded[x]``) cost about 5 ms of CPU per fold, more than folding a thousand
deltas, and on SQLite the job-stats agent folds in short writer turns, every few seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, case, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from pandawms.db.job_stats import ERROR_KEY, STATS_KEY, STATS_SUMS, floor_day, merge_errors
from pandawms.db.schema import (
    job_error_stats,
    job_error_stats_by_hour,
    job_error_stats_daily,
    job_error_stats_delta,
    job_stats,
    job_stats_by_hour,
    job_stats_daily,
    job_stats_delta,
)


def _dialect(conn: Connection) -> Any:
    """The dialect module whose ``insert`` has ON CONFLICT (an upsert)."""
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def _greatest(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)


_STATEMENTS: dict[tuple[str, str, str], Any] = {}  # (dialect, table, kind) -> statement


def _statement(conn: Connection, table: Table, kind: str, build: Callable[[Any], Any]) -> Any:
    """The ``kind`` statement of ``table`` for this connection's dialect, built once by ``build(dialect
    module)``; its values are bound parameters."""
    key = (conn.dialect.name, table.name, kind)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build(_dialect(conn))
    return stmt


def _take(conn: Connection, delta: Table, limit: int) -> list[Any]:
    """Delete and return the oldest ``limit`` deltas (a few more when concurrent writers commit out of
    row_id order).

    A range, not ``row_id IN (SELECT ... LIMIT n)``: PostgreSQL planned that as a nested-loop semi-join
    when its statistics still saw the table empty, n x n comparisons (a 50,000-row fold took minutes).
    """

    def last_of(_d: Any) -> Any:
        oldest = select(delta.c.row_id).order_by(delta.c.row_id).limit(bindparam("limit")).subquery()
        return select(func.max(oldest.c.row_id))

    last = conn.execute(_statement(conn, delta, "last", last_of), {"limit": limit}).scalar()
    if last is None:
        return []

    def take(_d: Any) -> Any:
        return delete(delta).where(delta.c.row_id <= bindparam("last")).returning(*delta.c)

    return list(conn.execute(_statement(conn, delta, "take", take), {"last": last}).mappings())


def fold(conn: Connection, limit: int) -> int:
    """Move up to ``limit`` pending deltas of each table into the hourly and daily aggregates; returns the
    most taken from one table."""
    stats = _take(conn, job_stats_delta, limit)
    sums: dict[tuple[Any, ...], list[int]] = {}
    for r in stats:
        key = tuple(r[k] for k in STATS_KEY)
        acc = sums.setdefault(key, [0] * len(STATS_SUMS))
        for i, name in enumerate(STATS_SUMS):
            acc[i] += int(r[name])
    sums = {k: v for k, v in sums.items() if any(v)}  # a job inserted and moved within one batch: nothing
    daily: dict[tuple[Any, ...], list[int]] = {}
    for k, v in sums.items():
        acc = daily.setdefault((floor_day(k[0]), *k[1:]), [0] * len(STATS_SUMS))
        for i, x in enumerate(v):
            acc[i] += x
    _upsert_stats(conn, job_stats, ("hour", *STATS_KEY[1:]), sums)
    _upsert_stats(conn, job_stats_daily, ("day", *STATS_KEY[1:]), daily)
    states: Counter[tuple[Any, ...]] = Counter()
    for k, v in sums.items():
        states[(k[0], k[4])] += v[0]  # (hour, state)
    _upsert_totals(conn, job_stats_by_hour, ("hour", "state"), states)
    errors = _take(conn, job_error_stats_delta, limit)
    signed = [(tuple(r[k] for k in ERROR_KEY), r["jobs"], r["latest"], r["sample_panda_id"]) for r in errors]
    _upsert_errors(conn, job_error_stats, ("hour", *ERROR_KEY[1:]), merge_errors(signed))
    by_day = [((floor_day(k[0]), *k[1:]), n, t, pid) for k, n, t, pid in signed]
    _upsert_errors(conn, job_error_stats_daily, ("day", *ERROR_KEY[1:]), merge_errors(by_day))
    codes: Counter[tuple[Any, ...]] = Counter()
    for k, n, _t, _pid in signed:
        codes[(k[0], k[4], k[5])] += int(n)  # (hour, component, code)
    _upsert_totals(conn, job_error_stats_by_hour, ("hour", "component", "code"), codes)
    return max(len(stats), len(errors))


def _upsert_stats(
    conn: Connection, table: Table, key: Sequence[str], sums: dict[tuple[Any, ...], list[int]]
) -> None:
    """Add ``sums`` to the rows of ``table`` (an upsert per key)."""
    if not sums:
        return

    def build(d: Any) -> Any:
        stmt = d.insert(table)
        add = {name: table.c[name] + stmt.excluded[name] for name in STATS_SUMS}
        return stmt.on_conflict_do_update(index_elements=list(key), set_=add)

    rows = [dict(zip(key, k, strict=True)) | dict(zip(STATS_SUMS, v, strict=True)) for k, v in sums.items()]
    conn.execute(_statement(conn, table, "upsert", build), rows)
    _drop_empty(conn, table, key, [k for k, v in sums.items() if v[0] <= 0])


def _upsert_totals(
    conn: Connection, table: Table, key: Sequence[str], totals: Mapping[tuple[Any, ...], int]
) -> None:
    """Add ``totals`` (key -> jobs) to the rows of ``table``, a per-hour totals table."""
    totals = {k: n for k, n in totals.items() if n}
    if not totals:
        return

    def build(d: Any) -> Any:
        stmt = d.insert(table)
        return stmt.on_conflict_do_update(
            index_elements=list(key), set_={"jobs": table.c.jobs + stmt.excluded.jobs}
        )

    rows = [dict(zip(key, k, strict=True)) | {"jobs": n} for k, n in totals.items()]
    conn.execute(_statement(conn, table, "upsert", build), rows)
    _drop_empty(conn, table, key, [k for k, n in totals.items() if n < 0])


def _upsert_errors(
    conn: Connection, table: Table, key: Sequence[str], folded: dict[tuple[Any, ...], list[int]]
) -> None:
    """Add ``folded`` (jobs, latest, sample) to the rows of ``table``."""
    folded = {k: v for k, v in folded.items() if v[0] or v[1]}
    if not folded:
        return

    def build(d: Any) -> Any:
        stmt = d.insert(table)
        t, x = table.c, stmt.excluded
        newer = (x.latest > t.latest) | and_(x.latest == t.latest, x.sample_panda_id > t.sample_panda_id)
        update = {
            "jobs": t.jobs + x.jobs,
            "latest": _greatest(conn, t.latest, x.latest),
            "sample_panda_id": case((newer, x.sample_panda_id), else_=t.sample_panda_id),
        }
        return stmt.on_conflict_do_update(index_elements=list(key), set_=update)

    rows = [
        dict(zip(key, k, strict=True)) | {"jobs": v[0], "latest": v[1], "sample_panda_id": v[2]}
        for k, v in folded.items()
    ]
    conn.execute(_statement(conn, table, "upsert", build), rows)
    _drop_empty(conn, table, key, [k for k, v in folded.items() if v[0] <= 0])


def _drop_empty(conn: Connection, table: Table, key: Sequence[str], keys: list[tuple[Any, ...]]) -> None:
    """Aggregate rows a decrement left at zero jobs go (a final job that moved to another hour or key)."""
    cols = tuple_(*(table.c[k] for k in key))
    for start in range(0, len(keys), 500):
        conn.execute(delete(table).where(cols.in_(keys[start : start + 500]), table.c.jobs == 0))


def pending(conn: Connection) -> int:
    """Deltas not yet folded (both tables)."""
    n = 0
    for delta in (job_stats_delta, job_error_stats_delta):
        n += int(conn.execute(select(func.count()).select_from(delta)).scalar_one())
    return n

"""The monitor's hourly aggregates of final jobs: folding the triggers' deltas, and reading windows.

Triggers on ``jobs`` (migration 0021) append a signed row to ``job_stats_delta`` (and one per error code
of a failed job to ``job_error_stats_delta``) whenever a row enters, leaves or changes in a final state.
``fold`` moves pending deltas into ``job_stats`` / ``job_error_stats``, their daily rollups and their
per-hour totals (``job_stats_by_hour``, ``job_error_stats_by_hour``) (DELETE ... RETURNING, then one
upsert per key, in one transaction: a delta is folded exactly once, and on PostgreSQL a delta committed
during the fold stays for the next one). Readers add the pending deltas, so an aggregate read is exact
whether or not the fold has run: ``stats`` equals a GROUP BY over the final jobs at any moment.

Hours are epoch seconds of the start of the hour of ``modification_time`` (which a final job keeps).
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Table, and_, case, cast, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement

from pandawms.db.monitor import Match, match_clause
from pandawms.db.schema import (
    STATS_MEM,
    STATS_WALL,
    job_error_stats,
    job_error_stats_by_hour,
    job_error_stats_daily,
    job_error_stats_delta,
    job_stats,
    job_stats_by_hour,
    job_stats_daily,
    job_stats_delta,
)

HOUR = 3600
DAY = 86400
KEY = ("hour", "computing_site", "prod_user_name", "prod_source_label")
STATS_KEY = (*KEY, "state", "attempt_nr")
STATS_SUMS = ("jobs", "cpu_seconds", *STATS_WALL, *STATS_MEM)
ERROR_KEY = (*KEY, "component", "code")
MATCHABLE = frozenset({"computing_site", "prod_user_name", "prod_source_label"})


@dataclass(frozen=True, slots=True)
class StatRow:
    """Final jobs of one (hour, queue, user, label, state, attempt): count, CPU s, histograms."""

    hour: int
    site: str
    user: str
    label: str
    status: str
    attempt: int
    jobs: int
    cpu: int
    wall: tuple[int, ...]  # per summaries.WALLTIME_EDGES bin
    mem: tuple[int, ...]  # per summaries.MEMORY_EDGES bin


@dataclass(frozen=True, slots=True)
class ErrorStatRow:
    """Failed jobs of one (hour, queue, user, label) with one (component, code)."""

    hour: int
    site: str
    user: str
    label: str
    component: str
    code: int
    jobs: int
    latest: int  # epoch of the latest occurrence
    sample_pid: int  # its job


def _stat_row(time: int, key: Sequence[Any], sums: Sequence[int]) -> StatRow:
    """A StatRow from (queue, user, label, state, attempt) and the STATS_SUMS values."""
    nw = len(STATS_WALL)
    site, user, label, status, attempt = key
    wall, mem = tuple(sums[2 : 2 + nw]), tuple(sums[2 + nw :])
    return StatRow(
        time, str(site), str(user), str(label), str(status), int(attempt), sums[0], sums[1], wall, mem
    )


def seconds(t: datetime, *, up: bool = False) -> int:
    """Epoch seconds of a naive UTC time, rounded down (``up``: up, so the whole hours from
    ``ceil_hour(seconds(t, up=True))`` never start before ``t``)."""
    s = calendar.timegm(t.timetuple())
    return s + 1 if up and t.microsecond else s


def at(t: int) -> datetime:
    """The naive UTC time of epoch seconds ``t``."""
    return datetime.fromtimestamp(t, UTC).replace(tzinfo=None)


def floor_hour(t: int) -> int:
    return t - t % HOUR


def ceil_hour(t: int) -> int:
    return floor_hour(t + HOUR - 1)


def floor_day(t: int) -> int:
    return t - t % DAY


def ceil_day(t: int) -> int:
    return floor_day(t + DAY - 1)


# -- fold ----------------------------------------------------------------------------------------------


def _dialect(conn: Connection) -> Any:
    """The dialect module whose ``insert`` has ON CONFLICT (an upsert)."""
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def _greatest(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)


def _take(conn: Connection, delta: Table, limit: int) -> list[Any]:
    """Delete and return the oldest ``limit`` deltas (a few more when concurrent writers commit out of
    row_id order).

    A range, not ``row_id IN (SELECT ... LIMIT n)``: PostgreSQL planned that as a nested-loop semi-join
    when its statistics still saw the table empty, n x n comparisons (a 50,000-row fold took minutes).
    """
    oldest = select(delta.c.row_id).order_by(delta.c.row_id).limit(limit).subquery()
    last = conn.execute(select(func.max(oldest.c.row_id))).scalar()
    if last is None:
        return []
    stmt = delete(delta).where(delta.c.row_id <= last).returning(*delta.c)
    return list(conn.execute(stmt).mappings())


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
    dialect = _dialect(conn)
    _upsert_stats(conn, dialect.insert(job_stats), ("hour", *STATS_KEY[1:]), sums)
    _upsert_stats(conn, dialect.insert(job_stats_daily), ("day", *STATS_KEY[1:]), daily)
    states: Counter[tuple[Any, ...]] = Counter()
    for k, v in sums.items():
        states[(k[0], k[4])] += v[0]  # (hour, state)
    _upsert_totals(conn, dialect.insert(job_stats_by_hour), ("hour", "state"), states)
    errors = _take(conn, job_error_stats_delta, limit)
    signed = [(tuple(r[k] for k in ERROR_KEY), r["jobs"], r["latest"], r["sample_panda_id"]) for r in errors]
    _upsert_errors(conn, dialect.insert(job_error_stats), ("hour", *ERROR_KEY[1:]), _fold_errors(signed))
    by_day = [((floor_day(k[0]), *k[1:]), n, t, pid) for k, n, t, pid in signed]
    _upsert_errors(conn, dialect.insert(job_error_stats_daily), ("day", *ERROR_KEY[1:]), _fold_errors(by_day))
    codes: Counter[tuple[Any, ...]] = Counter()
    for k, n, _t, _pid in signed:
        codes[(k[0], k[4], k[5])] += int(n)  # (hour, component, code)
    _upsert_totals(conn, dialect.insert(job_error_stats_by_hour), ("hour", "component", "code"), codes)
    return max(len(stats), len(errors))


def _upsert_stats(
    conn: Connection, stmt: Any, key: Sequence[str], sums: dict[tuple[Any, ...], list[int]]
) -> None:
    """Add ``sums`` to the rows of ``stmt``'s table (an INSERT of the dialect, for ON CONFLICT)."""
    if not sums:
        return
    table: Table = stmt.table
    rows = [dict(zip(key, k, strict=True)) | dict(zip(STATS_SUMS, v, strict=True)) for k, v in sums.items()]
    add = {name: table.c[name] + stmt.excluded[name] for name in STATS_SUMS}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=add), rows)
    _drop_empty(conn, table, key, [k for k, v in sums.items() if v[0] <= 0])


def _upsert_totals(
    conn: Connection, stmt: Any, key: Sequence[str], totals: Mapping[tuple[Any, ...], int]
) -> None:
    """Add ``totals`` (key -> jobs) to the rows of ``stmt``'s per-hour totals table."""
    totals = {k: n for k, n in totals.items() if n}
    if not totals:
        return
    table: Table = stmt.table
    rows = [dict(zip(key, k, strict=True)) | {"jobs": n} for k, n in totals.items()]
    add = {"jobs": table.c.jobs + stmt.excluded.jobs}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=add), rows)
    _drop_empty(conn, table, key, [k for k, n in totals.items() if n < 0])


def _upsert_errors(
    conn: Connection, stmt: Any, key: Sequence[str], folded: dict[tuple[Any, ...], list[int]]
) -> None:
    """Add ``folded`` (jobs, latest, sample) to the rows of ``stmt``'s table."""
    table: Table = stmt.table
    folded = {k: v for k, v in folded.items() if v[0] or v[1]}
    if not folded:
        return
    rows = [
        dict(zip(key, k, strict=True)) | {"jobs": v[0], "latest": v[1], "sample_panda_id": v[2]}
        for k, v in folded.items()
    ]
    t, x = table.c, stmt.excluded
    newer = (x.latest > t.latest) | and_(x.latest == t.latest, x.sample_panda_id > t.sample_panda_id)
    update = {
        "jobs": t.jobs + x.jobs,
        "latest": _greatest(conn, t.latest, x.latest),
        "sample_panda_id": case((newer, x.sample_panda_id), else_=t.sample_panda_id),
    }
    conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=update), rows)
    _drop_empty(conn, table, key, [k for k, v in folded.items() if v[0] <= 0])


def _fold_errors(rows: Iterable[tuple[tuple[Any, ...], int, int, int]]) -> dict[tuple[Any, ...], list[int]]:
    """key -> [jobs, latest, sample] of signed error rows (key, jobs, latest, pid). A job whose rows of a key
    cancel out (it entered and left the key: a re-timed or moved job) is no candidate for the latest."""
    rows = list(rows)
    net: Counter[tuple[tuple[Any, ...], int]] = Counter()
    for key, jobs, _latest, pid in rows:
        net[(key, int(pid))] += int(jobs)
    out: dict[tuple[Any, ...], list[int]] = {}
    for key, jobs, latest, pid in rows:
        acc = out.setdefault(key, [0, 0, 0])
        acc[0] += int(jobs)
        seen = (int(latest), int(pid))
        if jobs > 0 and net[(key, int(pid))] > 0 and seen > (acc[1], acc[2]):
            acc[1], acc[2] = seen
    return out


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


# -- reads ---------------------------------------------------------------------------------------------


def _where(table: Table, start: int | None, end: int, matches: Iterable[Match]) -> list[ColumnElement[bool]]:
    time = table.c.day if "day" in table.c else table.c.hour
    out: list[ColumnElement[bool]] = [time < end]
    if start is not None:
        out.append(time >= start)
    for m in matches:
        if m.column not in MATCHABLE:
            raise ValueError(f"column {m.column!r} is not in the hourly aggregates")
        out.append(match_clause(table.c[m.column], m))
    return out


# -- grouped reads: what the pages summarise, grouped in SQL so a week of hours returns few rows ----------


@dataclass(frozen=True, slots=True)
class Window:
    """Whole hours [start, end) (start None: from the first) of final jobs in ``statuses``."""

    start: int | None
    end: int
    statuses: tuple[str, ...]
    matches: tuple[Match, ...] = ()


Part = tuple[Table, int | None, int]  # a table and the [start, end) of its time column to read


def _parts(w: Window, hourly: Table, daily: Table, delta: Table, *, days: bool) -> list[Part]:
    """Where the window's rows are: pending deltas over all of it, plus (``days``) the daily rollup for
    its whole days and the hourly rows for the hours before and after them, else the hourly rows."""
    parts: list[Part] = [(delta, w.start, w.end)]
    d0 = ceil_day(w.start) if w.start is not None else None
    d1 = floor_day(w.end)
    if not days or (d0 is not None and d0 >= d1):
        return [*parts, (hourly, w.start, w.end)]
    parts += [(daily, d0, d1), (hourly, d1, w.end)]
    if d0 is not None and w.start is not None:
        parts.append((hourly, w.start, d0))
    return parts


def _sum(column: ColumnElement[Any]) -> ColumnElement[int]:
    """sum() as a BIGINT: PostgreSQL's sum of a bigint is a numeric, which psycopg returns as a Decimal
    (slow to parse and to add; a 30-day page sums ~30,000 rows of 24 counters)."""
    return cast(func.sum(column), BigInteger)


def _grouped(
    conn: Connection,
    parts: Sequence[Part],
    w: Window,
    group: Sequence[str],
    sums: Sequence[str],
    *,
    by_status: bool = True,
    equal: Mapping[str, str] | None = None,
) -> list[tuple[Any, ...]]:
    """``group`` columns and sum(``sums``) over ``parts`` (aggregates and pending deltas), rows with jobs.

    One grouped query per part (each on its own table's index, no temporary b-tree over a union),
    merged here: a part returns at most one row per group."""
    merged: dict[tuple[Any, ...], list[int]] = {}
    n = len(group)
    for table, start, end in parts:
        where = _where(table, start, end, w.matches)
        if by_status:
            where.append(table.c.state.in_(w.statuses))
        where.extend(table.c[k] == v for k, v in (equal or {}).items())
        cols = [table.c[c] for c in group]
        stmt = select(*cols, *(_sum(table.c[s]) for s in sums)).where(*where).group_by(*cols)
        for r in conn.execute(stmt):
            key = tuple(r[:n])
            acc = merged.get(key)
            if acc is None:
                merged[key] = list(r[n:])
            else:
                for i, v in enumerate(r[n:]):
                    acc[i] += v
    jobs = list(sums).index("jobs")
    return [(*k, *v) for k, v in merged.items() if v[jobs]]


def _stats_parts(w: Window, *, days: bool = True) -> list[Part]:
    return _parts(w, job_stats, job_stats_daily, job_stats_delta, days=days)


def _error_parts(w: Window, *, days: bool = True) -> list[Part]:
    return _parts(w, job_error_stats, job_error_stats_daily, job_error_stats_delta, days=days)


def _hour_parts(w: Window, hourly: Table, totals: Table, delta: Table) -> list[Part]:
    """Per-hour reads: the pending deltas plus the per-hour totals (a window filtered on queue, user or
    label: the hourly rows, which hold those keys)."""
    return [(delta, w.start, w.end), (hourly if w.matches else totals, w.start, w.end)]


def by_hour(conn: Connection, w: Window) -> list[tuple[int, str, int]]:
    """(hour, state, jobs): the charts' series and the counts by state."""
    parts = _hour_parts(w, job_stats, job_stats_by_hour, job_stats_delta)
    rows = _grouped(conn, parts, w, ("hour", "state"), ("jobs",))
    return [(int(h), str(s), int(n)) for h, s, n in rows]


def counts(
    conn: Connection, w: Window, column: str, only: str | None = None
) -> list[tuple[str, str, int, int]]:
    """(``column`` value, state, jobs, CPU s) over the window (``only``: that value alone); NULL is ''."""
    if column not in MATCHABLE:
        raise ValueError(f"column {column!r} is not in the hourly aggregates")
    equal = {column: only} if only is not None else None
    rows = _grouped(conn, _stats_parts(w), w, (column, "state"), ("jobs", "cpu_seconds"), equal=equal)
    return [(str(v), str(s), int(n), int(c)) for v, s, n, c in rows]


def by_key(conn: Connection, w: Window) -> list[StatRow]:
    """Per (queue, user, label, state, attempt) over the whole window (``hour`` is its start): the
    summaries' counts, CPU seconds and histograms, in one read of each part."""
    group = ("computing_site", "prod_user_name", "prod_source_label", "state", "attempt_nr")
    rows = _grouped(conn, _stats_parts(w), w, group, STATS_SUMS)
    return [_stat_row(w.start or 0, r[:5], r[5:]) for r in rows]


def hourly(conn: Connection, w: Window) -> list[StatRow]:
    """Every hourly row of the window (pending deltas added), at full key: what the triggers keep."""
    return [
        _stat_row(int(r[0]), r[1:6], r[6:])
        for r in _grouped(conn, _stats_parts(w, days=False), w, STATS_KEY, STATS_SUMS)
    ]


def error_hourly(conn: Connection, w: Window) -> list[ErrorStatRow]:
    """Every hourly error row of the window (pending deltas added), with its latest occurrence."""
    rows: list[tuple[tuple[Any, ...], int, int, int]] = []
    for table, start, end in _error_parts(w, days=False):
        cols = [table.c[k] for k in ERROR_KEY]
        stmt = select(*cols, table.c.jobs, table.c.latest, table.c.sample_panda_id)
        stmt = stmt.where(*_where(table, start, end, w.matches))
        rows += [(tuple(r[: len(ERROR_KEY)]), int(r[-3]), int(r[-2]), int(r[-1])) for r in conn.execute(stmt)]
    return [
        ErrorStatRow(int(k[0]), str(k[1]), str(k[2]), str(k[3]), str(k[4]), int(k[5]), v[0], v[1], v[2])
        for k, v in _fold_errors(rows).items()
        if v[0]
    ]


def errors_by_hour(conn: Connection, w: Window) -> list[tuple[int, str, int, int]]:
    """(hour, component, code, failed jobs): the failures chart."""
    group = ("hour", "component", "code")
    parts = _hour_parts(w, job_error_stats, job_error_stats_by_hour, job_error_stats_delta)
    rows = _grouped(conn, parts, w, group, ("jobs",), by_status=False)
    return [(int(h), str(c), int(code), int(n)) for h, c, code, n in rows]


def errors_by_key(conn: Connection, w: Window) -> list[ErrorStatRow]:
    """Failed jobs per (queue, user, label, component, code) over the window, with the latest occurrence
    (``hour`` is the window's start); the sample is the job of the latest one (SQLite: max()'s bare column,
    PostgreSQL: the first of an ordered array_agg)."""
    key = ("computing_site", "prod_user_name", "prod_source_label", "component", "code")
    merged: dict[tuple[Any, ...], list[int]] = {}  # key -> [jobs, latest, sample]
    for table, start, end in _error_parts(w):
        cols = [table.c[c] for c in key]
        latest = func.max(case((table.c.jobs > 0, table.c.latest)))
        if conn.dialect.name == "postgresql":
            order = (table.c.jobs > 0).desc(), table.c.latest.desc(), table.c.sample_panda_id.desc()
            sample: Any = func.array_agg(aggregate_order_by(table.c.sample_panda_id, *order))[1]
        else:
            sample = table.c.sample_panda_id  # the bare column of the row that gave max(latest)
        stmt = select(*cols, _sum(table.c.jobs), latest, sample)
        stmt = stmt.where(*_where(table, start, end, w.matches)).group_by(*cols)
        for r in conn.execute(stmt):
            k, n, t, pid = tuple(r[:5]), int(r[5]), r[6], r[7]
            acc = merged.setdefault(k, [0, 0, 0])
            acc[0] += n
            if t is not None and (int(t), int(pid)) > (acc[1], acc[2]):
                acc[1], acc[2] = int(t), int(pid)
    start = w.start or 0
    return [
        ErrorStatRow(start, str(a), str(b), str(c), str(d), int(e), v[0], v[1], v[2])
        for (a, b, c, d, e), v in merged.items()
        if v[0]
    ]

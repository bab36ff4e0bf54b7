"""The monitor's hourly aggregates of final jobs: their keys and rows, and reading windows.

Triggers on ``jobs`` (migration 0021) append a signed row to ``job_stats_delta`` (and one per error code
of a failed job to ``job_error_stats_delta``) whenever a row enters, leaves or changes in a final state;
db/job_stats_fold.py folds them into ``job_stats`` / ``job_error_stats``, their daily rollups and their
per-hour totals. Readers add the pending deltas, so an aggregate read is exact whether or not the fold
has run: ``stats`` equals a GROUP BY over the final jobs at any moment.

Hours are epoch seconds of the start of the hour of ``modification_time`` (which a final job keeps).
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Table, case, cast, func, select
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


# -- merging signed error rows (the fold and the hourly reads) ------------------------------------------


def merge_errors(rows: Iterable[tuple[tuple[Any, ...], int, int, int]]) -> dict[tuple[Any, ...], list[int]]:
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
        for k, v in merge_errors(rows).items()
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

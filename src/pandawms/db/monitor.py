"""Monitor reads: every SQL statement behind the web monitor's pages (read-only).

A page's selection is a ``Selection`` (states, attribute patterns, ids, error codes, time window on
``modification_time``). Listings and summaries read one status at a time on ``ix_jobs_status_modtime``
(status, modification_time) newest first with a LIMIT, then merge: each part is an index range scan that
stops early, so a page costs O(limit) rows whatever the table size. Summaries over a selection are
computed in Python from one LIMITed projection (``facts``); per-queue and per-user pages use grouped
counts over the window.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Select,
    and_,
    cast,
    extract,
    false,
    func,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from pandawms.core.specs import ErrorComponent
from pandawms.db.schema import jobs

TEXT_COLUMNS = frozenset(
    {
        "computing_site",
        "prod_user_name",
        "prod_source_label",
        "job_name",
        "transformation",
        "modification_host",
    }
)
INT_COLUMNS = frozenset({"panda_id", "task_id", "jobset_id", "parent_id", "attempt_nr"})
COMPONENTS: tuple[str, ...] = tuple(c.value for c in ErrorComponent)
NOT_SPECIFIED = "Not specified"

_SQLITE_HAS_UNIXEPOCH = sqlite3.sqlite_version_info >= (3, 38, 0)


@dataclass(frozen=True, slots=True)
class Term:
    """One pattern: ``*`` is a wildcard, a lone ``*`` means "set", ``Not specified`` means NULL/empty."""

    pattern: str
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """An attribute filter on a text column: OR over groups, AND inside a group (``a|b,!c``)."""

    column: str
    any_of: tuple[tuple[Term, ...], ...]


@dataclass(frozen=True, slots=True)
class Selection:
    """Which jobs a page shows. ``statuses`` is never empty (the parser expands wildcards)."""

    statuses: tuple[str, ...]
    matches: tuple[Match, ...] = ()
    ints: tuple[tuple[str, tuple[int, ...]], ...] = ()
    errors: tuple[tuple[str, int], ...] = ()  # OR of (component, code)
    since: datetime | None = None
    until: datetime | None = None

    @property
    def status_only(self) -> bool:
        return not (self.matches or self.ints or self.errors)


class SortKey(StrEnum):
    TIME_DESC = "time-descending"
    TIME_ASC = "time-ascending"
    ID_DESC = "pandaid-descending"
    ID_ASC = "pandaid-ascending"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Keyset position: the sort key and PandaID of the last row shown."""

    time: datetime | None
    panda_id: int


class Fact(NamedTuple):
    """The columns job summaries need, times as epoch seconds (naive UTC)."""

    panda_id: int
    status: str
    site: str | None
    user: str
    label: str
    attempt: int
    modified: int
    created: int
    started: int | None
    ended: int | None
    max_pss: int | None
    cores: int
    cpu: int | None
    n: int = 1  # jobs this fact stands for: 1, or an hourly aggregate's count (monitor/gather.py)


class ErrorFact(NamedTuple):
    """A failed or holding job with an error code: what error summaries need."""

    panda_id: int
    status: str
    site: str | None
    user: str
    modified: int
    errors: tuple[tuple[str, int], ...]  # (component, code) of each component that set one
    n: int = 1  # jobs this fact stands for (1, or an hourly aggregate's count)


ERROR_STATES = ("failed", "holding")


# -- selection -> SQL ----------------------------------------------------------------------------------


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").lower()


def term_clause(col: Any, term: Term) -> ColumnElement[bool]:
    """One pattern on a text column (also the task pages' filters, db/monitor_tasks.py)."""
    if term.pattern == NOT_SPECIFIED:
        cond: ColumnElement[bool] = or_(col.is_(None), col == "")
    elif term.pattern == "*":
        cond = and_(col.is_not(None), col != "")
    elif "*" in term.pattern:
        cond = func.lower(col).like(_like(term.pattern), escape="\\")
    else:
        cond = col == term.pattern
    return not_(func.coalesce(cond, false())) if term.negate else cond


def match_clause(col: Any, m: Match) -> ColumnElement[bool]:
    """``m``'s groups on ``col`` (a jobs column, or the same column of the hourly aggregates)."""
    return or_(*(and_(*(term_clause(col, t) for t in group)) for group in m.any_of))


def _match(m: Match) -> ColumnElement[bool]:
    if m.column not in TEXT_COLUMNS:
        raise ValueError(f"column {m.column!r} cannot be filtered")
    return match_clause(jobs.c[m.column], m)


def _filters(sel: Selection, *, with_status: bool = True) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if with_status:
        out.append(jobs.c.job_status.in_(sel.statuses))
    out.extend(_match(m) for m in sel.matches)
    for name, values in sel.ints:
        if name not in INT_COLUMNS:
            raise ValueError(f"column {name!r} cannot be filtered")
        out.append(jobs.c[name].in_(values))
    if sel.errors:
        out.append(or_(*(jobs.c[f"{comp}_error_code"] == code for comp, code in sel.errors)))
    if sel.since is not None:
        out.append(jobs.c.modification_time >= sel.since)
    if sel.until is not None:
        out.append(jobs.c.modification_time < sel.until)
    return out


def epoch_seconds(conn: Connection, col: Any) -> ColumnElement[int]:
    """Seconds since 1970 computed in SQL (summaries read up to tens of thousands of these per page)."""
    if conn.dialect.name == "sqlite":
        if _SQLITE_HAS_UNIXEPOCH:  # 3x faster than strftime('%s') on 10k rows
            return cast(func.unixepoch(col), Integer)
        return cast(func.strftime("%s", col), Integer)
    return cast(extract("epoch", col), BigInteger)


def _keyset(order: SortKey, cursor: Cursor | None) -> list[ColumnElement[bool]]:
    if cursor is None:
        return []
    desc = order in (SortKey.TIME_DESC, SortKey.ID_DESC)
    pid = jobs.c.panda_id
    if order in (SortKey.ID_DESC, SortKey.ID_ASC) or cursor.time is None:
        return [pid < cursor.panda_id if desc else pid > cursor.panda_id]
    t = jobs.c.modification_time
    if desc:
        return [t <= cursor.time, or_(t < cursor.time, pid < cursor.panda_id)]
    return [t >= cursor.time, or_(t > cursor.time, pid > cursor.panda_id)]


def _newest_ids(
    sel: Selection, order: SortKey, n: int, extra: Sequence[ColumnElement[bool]] = ()
) -> Select[Any]:
    """PandaIDs of up to n jobs of the selection in ``order``.

    One LIMITed read per status in index order (index-only on ix_jobs_status_modtime or ix_jobs_status_id
    when only states and the window filter), merged; rows are fetched afterwards for the n ids only.
    """
    by_time = order in (SortKey.TIME_DESC, SortKey.TIME_ASC)
    desc = order in (SortKey.TIME_DESC, SortKey.ID_DESC)
    key = jobs.c.modification_time if by_time else jobs.c.panda_id
    ordering = (key.desc(), jobs.c.panda_id.desc()) if desc else (key.asc(), jobs.c.panda_id.asc())
    cols = [key.label("sort_key"), jobs.c.panda_id.label("sort_id")]
    common = [*_filters(sel, with_status=False), *extra]
    parts = [
        select(*cols).where(jobs.c.job_status == st, *common).order_by(*ordering).limit(n).subquery()
        for st in sel.statuses
    ]
    if not parts:
        return select(jobs.c.panda_id).where(false())
    merged = union_all(*(select(p) for p in parts)).subquery()
    outer = (
        (merged.c.sort_key.desc(), merged.c.sort_id.desc()) if desc else (merged.c.sort_key, merged.c.sort_id)
    )
    return select(merged.c.sort_id).order_by(*outer).limit(n)


def _newest(
    columns: Sequence[Any], sel: Selection, n: int, extra: Sequence[ColumnElement[bool]] = ()
) -> Select[Any]:
    """``columns`` of the newest n jobs of the selection (in no particular order)."""
    ids = _newest_ids(sel, SortKey.TIME_DESC, n, extra).subquery()
    return select(*columns).where(jobs.c.panda_id.in_(select(ids.c.sort_id)))


# -- jobs pages ----------------------------------------------------------------------------------------


def count_by_status(conn: Connection, sel: Selection) -> dict[str, int]:
    """Exact counts per state; index-only on ix_jobs_status_modtime when only states and window are set."""
    stmt = select(jobs.c.job_status, func.count()).where(*_filters(sel)).group_by(jobs.c.job_status)
    return {str(s): int(n) for s, n in conn.execute(stmt)}


def list_page(
    conn: Connection, sel: Selection, order: SortKey, cursor: Cursor | None, n: int
) -> list[dict[str, Any]]:
    """One page of full job rows in ``order`` after ``cursor``."""
    ids_stmt = _newest_ids(sel, order, n, _keyset(order, cursor))
    ids = [int(r[0]) for r in conn.execute(ids_stmt)]
    if not ids:
        return []
    rows = {
        int(r["panda_id"]): dict(r)
        for r in conn.execute(select(jobs).where(jobs.c.panda_id.in_(ids))).mappings()
    }
    return [rows[i] for i in ids if i in rows]


def facts(conn: Connection, sel: Selection, cap: int) -> list[Fact]:
    """The newest ``cap`` jobs of the selection as summary facts (one LIMITed read)."""
    c = jobs.c
    cols = [
        c.panda_id,
        c.job_status,
        c.computing_site,
        c.prod_user_name,
        c.prod_source_label,
        c.attempt_nr,
        epoch_seconds(conn, c.modification_time).label("t_mod"),
        epoch_seconds(conn, c.creation_time).label("t_created"),
        epoch_seconds(conn, c.start_time).label("t_start"),
        epoch_seconds(conn, c.end_time).label("t_end"),
        c.max_pss,
        c.core_count,
        c.cpu_consumption_time,
    ]
    return [Fact(*r) for r in conn.execute(_newest(cols, sel, cap)).all()]


def error_facts(conn: Connection, sel: Selection, cap: int) -> list[ErrorFact]:
    """The newest ``cap`` failed/holding jobs of the selection that carry an error code.

    Codes only: diagnostics are long strings and a summary shows one per (component, code), so they are
    read afterwards for the few sample jobs (``error_diags``).
    """
    c = jobs.c
    states = tuple(s for s in sel.statuses if s in ERROR_STATES)
    if not states:
        return []
    codes = [c[f"{comp}_error_code"] for comp in COMPONENTS]
    cols = [
        c.panda_id,
        c.job_status,
        c.computing_site,
        c.prod_user_name,
        epoch_seconds(conn, c.modification_time).label("t_mod"),
        *codes,
    ]
    narrowed = Selection(states, sel.matches, sel.ints, sel.errors, sel.since, sel.until)
    stmt = _newest(cols, narrowed, cap, [or_(*(code != 0 for code in codes))])
    out = []
    for pid, status, site, user, t_mod, *values in conn.execute(stmt).all():
        errors = tuple((comp, code) for comp, code in zip(COMPONENTS, values, strict=True) if code)
        out.append(ErrorFact(pid, status, site, user, t_mod, errors))
    return out


def error_diags(conn: Connection, panda_ids: Sequence[int]) -> dict[tuple[int, str], str]:
    """{(panda_id, component): diagnostic} of the given jobs (non-empty diagnostics only)."""
    if not panda_ids:
        return {}
    c = jobs.c
    cols = [c.panda_id, *(c[f"{comp}_error_diag"] for comp in COMPONENTS)]
    out: dict[tuple[int, str], str] = {}
    for pid, *diags in conn.execute(select(*cols).where(c.panda_id.in_(sorted(set(panda_ids))))):
        out.update({(int(pid), comp): d for comp, d in zip(COMPONENTS, diags, strict=True) if d})
    return out


def capped_count(conn: Connection, sel: Selection, cap: int) -> int:
    """min(count, cap) for a selection with attribute filters (stops reading at the cap)."""
    inner = _newest_ids(sel, SortKey.TIME_DESC, cap).subquery()
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())

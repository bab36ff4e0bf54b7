"""Monitor reads for the queue and user pages: grouped counts per window, workers (by status and by native
batch state), the last batch errors, brokerage rejections."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from pandawms.core.states import ACTIVE_STATES, FINAL_STATES
from pandawms.db import job_stats as js
from pandawms.db.schema import batch_errors, brokerage_decisions, jobs, workers

# -- sites, users, workers -----------------------------------------------------------------------------


def _window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    out = [jobs.c.modification_time >= since] if since is not None else []
    if until is not None:
        out.append(jobs.c.modification_time < until)
    return out


Count = tuple[str | None, str, int, int]  # (value, state, jobs, CPU s)


def _live_counts(
    conn: Connection, column: str, states: list[str], window: list[ColumnElement[bool]], only: str | None
) -> list[Count]:
    col = jobs.c[column]
    where_only = [col == only] if only is not None else []
    cpu = func.coalesce(func.sum(jobs.c.cpu_consumption_time), 0)
    stmt = (
        select(col, jobs.c.job_status, func.count(), cpu)
        .where(jobs.c.job_status.in_(states), *window, *where_only)
        .group_by(col, jobs.c.job_status)
    )
    return [(r[0], str(r[1]), int(r[2]), int(r[3])) for r in conn.execute(stmt)]


def counts_by(
    conn: Connection,
    column: str,
    since: datetime,
    until: datetime | None,
    now: datetime,
    only: str | None = None,
) -> list[Count]:
    """(value, state, jobs, CPU s) per ``column`` value: active jobs now plus final jobs in the window.

    A value may come in several rows (callers add them up; NULL may also come as ''): the final jobs of
    the window's whole hours come from the hourly aggregates (db/job_stats.py), those of the partial
    hours at either end from ``jobs`` (exact times), so a week at a million jobs reads a few hundred
    aggregate rows instead of every ended job."""
    active = [s.value for s in ACTIVE_STATES]
    final = [s.value for s in FINAL_STATES]
    out = _live_counts(conn, column, active, [], only)
    h0 = js.ceil_hour(js.seconds(since, up=True))
    h1 = js.floor_hour(js.seconds(until if until is not None else now))
    if h0 >= h1 or column not in js.MATCHABLE:
        return out + _live_counts(conn, column, final, _window(since, until), only)
    out += js.counts(conn, js.Window(h0, h1, tuple(final)), column, only)
    out += _live_counts(conn, column, final, _window(since, js.at(h0)), only)
    return out + _live_counts(conn, column, final, _window(js.at(h1), until), only)


def ended_by_site(conn: Connection, since: datetime) -> dict[str, dict[str, int]]:
    """Jobs that reached a final status at or after ``since``, per queue and status (the
    ``ix_jobs_status_modtime`` index: one range per final status)."""
    stmt = (
        select(jobs.c.computing_site, jobs.c.job_status, func.count())
        .where(jobs.c.job_status.in_([s.value for s in FINAL_STATES]), jobs.c.modification_time >= since)
        .group_by(jobs.c.computing_site, jobs.c.job_status)
    )
    out: dict[str, dict[str, int]] = {}
    for site, status, n in conn.execute(stmt):
        out.setdefault(str(site), {})[str(status)] = int(n)
    return out


def worker_counts(conn: Connection, since: datetime, queue: str | None = None) -> list[tuple[str, str, int]]:
    """(queue, worker status, n): live workers plus those that ended in the window."""
    w = workers.c
    live = w.status.in_(("submitted", "running"))
    ended = and_(w.status.not_in(("submitted", "running")), w.modification_time >= since)
    stmt = select(w.queue, w.status, func.count()).where(or_(live, ended))
    if queue is not None:
        stmt = stmt.where(w.queue == queue)
    return [(str(q), str(s), int(n)) for q, s, n in conn.execute(stmt.group_by(w.queue, w.status))]


UNREPORTED = "unreported"  # a live worker whose factory has not sent its batch state (yet)


def batch_state_counts(
    conn: Connection, queue: str, since: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """Workers of a queue by native batch state: (live now, ended in the window); ix_workers_queue_status."""
    w = workers.c
    live_cond = w.status.in_(("submitted", "running"))
    out: tuple[dict[str, int], dict[str, int]] = ({}, {})
    for index, cond in enumerate((live_cond, and_(~live_cond, w.modification_time >= since))):
        stmt = select(w.batch_state, func.count()).where(w.queue == queue, cond).group_by(w.batch_state)
        for state, n in conn.execute(stmt):
            key = str(state) if state else UNREPORTED
            out[index][key] = out[index].get(key, 0) + int(n)
    return out


@dataclass(frozen=True, slots=True)
class BatchErrorView:
    time: datetime
    harvester_id: str
    worker_id: int | None
    batch_id: str
    batch_state: str
    exit_code: int | None
    reason: str


def last_batch_errors(conn: Connection, queue: str, limit: int = 20) -> list[BatchErrorView]:
    """The newest batch errors of a queue (ix_batch_errors_queue), newest first."""
    e = batch_errors.c
    stmt = (
        select(e.time, e.harvester_id, e.worker_id, e.batch_id, e.batch_state, e.exit_code, e.reason)
        .where(e.queue == queue)
        .order_by(e.error_id.desc())
        .limit(limit)
    )
    return [
        BatchErrorView(
            r.time,
            str(r.harvester_id),
            int(r.worker_id) if r.worker_id is not None else None,
            str(r.batch_id),
            str(r.batch_state),
            r.exit_code,
            str(r.reason),
        )
        for r in conn.execute(stmt)
    ]


@dataclass(frozen=True, slots=True)
class Rejection:
    panda_id: int
    time: datetime
    reason: str
    permanent: bool


def queue_rejections(conn: Connection, queue: str, scan: int = 5000, limit: int = 20) -> list[Rejection]:
    """Why brokerage refused ``queue``, newest first, among the latest ``scan`` decisions."""
    bd = brokerage_decisions.c
    newest = select(bd.panda_id).order_by(bd.panda_id.desc()).limit(scan).subquery()
    needle = "%" + json.dumps(queue)[:-1].replace("%", "\\%").replace("_", "\\_") + '"%'
    stmt = (
        select(bd.panda_id, bd.decision_time, bd.rejected)
        .where(bd.panda_id.in_(select(newest.c.panda_id)), bd.rejected.like(needle, escape="\\"))
        .order_by(bd.panda_id.desc())
        .limit(limit)
    )
    out = []
    for pid, when, raw in conn.execute(stmt):
        entry = json.loads(raw).get(queue)
        if isinstance(entry, dict):
            out.append(Rejection(int(pid), when, str(entry.get("reason", "")), bool(entry.get("permanent"))))
    return out


def unbrokered(conn: Connection, queue: str, limit: int = 20) -> list[tuple[int, str]]:
    """Defined jobs still waiting for a queue whose brokerage explanation names ``queue`` (oldest first)."""
    needle = "%" + queue.replace("%", "\\%").replace("_", "\\_") + ":%"
    stmt = (
        select(jobs.c.panda_id, jobs.c.brokerage_error_diag)
        .where(jobs.c.job_status == "defined", jobs.c.computing_site.is_(None))
        .where(jobs.c.brokerage_error_diag.like(needle, escape="\\"))
        .order_by(jobs.c.panda_id)
        .limit(limit)
    )
    return [(int(p), str(d)) for p, d in conn.execute(stmt)]

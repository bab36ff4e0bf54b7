"""Batched writes for pilot/update_jobs_bulk: the status rows of many jobs read and locked in one query,
and many heartbeats' columns written in one executemany per column set (a factory's bulk heartbeats were
one SAVEPOINT, one locked read and one UPDATE each)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from pandawms.core.changes import JobChange
from pandawms.core.ids import PandaID
from pandawms.core.states import JobStatus
from pandawms.db.jobs import STATUS_COLUMNS, StatusRow, update_fields_sql
from pandawms.db.rows import change_columns
from pandawms.db.schema import jobs

_LOCK_MANY = (
    select(*STATUS_COLUMNS)
    .where(jobs.c.panda_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(jobs.c.panda_id)  # one lock order for every caller: concurrent bulk calls cannot deadlock
    .with_for_update()
)


def lock_statuses(conn: Connection, ids: Iterable[int]) -> dict[int, StatusRow]:
    """Read and lock (PostgreSQL FOR UPDATE, in id order; SQLite holds the writer lock already) the
    status rows of the jobs that exist among ``ids``."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(_LOCK_MANY, {"b_ids": wanted})
    return {int(r[0]): StatusRow(PandaID(r[0]), JobStatus(r[1]), r[2], r[3], r[4], r[5]) for r in rows}


def update_fields_many(conn: Connection, changes: Sequence[tuple[int, JobChange]], now: datetime) -> None:
    """Write each change's non-status columns (as jobs.update_fields does for one job): one executemany
    per distinct set of columns."""
    groups: dict[frozenset[str], list[dict[str, object]]] = {}
    for panda_id, change in changes:
        values = change_columns(change, now)
        params = {"b_id": panda_id, **{f"v_{k}": v for k, v in values.items()}}
        groups.setdefault(frozenset(values), []).append(params)
    for names, rows in groups.items():
        conn.execute(update_fields_sql(names), rows)

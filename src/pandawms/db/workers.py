"""Worker repository: pilot-factory workers and the per-queue counts factories are sized on.

Status is written only by ``insert_workers`` and ``write_status``, called only from services/lifecycle.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pandawms.core.changes import WorkerChange
from pandawms.core.states import JobStatus, WorkerStatus
from pandawms.db.schema import BATCH_ERRORS_KEPT, batch_errors, harvesters, jobs, queues, workers


@dataclass(frozen=True, slots=True)
class WorkerRow:
    worker_id: int
    harvester_id: str
    queue: str
    status: WorkerStatus


def lock_queue(conn: Connection, queue: str) -> bool:
    """Serialise sizing for one queue across factories (row lock on PostgreSQL; SQLite has one writer)."""
    row = conn.execute(select(queues.c.name).where(queues.c.name == queue).with_for_update()).first()
    return row is not None


def insert_workers(
    conn: Connection, harvester_id: str, queue: str, n: int, now: datetime, request_id: str | None = None
) -> list[int]:
    if n <= 0:
        return []
    row = {
        "harvester_id": harvester_id,
        "queue": queue,
        "status": WorkerStatus.SUBMITTED.value,
        "submit_time": now,
        "modification_time": now,
        "request_id": request_id,
    }
    result = conn.execute(
        insert(workers).returning(workers.c.worker_id, sort_by_parameter_order=True), [row] * n
    )
    return [int(r[0]) for r in result]


def lock_worker(conn: Connection, worker_id: int) -> WorkerRow | None:
    stmt = (
        select(workers.c.worker_id, workers.c.harvester_id, workers.c.queue, workers.c.status)
        .where(workers.c.worker_id == worker_id)
        .with_for_update()
    )
    row = conn.execute(stmt).first()
    return WorkerRow(int(row[0]), row[1], row[2], WorkerStatus(row[3])) if row is not None else None


def write_status(
    conn: Connection,
    worker_id: int,
    expected: WorkerStatus,
    status: WorkerStatus,
    now: datetime,
    change: WorkerChange,
    stamps: tuple[bool, bool] = (False, False),
) -> bool:
    """Compare-and-set the status with the change's columns; ``stamps`` sets start/end time to now."""
    values: dict[str, Any] = {"modification_time": now}
    if change.diag is not None:
        values["diag"] = change.diag[:500]
    if change.batch_id is not None:
        values["batch_id"] = change.batch_id[:80]
    if change.exit_code is not None:
        values["exit_code"] = change.exit_code
    if change.panda_id is not None:
        values["panda_id"] = change.panda_id
    if change.batch_state is not None:
        values["batch_state"] = change.batch_state[:32]
    if stamps[0]:
        values["start_time"] = now
    if stamps[1]:
        values["end_time"] = now
    stmt = (
        update(workers)
        .where(workers.c.worker_id == worker_id, workers.c.status == expected.value)
        .values(status=status.value, **values)
    )
    return conn.execute(stmt).rowcount == 1


def counts_by_status(conn: Connection, queue: str | None = None) -> dict[str, dict[str, int]]:
    stmt = select(workers.c.queue, workers.c.status, func.count()).group_by(workers.c.queue, workers.c.status)
    if queue is not None:
        stmt = stmt.where(workers.c.queue == queue)
    out: dict[str, dict[str, int]] = {}
    for q, status, n in conn.execute(stmt):
        out.setdefault(q, {s.value: 0 for s in WorkerStatus})[status] = n
    return out


def active_counts(conn: Connection, queue: str) -> tuple[int, int]:
    """(queued, running) workers of a queue; only active rows are read (ix_workers_queue_status)."""
    stmt = (
        select(workers.c.status, func.count())
        .where(workers.c.queue == queue, workers.c.status.in_(["submitted", "running"]))
        .group_by(workers.c.status)
    )
    counts = {s: n for s, n in conn.execute(stmt)}
    return counts.get("submitted", 0), counts.get("running", 0)


def activated_jobs(conn: Connection, queue: str) -> int:
    stmt = select(func.count()).where(
        jobs.c.job_status == JobStatus.ACTIVATED.value, jobs.c.computing_site == queue
    )
    return int(conn.execute(stmt).scalar_one())


_ACTIVE = (WorkerStatus.SUBMITTED.value, WorkerStatus.RUNNING.value)


def touch_harvester(
    conn: Connection, harvester_id: str, now: datetime, host: str | None = None, alive: int | None = None
) -> None:
    """Record a call from a factory (insert on its first call); host/alive are kept when not given."""
    values: dict[str, Any] = {"last_seen": now}
    if host is not None:
        values["host"] = host[:128]
    if alive is not None:
        values["alive_workers"] = alive
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(harvesters).values(harvester_id=harvester_id, first_seen=now, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[harvesters.c.harvester_id], set_=values))


def last_seen(conn: Connection, harvester_id: str) -> datetime | None:
    stmt = select(harvesters.c.last_seen).where(harvesters.c.harvester_id == harvester_id)
    return conn.execute(stmt).scalar_one_or_none()


def orphaned_workers(
    conn: Connection, cutoff: datetime, limit: int
) -> list[tuple[int, str, datetime | None]]:
    """Live workers whose factory has been silent since before ``cutoff``: (worker_id, harvester, last seen).

    A factory never recorded (workers older than liveness tracking) counts as silent since its worker's last
    change. Reads the active rows only (ix_workers_status_modtime), joined to the few harvester rows.
    """
    seen = harvesters.c.last_seen
    stmt = (
        select(workers.c.worker_id, workers.c.harvester_id, seen)
        .select_from(workers.outerjoin(harvesters, harvesters.c.harvester_id == workers.c.harvester_id))
        .where(
            workers.c.status.in_(_ACTIVE),
            or_(seen < cutoff, and_(seen.is_(None), workers.c.modification_time < cutoff)),
        )
        .order_by(workers.c.worker_id)
        .limit(limit)
    )
    return [(int(r[0]), str(r[1]), r[2]) for r in conn.execute(stmt)]


def granted_by(conn: Connection, harvester_id: str, request_id: str) -> list[int]:
    """Ids of the workers an earlier add_workers call with this request id created (ix_workers_request)."""
    stmt = (
        select(workers.c.worker_id)
        .where(workers.c.harvester_id == harvester_id, workers.c.request_id == request_id)
        .order_by(workers.c.worker_id)
    )
    return [int(r[0]) for r in conn.execute(stmt)]


# -- batch states and errors (the monitor's site page) -----------------------------------------------------


def set_batch_states(conn: Connection, harvester_id: str, states: Sequence[tuple[int, str]]) -> int:
    """Record the native batch state of live workers of this factory; others (ended, a different factory's,
    unknown) are left alone. Returns how many rows took it. Not a status write: no transition applies."""
    if not states:
        return 0
    stmt = (
        update(workers)
        .where(
            workers.c.worker_id == bindparam("b_id"),
            workers.c.harvester_id == harvester_id,
            or_(*(workers.c.status == s for s in _ACTIVE)),  # IN (...) cannot go with executemany
        )
        .values(batch_state=bindparam("b_state"))
    )
    params = [{"b_id": worker_id, "b_state": state[:32]} for worker_id, state in states]
    return int(conn.execute(stmt, params).rowcount or 0)


@dataclass(frozen=True, slots=True)
class BatchErrorRow:
    report_id: str
    queue: str
    time: datetime
    worker_id: int | None = None
    batch_id: str = ""
    batch_state: str = ""
    exit_code: int | None = None
    reason: str = ""


def insert_batch_errors(conn: Connection, harvester_id: str, rows: Sequence[BatchErrorRow]) -> int:
    """Store errors once each (a repeated report id is skipped), then keep the newest BATCH_ERRORS_KEPT
    of every queue they touched. Returns how many were new."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = [
        {
            "harvester_id": harvester_id,
            "report_id": r.report_id[:64],
            "queue": r.queue[:128],
            "time": r.time,
            "worker_id": r.worker_id,
            "batch_id": r.batch_id[:80],
            "batch_state": r.batch_state[:32],
            "exit_code": r.exit_code,
            "reason": r.reason[:500],
        }
        for r in rows
    ]
    stmt = dialect.insert(batch_errors).on_conflict_do_nothing(
        index_elements=[batch_errors.c.harvester_id, batch_errors.c.report_id]
    )
    added = int(conn.execute(stmt, values).rowcount or 0)
    for queue in sorted({r.queue[:128] for r in rows}):
        _prune_batch_errors(conn, queue)
    return added


def _prune_batch_errors(conn: Connection, queue: str) -> None:
    e = batch_errors.c
    oldest_kept = (
        select(e.error_id)
        .where(e.queue == queue)
        .order_by(e.error_id.desc())
        .offset(BATCH_ERRORS_KEPT - 1)
        .limit(1)
        .scalar_subquery()
    )
    conn.execute(delete(batch_errors).where(e.queue == queue, e.error_id < oldest_kept))

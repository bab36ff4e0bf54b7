"""Pilot-factory use cases: atomic worker grants over all factories of a queue, worker reports, counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pandawms.core.changes import WorkerChange
from pandawms.core.errors import InvalidInput, NotFound
from pandawms.core.factory import SizingDecision, WorkerLimits, size_workers
from pandawms.core.specs import QueueStatus
from pandawms.core.states import WorkerStatus
from pandawms.db import queues as queues_db
from pandawms.db import workers as workers_db
from pandawms.services import lifecycle
from pandawms.services.lifecycle import Outcome


@dataclass(frozen=True, slots=True)
class Grant:
    worker_ids: list[int]
    decision: SizingDecision
    activated: int
    queued: int
    running: int


def add_workers(
    conn: Connection,
    harvester_id: str,
    queue: str,
    limits: WorkerLimits,
    now: datetime,
    request_id: str | None = None,
    jobs_per_worker: int = 1,
) -> Grant:
    """Create as many submitted workers as the queue needs now, counting every factory's workers.

    The queue row is locked first, so two factories sizing the same queue take turns and the second
    sees the first one's workers. A repeated ``request_id`` (the factory lost the answer and asks again)
    gets the workers granted the first time, so a lost answer never leaves workers nobody started.
    """
    if not workers_db.lock_queue(conn, queue):
        raise NotFound(f"queue {queue!r} not found")
    workers_db.touch_harvester(conn, harvester_id, now)
    spec = queues_db.get(conn, queue)
    assert spec is not None
    activated = workers_db.activated_jobs(conn, queue)
    queued, running = workers_db.active_counts(conn, queue)
    if request_id is not None and (earlier := workers_db.granted_by(conn, harvester_id, request_id)):
        decision = SizingDecision(len(earlier), f"repeated request {request_id}: the workers granted then")
        return Grant(earlier, decision, activated, queued, running)
    if spec.status is QueueStatus.OFFLINE:
        return Grant([], SizingDecision(0, f"queue {queue} is offline"), activated, queued, running)
    if spec.max_running:
        limits = WorkerLimits(min(limits.max_workers, spec.max_running), limits.max_queued, limits.max_new)
    decision = size_workers(activated, queued, running, limits, jobs_per_worker)
    ids = lifecycle.create_workers(conn, harvester_id, queue, decision.n_new, now, request_id)
    return Grant(ids, decision, activated, queued, running)


@dataclass(frozen=True, slots=True)
class WorkerReport:
    worker_id: int
    status: WorkerStatus
    batch_id: str = ""
    exit_code: int | None = None
    diag: str = ""
    batch_state: str | None = None  # native, e.g. TIMEOUT


# a worker reported ending this way is one of its queue's batch errors (the monitor's site page)
_BATCH_ERROR_STATES = frozenset({WorkerStatus.FAILED, WorkerStatus.MISSED})


@dataclass(frozen=True, slots=True)
class ReportResult:
    worker_id: int
    outcome: str
    status: str | None
    message: str = ""


def update_workers(
    conn: Connection, harvester_id: str, reports: Sequence[WorkerReport], now: datetime
) -> list[ReportResult]:
    workers_db.touch_harvester(conn, harvester_id, now)
    return [_update_one(conn, harvester_id, r, now) for r in reports]


@dataclass(frozen=True, slots=True)
class BatchCommandError:
    """A failed batch-system command a factory reports (its own id makes the report repeat-safe)."""

    report_id: str
    queue: str
    time: datetime
    reason: str
    exit_code: int | None = None
    batch_id: str = ""


def heartbeat(
    conn: Connection,
    harvester_id: str,
    host: str,
    alive: int,
    now: datetime,
    batch_states: Sequence[tuple[int, str]] = (),
    batch_errors: Sequence[BatchCommandError] = (),
) -> int:
    """A factory says it is alive (every cycle); its workers are trusted while it keeps saying so.

    It also brings the native batch states of its live workers that changed (ended or foreign workers
    are skipped) and its new batch-command errors (stored once per report id; a time after ``now`` is
    read as now). Returns how many workers took a batch state.
    """
    workers_db.touch_harvester(conn, harvester_id, now, host=host, alive=alive)
    rows = [
        workers_db.BatchErrorRow(
            e.report_id, e.queue, min(e.time, now), None, e.batch_id, "", e.exit_code, e.reason
        )
        for e in batch_errors
    ]
    workers_db.insert_batch_errors(conn, harvester_id, rows)
    return workers_db.set_batch_states(conn, harvester_id, batch_states)


def mark_missed(conn: Connection, now: datetime, silence: int, limit: int) -> int:
    """End as ``missed`` up to ``limit`` live workers whose factory has been silent for ``silence`` s.

    Nobody will ever report them: without this they would count as queued or running forever and hold
    back every factory's grants on their queue. Their jobs are left to the lost-heartbeat watchdog.
    """
    cutoff = now - timedelta(seconds=silence)
    ended = 0
    for worker_id, harvester_id, seen in workers_db.orphaned_workers(conn, cutoff, limit):
        since = seen.isoformat(sep=" ", timespec="seconds") if seen is not None else "never heard from"
        diag = f"factory {harvester_id} silent (last call: {since}) > {silence} s"
        change = WorkerChange(diag=diag)
        outcome, _, _ = lifecycle.transition_worker(conn, worker_id, WorkerStatus.MISSED, now, change)
        ended += outcome is Outcome.ACCEPTED
    return ended


def _update_one(conn: Connection, harvester_id: str, r: WorkerReport, now: datetime) -> ReportResult:
    row = workers_db.lock_worker(conn, r.worker_id)
    if row is None:
        return ReportResult(r.worker_id, "notfound", None, f"worker {r.worker_id} not found")
    if row.harvester_id != harvester_id:
        return ReportResult(
            r.worker_id,
            "rejected",
            row.status.value,
            f"worker {r.worker_id} belongs to factory {row.harvester_id}",
        )
    change = WorkerChange(
        diag=r.diag, batch_id=r.batch_id or None, exit_code=r.exit_code, batch_state=r.batch_state
    )
    outcome, status, reason = lifecycle.transition_worker(conn, r.worker_id, r.status, now, change)
    if outcome is Outcome.ACCEPTED and status in _BATCH_ERROR_STATES:
        error = workers_db.BatchErrorRow(
            f"worker:{r.worker_id}",
            row.queue,
            now,
            r.worker_id,
            r.batch_id,
            r.batch_state or "",
            r.exit_code,
            r.diag or status.value,
        )
        workers_db.insert_batch_errors(conn, harvester_id, [error])
    return ReportResult(r.worker_id, outcome.value, status.value, reason)


def check_owner(conn: Connection, worker_id: int, harvester_id: str) -> None:
    """A pilot naming its worker and factory must name a worker of that factory (InvalidInput if not)."""
    row = workers_db.lock_worker(conn, worker_id)
    if row is not None and row.harvester_id != harvester_id:
        raise InvalidInput(
            f"harvester_id: worker {worker_id} belongs to factory {row.harvester_id!r}, not {harvester_id!r}",
            "harvester_id",
        )


def pilot_took_job(conn: Connection, worker_id: int, panda_id: int, now: datetime) -> None:
    """A worker is running once its pilot holds a job; unknown or ended workers are left alone."""
    row = workers_db.lock_worker(conn, worker_id)
    if row is None or row.status is not WorkerStatus.SUBMITTED:
        return
    lifecycle.transition_worker(conn, worker_id, WorkerStatus.RUNNING, now, WorkerChange(panda_id=panda_id))


def stats(conn: Connection, queue: str | None) -> dict[str, dict[str, int]]:
    return workers_db.counts_by_status(conn, queue)

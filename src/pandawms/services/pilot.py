"""Pilot use cases: acquire_jobs (the dispatcher) and update_job (heartbeats and final updates)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pandawms.core.dispatch import ClaimCriteria, dispatch_refusal, served_labels
from pandawms.core.errors import InvalidInput
from pandawms.core.specs import Job
from pandawms.core.states import JobStatus
from pandawms.core.updates import KILL, PilotReport, UpdateKind, plan_update
from pandawms.db import jobs as jobs_db
from pandawms.db import queues as queues_db
from pandawms.db.jobs import StatusRow
from pandawms.db.rows import report_columns
from pandawms.services import lifecycle, workers
from pandawms.services.termination import RetryPolicy, end_job


@dataclass(frozen=True, slots=True)
class AcquireQuery:
    site: str
    n_jobs: int = 1
    prod_source_label: str | None = None
    memory: int = 0
    disk: int = 0
    cores: int = 0
    remaining_time: int = 0
    node: str = ""
    worker_id: int | None = None


@dataclass(frozen=True, slots=True)
class Acquired:
    jobs: list[Job]
    message: str = ""


def acquire_jobs(conn: Connection, query: AcquireQuery, now: datetime) -> Acquired:
    """Claim up to n jobs for the pilot's queue and resources; an empty list means no job for it now."""
    queue = queues_db.get(conn, query.site)
    if queue is None:
        raise InvalidInput(f"site_name: unknown queue {query.site!r}", "site_name")
    refusal = dispatch_refusal(queue)
    if refusal:
        return Acquired([], refusal)
    try:
        labels = served_labels(query.prod_source_label, queue)
    except ValueError as exc:
        raise InvalidInput(f"prod_source_label: {exc}", "prod_source_label") from None
    criteria = ClaimCriteria(
        site=query.site,
        labels=labels,
        memory=query.memory,
        disk=query.disk,
        cores=query.cores,
        remaining_time=query.remaining_time,
    )
    ids = lifecycle.claim_for_dispatch(conn, criteria, query.n_jobs, now, query.node)
    if not ids:
        return Acquired([], f"no jobs for queue {query.site}")
    if query.worker_id is not None:
        workers.pilot_took_job(conn, query.worker_id, ids[0], now)
    return Acquired(jobs_db.get_jobs(conn, ids, with_files=True))


@dataclass(frozen=True, slots=True)
class UpdateResult:
    command: str
    status: str | None
    message: str = ""


def update_job(conn: Connection, report: PilotReport, now: datetime, policy: RetryPolicy) -> UpdateResult:
    """Apply one pilot update; refusals and repeats answer with a command instead of an error."""
    row = jobs_db.lock_status(conn, report.panda_id)
    if row is None:
        return UpdateResult(KILL, None, f"job {report.panda_id} not found")
    plan = plan_update(row.status, row.attempt_nr, row.command_to_pilot, report)
    if plan.kind is UpdateKind.REFUSE:
        return UpdateResult(plan.command, row.status.value, plan.message)
    columns = report_columns(report, now)
    if plan.kind is UpdateKind.HEARTBEAT:
        jobs_db.update_fields(conn, report.panda_id, columns)
        return UpdateResult(plan.command, row.status.value)
    if plan.kind is UpdateKind.FINAL:
        return _finalize(conn, report, row, columns, now, policy)
    assert plan.target is not None
    if plan.target is JobStatus.RUNNING and row.status in (JobStatus.SENT, JobStatus.STARTING):
        columns.setdefault("start_time", now)
    result = lifecycle.transition(
        conn,
        report.panda_id,
        plan.target,
        now,
        reason=f"pilot: {report.status}",
        host=report.node or "",
        fields=columns,
        locked=row,
    )
    return UpdateResult(plan.command, result.current.value, "" if result.accepted else result.reason)


def _finalize(
    conn: Connection,
    report: PilotReport,
    row: StatusRow,
    columns: dict[str, Any],
    now: datetime,
    policy: RetryPolicy,
) -> UpdateResult:
    """The final update: via holding to finished / failed / cancelled in one write (the Adder's step:
    outputs are registered here; a pending kill ends the job cancelled)."""
    jobs_db.update_file_outputs(conn, report.panda_id, report.output_report)
    if row.command_to_pilot == KILL:
        target, why = JobStatus.CANCELLED, "killed: pilot ended the job after tobekilled"
    elif report.status == "finished":
        target, why = JobStatus.FINISHED, "outputs registered"
    else:
        target, why = JobStatus.FAILED, "pilot reported failure"
    via = () if row.status is JobStatus.HOLDING else (JobStatus.HOLDING,)
    columns["end_time"] = report.end_time or now
    result = end_job(
        conn,
        report.panda_id,
        target,
        now,
        policy,
        reason=why,
        fields=columns,
        via=via,
        locked=row,
        host=report.node or "",
    )
    return UpdateResult("", result.current.value, "" if result.accepted else result.reason)

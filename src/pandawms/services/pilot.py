"""Pilot use cases: acquire_jobs (the dispatcher) and update_job (heartbeats and final updates)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.changes import JobChange, JobError
from pandawms.core.commands import PilotCommand
from pandawms.core.dispatch import ClaimCriteria, dispatch_refusal, served_labels
from pandawms.core.errors import Conflict, InvalidInput, PandaError
from pandawms.core.specs import ErrorComponent, Job
from pandawms.core.states import JobStatus
from pandawms.core.updates import PilotReport, UpdateKind, UpdatePlan, plan_update
from pandawms.db import job_reports as reports_db
from pandawms.db import jobs as jobs_db
from pandawms.db import queues as queues_db
from pandawms.db import workers as workers_db
from pandawms.db.jobs import StatusRow
from pandawms.protocol.errorcodes import DdmCode
from pandawms.services import adder, lifecycle, staging, workers
from pandawms.services.lifecycle import Move
from pandawms.services.termination import JobRetryPolicy, end_job


@dataclass(frozen=True, slots=True)
class AcquireQuery:
    queue: str  # site_name on the wire: the PanDA queue
    n_jobs: int = 1
    prod_source_label: str | None = None
    memory: int = 0
    disk: int = 0
    cores: int = 0
    remaining_time: int = 0
    node: str = ""
    pilot_id: str = ""
    worker_id: int | None = None
    harvester_id: str = ""  # the factory of ``worker_id``; checked when both are given
    shares: tuple[str, ...] = ()  # the queue's global shares to serve first (services.shares.ShareCache)


@dataclass(frozen=True, slots=True)
class Acquired:
    jobs: list[Job]
    message: str = ""
    locations: staging.Locations = dataclasses.field(default_factory=dict)  # turl + RSE per catalog file


def acquire_jobs(conn: Connection, query: AcquireQuery, now: datetime) -> Acquired:
    """Claim up to n jobs for the pilot's queue and resources; an empty list means no job for it now."""
    queue = queues_db.get(conn, query.queue)
    if queue is None:
        raise InvalidInput(f"site_name: unknown queue {query.queue!r}", "site_name")
    refusal = dispatch_refusal(queue)
    if refusal:
        return Acquired([], refusal)
    try:
        labels = served_labels(query.prod_source_label, queue)
    except ValueError as exc:
        raise InvalidInput(f"prod_source_label: {exc}", "prod_source_label") from None
    criteria = ClaimCriteria(
        queue=query.queue,
        labels=labels,
        memory=query.memory,
        disk=query.disk,
        cores=query.cores,
        remaining_time=query.remaining_time,
        shares=query.shares,
    )
    if query.worker_id is not None and query.harvester_id:
        workers.check_owner(conn, query.worker_id, query.harvester_id)
    jobs = lifecycle.claim_for_dispatch(conn, criteria, query.n_jobs, now, query.node, query.pilot_id)
    if not jobs:
        return Acquired([], f"no jobs for queue {query.queue}")
    if query.worker_id is not None:
        workers.pilot_took_job(conn, query.worker_id, jobs[0].panda_id, now)
    return Acquired(jobs, locations=staging.locate(conn, queue, jobs))


@dataclass(frozen=True, slots=True)
class UpdateResult:
    command: str
    status: str | None
    message: str = ""


def update_job(conn: Connection, report: PilotReport, now: datetime, policy: JobRetryPolicy) -> UpdateResult:
    """Apply one pilot update; refusals and repeats answer with a command instead of an error."""
    row = jobs_db.lock_status(conn, report.panda_id)
    if row is None:
        return UpdateResult(PilotCommand.TOBEKILLED, None, f"job {report.panda_id} not found")
    plan = plan_update(row.status, row.attempt_nr, row.command_to_pilot, report, row.computing_site)
    if plan.kind is UpdateKind.REFUSE:
        return UpdateResult(plan.command, row.status.value, plan.message)
    change = JobChange(report=report)
    if plan.kind is UpdateKind.HEARTBEAT:
        lifecycle.update_job_fields(conn, report.panda_id, change, now)
        _keep_texts(conn, report, now)
        return UpdateResult(plan.command, row.status.value)
    assert plan.target is not None
    if plan.kind is UpdateKind.FINAL:
        return _finalize(conn, report, row, plan, now, policy)
    move = Move(plan.target, f"pilot: {report.status}", report.node or "", change)
    result = lifecycle.transition(conn, report.panda_id, move, now, locked=row)
    if result.accepted:
        _keep_texts(conn, report, now)
    return UpdateResult(plan.command, result.current.value, "" if result.accepted else result.reason)


def update_jobs(
    conn: Connection,
    reports: Sequence[PilotReport],
    now: datetime,
    policy: JobRetryPolicy,
    harvester_id: str = "",
) -> list[UpdateResult | PandaError]:
    """Many pilot updates in one transaction (pilot/update_jobs_bulk), in order. Each runs in a savepoint:
    one that raises is undone alone and answered with its error; the others stand. ``harvester_id``: the
    factory sending them, whose liveness this call stamps like its other calls."""
    if harvester_id:
        workers_db.touch_harvester(conn, harvester_id, now)
    out: list[UpdateResult | PandaError] = []
    for report in reports:
        try:
            with conn.begin_nested():
                out.append(update_job(conn, report, now, policy))
        except PandaError as exc:
            out.append(exc)
    return out


def _keep_texts(conn: Connection, report: PilotReport, now: datetime) -> None:
    """The job report and pilot-log tail of an accepted update (a refused one writes nothing)."""
    if report.meta_data is not None or report.pilot_log is not None:
        reports_db.save_report_texts(conn, report.panda_id, now, report.meta_data, report.pilot_log)


_WHY = {
    JobStatus.FINISHED: "outputs registered",
    JobStatus.TRANSFERRING: "outputs registered; the _sub block is shipped to the destination",
    JobStatus.FAILED: "pilot reported failure",
    JobStatus.CANCELLED: "killed: pilot ended the job after tobekilled",
}


def _finalize(
    conn: Connection,
    report: PilotReport,
    row: StatusRow,
    plan: UpdatePlan,
    now: datetime,
    policy: JobRetryPolicy,
) -> UpdateResult:
    """The final update: via holding to finished / transferring / failed / cancelled in one write (the
    Adder's step: services/adder registers catalog outputs; a pending kill ends the job cancelled).

    The transition is decided before anything is written, so a refused ending leaves no output
    registered (no half outcome).
    """
    assert plan.target is not None
    change = JobChange(report=report, end_time=report.end_time or now)
    move = Move(plan.target, "", report.node or "", change, plan.via)
    decided = lifecycle.plan_for(row, move)
    if decided.refusal:
        return UpdateResult("", row.status.value, f"job {report.panda_id} {decided.refusal}")
    move, states = _add(conn, report, dataclasses.replace(move, target=decided.target), now)
    reports_db.update_file_outputs(conn, report.panda_id, report.output_report, states)
    _keep_texts(conn, report, now)
    result = end_job(conn, report.panda_id, move, now, policy, locked=row)
    if not result.accepted:  # cannot happen under the row lock; never leave the outputs without the ending
        raise Conflict(
            f"job {report.panda_id}: final update refused after outputs were registered: {result.reason}"
        )
    return UpdateResult("", result.current.value)


def _add(
    conn: Connection, report: PilotReport, move: Move, now: datetime
) -> tuple[Move, Mapping[str, str] | None]:
    """The Adder's step for catalog outputs: the move (finished may become transferring, or failed when
    the catalog refuses the outputs) and the output rows' states; jobs without them are unchanged."""
    files = reports_db.output_files(conn, report.panda_id)
    if move.target is not JobStatus.FINISHED:
        return dataclasses.replace(move, reason=_WHY[move.target]), adder.failed_states(files)
    if not adder.catalog_outputs(files):  # today's path: no catalog work, no job read
        return dataclasses.replace(move, reason=_WHY[move.target]), None
    job = jobs_db.get_job(conn, report.panda_id)
    assert job is not None
    added = adder.add_outputs(conn, dataclasses.replace(job, files=tuple(files)), report.output_report, now)
    if added is None:
        return dataclasses.replace(move, reason=_WHY[move.target]), None
    if added.target is JobStatus.FAILED:
        error = JobError(ErrorComponent.DDM, DdmCode.ADDER_FAILURE, added.error)
        change = dataclasses.replace(move.change, errors=(error,))
        return Move(JobStatus.FAILED, added.error, move.host, change, move.via), adder.failed_states(files)
    sub = added.sub.name if added.sub is not None else None
    change = dataclasses.replace(move.change, destination_dblock=sub)
    return dataclasses.replace(
        move, target=added.target, reason=_WHY[added.target], change=change
    ), added.states

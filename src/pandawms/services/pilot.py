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
from pandawms.db import heartbeats as heartbeats_db
from pandawms.db import job_reports as reports_db
from pandawms.db import jobs as jobs_db
from pandawms.db import queues as queues_db
from pandawms.db import workers as workers_db
from pandawms.db.jobs import StatusRow
from pandawms.protocol.errorcodes import DdmCode
from pandawms.services import acquire_repeat, adder, lifecycle, staging, workers
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
    request_id: str | None = None  # a repeat of this id by the same pilot gets the same jobs (acquire_repeat)


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
    if query.worker_id is not None and query.harvester_id:
        workers.check_owner(conn, query.worker_id, query.harvester_id)
    who = ""
    if query.request_id is not None:
        who = acquire_repeat.claimant(query.worker_id, query.pilot_id, query.node)
        again = acquire_repeat.repeated(conn, who, query.request_id, query.queue, now)
        if again:
            return Acquired(again, locations=staging.locate(conn, queue, again))
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
    jobs = lifecycle.claim_for_dispatch(conn, criteria, query.n_jobs, now, query.node, query.pilot_id)
    if query.request_id is not None:
        acquire_repeat.remember(conn, who, query.request_id, query.queue, jobs, now)
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
    raced: bool = False  # update_job_unlocked: the job changed after it was read; nothing was written


def update_job(conn: Connection, report: PilotReport, now: datetime, policy: JobRetryPolicy) -> UpdateResult:
    """Apply one pilot update in the caller's transaction, the job's row locked first; refusals and
    repeats answer with a command instead of an error."""
    return _apply(conn, report, jobs_db.lock_status(conn, report.panda_id), now, policy)


def one_statement(report: PilotReport) -> bool:
    """Whether applying ``report`` writes at most one statement: a heartbeat or a move that is not
    final (starting, running, transferring), with no job report or pilot log to keep."""
    return not report.is_final and report.meta_data is None and report.pilot_log is None


def update_job_unlocked(
    conn: Connection, report: PilotReport, now: datetime, policy: JobRetryPolicy
) -> UpdateResult:
    """``update_job`` for a report that is ``one_statement``, on a connection where each statement
    commits on its own (PostgreSQL, ``Database.autocommit``): the status is read without a lock and the
    one write is a compare-and-set on it, two round trips instead of BEGIN, SELECT ... FOR UPDATE, the
    write and COMMIT. ``raced`` in the result: the job changed between the read and the write, nothing
    was written, and the caller applies the report with ``update_job`` in a transaction instead."""
    if not one_statement(report):
        raise ValueError(f"update of job {report.panda_id} to {report.status} is more than one statement")
    return _apply(conn, report, jobs_db.read_status(conn, report.panda_id), now, policy)


def _apply(
    conn: Connection, report: PilotReport, row: StatusRow | None, now: datetime, policy: JobRetryPolicy
) -> UpdateResult:
    """The update against ``row``, the job's status as read or locked; each write is a compare-and-set
    on that status, so a job that changed since is answered ``raced`` with nothing written."""
    if row is None:
        return UpdateResult(PilotCommand.TOBEKILLED, None, f"job {report.panda_id} not found")
    plan = plan_update(row.status, row.attempt_nr, row.command_to_pilot, report, row.computing_site)
    if plan.kind is UpdateKind.REFUSE:
        return UpdateResult(plan.command, row.status.value, plan.message)
    change = JobChange(report=report)
    if plan.kind is UpdateKind.HEARTBEAT:
        if not lifecycle.update_job_fields(conn, report.panda_id, change, now, expected=row.status):
            return UpdateResult(
                plan.command, row.status.value, f"job {report.panda_id} changed concurrently", raced=True
            )
        _keep_texts(conn, report, now)
        return UpdateResult(plan.command, row.status.value)
    assert plan.target is not None
    if plan.kind is UpdateKind.FINAL:
        return _finalize(conn, report, row, plan, now, policy)
    move = Move(plan.target, f"pilot: {report.status}", report.node or "", change)
    result = lifecycle.transition(conn, report.panda_id, move, now, locked=row)
    if result.accepted:
        _keep_texts(conn, report, now)
    message = "" if result.accepted else result.reason
    return UpdateResult(plan.command, result.current.value, message, raced=result.raced)


def update_jobs(
    conn: Connection,
    reports: Sequence[PilotReport],
    now: datetime,
    policy: JobRetryPolicy,
    harvester_id: str = "",
) -> list[UpdateResult | PandaError]:
    """Many pilot updates in one transaction (pilot/update_jobs_bulk), in order; the same answers as
    ``update_job`` one by one. ``harvester_id``: the factory sending them, whose liveness this call stamps
    like its other calls.

    The status rows are read and locked in one query. Plain heartbeats (a job's first entry in the call,
    no report texts) are written together, one executemany per column set, before the next entry that is
    not one; every other entry runs alone in a savepoint: one that raises is undone alone and answered with
    its error, and the others stand (a failing heartbeat batch is undone and its entries run alone too).
    """
    if harvester_id:
        workers_db.touch_harvester(conn, harvester_id, now)
    rows = heartbeats_db.lock_statuses(conn, (r.panda_id for r in reports))
    out: list[UpdateResult | PandaError | None] = [None] * len(reports)
    beats: list[int] = []  # indexes of the heartbeats not written yet
    alone: set[int] = set()  # jobs with an entry already written: their later entries run alone
    for i, report in enumerate(reports):
        row = rows.get(report.panda_id)
        plan = (
            None
            if row is None
            else plan_update(row.status, row.attempt_nr, row.command_to_pilot, report, row.computing_site)
        )
        if row is not None and plan is not None and _plain_heartbeat(plan, report, alone):
            out[i] = UpdateResult(plan.command, row.status.value)
            beats.append(i)
            alone.add(report.panda_id)
            continue
        _write_beats(conn, reports, beats, out, now, policy)
        out[i] = _alone(conn, report, now, policy)
        alone.add(report.panda_id)
    _write_beats(conn, reports, beats, out, now, policy)
    return [r for r in out if r is not None]


def _plain_heartbeat(plan: UpdatePlan, report: PilotReport, alone: set[int]) -> bool:
    return (
        plan.kind is UpdateKind.HEARTBEAT
        and report.meta_data is None
        and report.pilot_log is None
        and report.panda_id not in alone
    )


def _write_beats(
    conn: Connection,
    reports: Sequence[PilotReport],
    beats: list[int],
    out: list[UpdateResult | PandaError | None],
    now: datetime,
    policy: JobRetryPolicy,
) -> None:
    """Write the pending heartbeats together (their answers are already in ``out``); if that fails, undo
    it and run each alone, as ``update_job`` would."""
    if not beats:
        return
    try:
        with conn.begin_nested():
            changes = [(reports[i].panda_id, JobChange(report=reports[i])) for i in beats]
            lifecycle.update_many_job_fields(conn, changes, now)
    except Exception:
        for i in beats:
            out[i] = _alone(conn, reports[i], now, policy)
    beats.clear()


def _alone(
    conn: Connection, report: PilotReport, now: datetime, policy: JobRetryPolicy
) -> UpdateResult | PandaError:
    try:
        with conn.begin_nested():
            return update_job(conn, report, now, policy)
    except PandaError as exc:
        return exc


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

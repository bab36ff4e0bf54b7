"""User and operator actions on jobs: kill, reassign, retry. Each acts per job and reports per job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.changes import JobChange, JobError
from pandawms.core.commands import PilotCommand
from pandawms.core.errors import InvalidInput
from pandawms.core.ids import PandaID
from pandawms.core.specs import ErrorComponent, Job
from pandawms.core.states import FINAL_STATES, PILOT_STATES, PRE_DISPATCH_STATES, JobStatus
from pandawms.db import jobs as jobs_db
from pandawms.db import queues as queues_db
from pandawms.protocol import errorcodes
from pandawms.protocol.actions import ActionOutcome
from pandawms.services import lifecycle
from pandawms.services.lifecycle import Move
from pandawms.services.termination import new_attempt

A = ActionOutcome


@dataclass(frozen=True, slots=True)
class ActionResult:
    panda_id: int
    outcome: ActionOutcome
    status: str | None
    message: str = ""
    new_panda_id: int | None = None


def kill(conn: Connection, ids: Sequence[int], code: int, reason: str, now: datetime) -> list[ActionResult]:
    """Pre-dispatch jobs end at once (closed/cancelled by kill code); jobs with a pilot get
    ``tobekilled`` and end at the pilot's next heartbeat, or at once for force-kill codes."""
    try:
        final = JobStatus(errorcodes.kill_final_state(code))
    except ValueError as exc:
        raise InvalidInput(f"code: {exc}", "code") from None
    diag = f"killed with code {code}" + (f": {reason}" if reason else "")
    error = JobError(ErrorComponent.TASKBUFFER, errorcodes.TaskBufferCode.KILLED, diag[:300])
    change = JobChange(errors=(error,), command=PilotCommand.TOBEKILLED)
    force = code in errorcodes.KILL_FORCE_CODES
    return [_kill_one(conn, pid, final, change, force, now) for pid in ids]


def _kill_one(
    conn: Connection, pid: int, final: JobStatus, change: JobChange, force: bool, now: datetime
) -> ActionResult:
    row = jobs_db.lock_status(conn, pid)
    if row is None:
        return ActionResult(pid, A.NOTFOUND, None, f"job {pid} not found")
    if row.status in FINAL_STATES:
        return ActionResult(pid, A.NOOP, row.status.value, f"job is already {row.status.value}")
    if row.status in PILOT_STATES and not force:
        lifecycle.update_job_fields(conn, pid, change, now)
        return ActionResult(pid, A.REQUESTED, row.status.value, "the pilot will be told to kill the job")
    target = final if row.status in PRE_DISPATCH_STATES else JobStatus.CANCELLED
    move = Move(target, change.errors[0].diag, change=change)
    result = lifecycle.transition(conn, pid, move, now, locked=row)
    return ActionResult(pid, A.DONE if result.accepted else A.REJECTED, result.current.value, result.reason)


def reassign(conn: Connection, ids: Sequence[int], site: str | None, now: datetime) -> list[ActionResult]:
    """Close not-yet-dispatched jobs and create new attempts elsewhere (or at ``site``)."""
    if site is not None and queues_db.get(conn, site) is None:
        raise InvalidInput(f"site: unknown queue {site!r}", "site")
    return [_reassign_one(conn, pid, site, now) for pid in ids]


def _reassign_one(conn: Connection, pid: int, site: str | None, now: datetime) -> ActionResult:
    job = jobs_db.get_job(conn, pid, with_files=True)
    if job is None:
        return ActionResult(pid, A.NOTFOUND, None, f"job {pid} not found")
    if job.status not in PRE_DISPATCH_STATES:
        return ActionResult(
            pid, A.REJECTED, job.status.value, "only jobs not yet dispatched can be reassigned"
        )
    diag = f"reassigned{' to ' + site if site else ''}"
    error = JobError(ErrorComponent.TASKBUFFER, errorcodes.TaskBufferCode.REASSIGNED, diag)
    move = Move(
        JobStatus.CLOSED, "reassigned", change=JobChange(errors=(error,)), only_from=PRE_DISPATCH_STATES
    )
    result = lifecycle.transition(conn, pid, move, now)
    if not result.accepted:
        return ActionResult(pid, A.REJECTED, result.current.value, result.reason)
    if job.spec.task_id is not None:  # its files went back to the task: the JobGenerator makes the new job
        return ActionResult(pid, A.DONE, JobStatus.CLOSED.value, f"files returned to task {job.spec.task_id}")
    new_id = new_attempt(
        conn,
        job,
        now,
        relation="reassign",
        site=site,
        exclude=None if site else job.computing_site,
        keep_pin=False,
    )
    return ActionResult(pid, A.DONE, JobStatus.CLOSED.value, f"new attempt {new_id}", new_id)


def retry(conn: Connection, ids: Sequence[int], now: datetime) -> list[ActionResult]:
    """Manual retry of failed/cancelled/closed jobs that have not been retried yet. The jobs are read in
    one query; an id given twice gets the answer of its first occurrence (one retry, not two)."""
    distinct = list(dict.fromkeys(ids))
    jobs = {int(j.panda_id): j for j in jobs_db.get_jobs(conn, distinct, with_files=True)}
    results = {pid: _retry_one(conn, PandaID(pid), jobs.get(pid), now) for pid in distinct}
    return [results[pid] for pid in ids]


def _retry_one(conn: Connection, pid: PandaID, job: Job | None, now: datetime) -> ActionResult:
    if job is None:
        return ActionResult(pid, A.NOTFOUND, None, f"job {pid} not found")
    if job.status not in FINAL_STATES or job.status is JobStatus.FINISHED:
        return ActionResult(
            pid, A.REJECTED, job.status.value, "only failed, cancelled or closed jobs can be retried"
        )
    if job.spec.task_id is not None:
        why = f"a job of task {job.spec.task_id}: its files are retried by the task (panda task retry)"
        return ActionResult(pid, A.REJECTED, job.status.value, why)
    existing = jobs_db.children(conn, pid)
    if existing:
        return ActionResult(pid, A.NOOP, job.status.value, f"already retried as {existing[-1]}", existing[-1])
    new_id = new_attempt(conn, job, now, relation="retry")
    return ActionResult(pid, A.DONE, job.status.value, f"new attempt {new_id}", new_id)

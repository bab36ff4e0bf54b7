"""User and operator actions on jobs: kill, reassign, retry. Each acts per job and reports per job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.errors import InvalidInput
from pandawms.core.ids import PandaID
from pandawms.core.states import FINAL_STATES, PILOT_STATES, PRE_DISPATCH_STATES, JobStatus
from pandawms.db import jobs as jobs_db
from pandawms.db import queues as queues_db
from pandawms.protocol import errorcodes
from pandawms.services import lifecycle
from pandawms.services.termination import KILL_COMMAND, new_attempt


@dataclass(frozen=True, slots=True)
class ActionResult:
    panda_id: int
    outcome: str  # done | requested | noop | rejected | notfound
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
    fields = {"taskbuffer_error_code": errorcodes.TaskBufferCode.KILLED, "taskbuffer_error_diag": diag[:300]}
    return [_kill_one(conn, pid, code, final, fields, now) for pid in ids]


def _kill_one(
    conn: Connection, pid: int, code: int, final: JobStatus, fields: dict[str, object], now: datetime
) -> ActionResult:
    row = jobs_db.lock_status(conn, pid)
    if row is None:
        return ActionResult(pid, "notfound", None, f"job {pid} not found")
    if row.status in FINAL_STATES:
        return ActionResult(pid, "noop", row.status.value, f"job is already {row.status.value}")
    force = code in errorcodes.KILL_FORCE_CODES
    if row.status in PILOT_STATES and not force:
        jobs_db.update_fields(
            conn, pid, {**fields, "command_to_pilot": KILL_COMMAND, "modification_time": now}
        )
        return ActionResult(pid, "requested", row.status.value, "the pilot will be told to kill the job")
    target = final if row.status in PRE_DISPATCH_STATES else JobStatus.CANCELLED
    values = {**fields, "command_to_pilot": KILL_COMMAND, "end_time": now}
    result = lifecycle.transition(
        conn, pid, target, now, reason=str(fields["taskbuffer_error_diag"]), fields=values
    )
    return ActionResult(pid, "done" if result.accepted else "rejected", result.current.value, result.reason)


def reassign(conn: Connection, ids: Sequence[int], site: str | None, now: datetime) -> list[ActionResult]:
    """Close not-yet-dispatched jobs and create new attempts elsewhere (or at ``site``)."""
    if site is not None and queues_db.get(conn, site) is None:
        raise InvalidInput(f"site: unknown queue {site!r}", "site")
    return [_reassign_one(conn, pid, site, now) for pid in ids]


def _reassign_one(conn: Connection, pid: int, site: str | None, now: datetime) -> ActionResult:
    job = jobs_db.get_job(conn, pid, with_files=True)
    if job is None:
        return ActionResult(pid, "notfound", None, f"job {pid} not found")
    if job.status not in PRE_DISPATCH_STATES:
        return ActionResult(
            pid, "rejected", job.status.value, "only jobs not yet dispatched can be reassigned"
        )
    fields = {
        "taskbuffer_error_code": errorcodes.TaskBufferCode.REASSIGNED,
        "taskbuffer_error_diag": f"reassigned{' to ' + site if site else ''}",
        "end_time": now,
    }
    result = lifecycle.transition(
        conn, pid, JobStatus.CLOSED, now, reason="reassigned", fields=fields, only_from=PRE_DISPATCH_STATES
    )
    if not result.accepted:
        return ActionResult(pid, "rejected", result.current.value, result.reason)
    new_id = new_attempt(
        conn,
        job,
        now,
        relation="reassign",
        site=site,
        exclude=None if site else job.computing_site,
        keep_pin=False,
    )
    return ActionResult(pid, "done", JobStatus.CLOSED.value, f"new attempt {new_id}", new_id)


def retry(conn: Connection, ids: Sequence[int], now: datetime) -> list[ActionResult]:
    """Manual retry of failed/cancelled/closed jobs that have not been retried yet."""
    return [_retry_one(conn, PandaID(pid), now) for pid in ids]


def _retry_one(conn: Connection, pid: PandaID, now: datetime) -> ActionResult:
    job = jobs_db.get_job(conn, pid, with_files=True)
    if job is None:
        return ActionResult(pid, "notfound", None, f"job {pid} not found")
    if job.status not in FINAL_STATES or job.status is JobStatus.FINISHED:
        return ActionResult(
            pid, "rejected", job.status.value, "only failed, cancelled or closed jobs can be retried"
        )
    existing = jobs_db.children(conn, pid)
    if existing:
        return ActionResult(pid, "noop", job.status.value, f"already retried as {existing[-1]}", existing[-1])
    new_id = new_attempt(conn, job, now, relation="retry")
    return ActionResult(pid, "done", job.status.value, f"new attempt {new_id}", new_id)

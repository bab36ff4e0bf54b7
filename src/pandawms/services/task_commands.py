"""Task commands (states.md §2.1): queue() checks and queues one, execute_pending() carries queued ones
out (JEDI's TaskCommando). Asynchronous as in PanDA: the API answers at once with the command's id.

Each command re-checks COMMAND_ALLOWED_FROM when it runs (the task may have moved since it was queued:
the command is then ``refused`` with the reason) and runs in a savepoint, so a failing one leaves the
task as it was and the others still run. Jobs are killed through services/control.py only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.errors import InvalidInput, PandaError
from pandawms.core.states import PRE_DISPATCH_STATES, JobStatus
from pandawms.core.task_commands import (
    FORCE_KILL_BY_JEDI,
    KILL_BY_JEDI,
    REASSIGNED_BY_JEDI,
    CommandOutcome,
    after_reassign,
    new_param_columns,
    reassigned_sites,
    with_skip_scout,
)
from pandawms.core.tasks import TaskCommand, TaskStatus, command_refusal
from pandawms.core.taskspecs import Task
from pandawms.db import queues as queues_db
from pandawms.db import task_commands as commands_db
from pandawms.db import task_progress
from pandawms.db import tasks as tasks_db
from pandawms.db.task_commands import CommandRow
from pandawms.protocol.task_commands import TaskCommandAnswer, TaskCommandCode, TaskCommandRequest
from pandawms.services import control, lifecycle_taskfiles, lifecycle_tasks, postprocessor
from pandawms.services.lifecycle_tasks import TaskTransition

log = logging.getLogger("pandawms.jedi")
C = TaskCommand
T = TaskStatus
Done = str  # what the handler did (the command's reason); it raises _Undo when it cannot


def queue(
    conn: Connection, command: TaskCommand, request: TaskCommandRequest, now: datetime
) -> TaskCommandAnswer:
    """Queue ``command`` for the task: code 2 when there is no such task, 4 when its status does not
    allow the command, 0 with the command's id otherwise (the pending one if it is queued already).
    Bad arguments (newParams, sites) raise InvalidInput naming the field; nothing is queued then."""

    def answer(code: TaskCommandCode, message: str, command_id: int | None = None) -> TaskCommandAnswer:
        return TaskCommandAnswer(
            task_id=request.task_id, command=command, code=code, message=message, command_id=command_id
        )

    task = tasks_db.get_task(conn, request.task_id, lock=True)
    if task is None:
        return answer(TaskCommandCode.NOT_FOUND, f"task {request.task_id} not found")
    refusal = command_refusal(command, task.status)
    if refusal is not None:
        return answer(TaskCommandCode.NOT_ALLOWED, f"task {task.task_id}: {refusal}")
    _check_arguments(conn, command, request, task)
    existing = commands_db.pending_for(conn, task.task_id, command)
    if existing is not None:
        return answer(
            TaskCommandCode.ACCEPTED,
            f"{command.value} is already queued for task {task.task_id} (command {existing.command_id})",
            existing.command_id,
        )
    params = request.model_dump_json(by_alias=True)
    command_id = commands_db.insert_command(conn, task.task_id, command, params, request.requested_by, now)
    return answer(
        TaskCommandCode.ACCEPTED,
        f"{command.value} queued for task {task.task_id} (command {command_id}); it runs within seconds",
        command_id,
    )


def _check_arguments(conn: Connection, command: TaskCommand, request: TaskCommandRequest, task: Task) -> None:
    if command is C.RETRY:
        new_param_columns(request.new_params)
    elif request.new_params:
        raise InvalidInput("newParams: only a retry takes new parameters", "newParams")
    if command is C.REASSIGN:
        if request.site is None and not request.excluded_sites:
            raise InvalidInput("site: say where the task goes (site) or where not (excludedSite)", "site")
        if request.site is not None and queues_db.get(conn, request.site) is None:
            raise InvalidInput(f"site: unknown queue {request.site!r}", "site")
        reassigned_sites(task.spec, request.site, tuple(request.excluded_sites))


def execute_pending(conn: Connection, now: datetime, limit: int) -> int:
    """Carry out up to ``limit`` queued commands, oldest first; returns how many were processed."""
    rows = commands_db.pending(conn, limit)
    for row in rows:
        outcome, reason = _execute(conn, row, now)
        commands_db.mark_processed(conn, row.command_id, outcome, reason, now)
    return len(rows)


def _execute(conn: Connection, row: CommandRow, now: datetime) -> tuple[CommandOutcome, str]:
    task = tasks_db.get_task(conn, row.task_id, lock=True)
    if task is None:
        return CommandOutcome.FAILED, f"task {row.task_id} not found"
    refusal = command_refusal(row.command, task.status)
    if refusal is not None:
        return CommandOutcome.REFUSED, refusal
    who = f" by {row.requested_by}" if row.requested_by else ""
    try:
        request = TaskCommandRequest.model_validate_json(row.params)
        with conn.begin_nested():
            return CommandOutcome.DONE, _HANDLERS[row.command](conn, task, request, now, who)
    except _Undo as undo:
        return CommandOutcome.FAILED, str(undo)
    except PandaError as exc:
        return CommandOutcome.FAILED, f"{row.command.value} failed: {exc}"
    except Exception as exc:  # a command that always fails must not block the queue behind it
        log.exception("task %d: command %d (%s) failed", row.task_id, row.command_id, row.command.value)
        return CommandOutcome.FAILED, f"{row.command.value} failed: {type(exc).__name__}: {exc}"


class _Undo(Exception):
    """A handler could not finish: roll its savepoint back."""


def _move(conn: Connection, task_id: int, target: TaskStatus, now: datetime, reason: str) -> TaskTransition:
    moved = lifecycle_tasks.transition_task(conn, task_id, target, now, reason)
    if not moved.accepted:
        raise _Undo(moved.reason)
    return moved


def _kill_jobs(
    conn: Connection,
    task_id: int,
    code: int,
    reason: str,
    now: datetime,
    only: frozenset[JobStatus] | None = None,
) -> int:
    """Kill the task's active jobs (or those in ``only``) through services/control; how many were hit."""
    ids = [pid for pid, status in task_progress.active_jobs(conn, task_id) if only is None or status in only]
    return len(control.kill(conn, ids, code, reason, now)) if ids else 0


def _kill(conn: Connection, task: Task, _req: TaskCommandRequest, now: datetime, who: str) -> Done:
    reason = f"killed{who}"
    _move(conn, task.task_id, T.ABORTING, now, reason)
    killed = _kill_jobs(conn, task.task_id, KILL_BY_JEDI, reason, now)
    ended = postprocessor.end_if_idle(conn, task.task_id, now)
    return f"aborting: {killed} job(s) killed" + _then(ended)


def _finish(conn: Connection, task: Task, req: TaskCommandRequest, now: datetime, who: str) -> Done:
    how = "soft" if req.soft else "hard"
    reason = f"finish ({how}){who}"
    _move(conn, task.task_id, T.FINISHING, now, reason)
    killed = 0 if req.soft else _kill_jobs(conn, task.task_id, FORCE_KILL_BY_JEDI, reason, now)
    ended = postprocessor.end_if_idle(conn, task.task_id, now)
    waits = "running jobs may end" if req.soft else f"{killed} job(s) killed"
    return f"finishing ({how}): {waits}" + _then(ended)


def _then(ended: TaskTransition | None) -> str:
    return f"; {ended.status.value}: no job left" if ended is not None and ended.accepted else ""


def _retry(conn: Connection, task: Task, req: TaskCommandRequest, now: datetime, who: str) -> Done:
    columns = new_param_columns(req.new_params)
    _move(conn, task.task_id, T.TORETRY, now, f"retry{who}")
    if columns:
        tasks_db.update_task(conn, task.task_id, now, columns)
    reopened = postprocessor.reopen_outputs(conn, task.task_id, now)
    attempts = int(columns.get("max_attempt", task.spec.max_attempt))
    files = lifecycle_taskfiles.retry_failed_files(conn, task.task_id, attempts, now)
    changed = ", ".join(f"{k}={v}" for k, v in req.new_params.items())
    _move(conn, task.task_id, T.READY, now, f"retried: {files} failed file(s) back to ready")
    extra = f"; new parameters {changed}" if changed else ""
    return f"{files} failed file(s) ready again, {reopened} output dataset(s) reopened{extra}"


def _pause(conn: Connection, task: Task, _req: TaskCommandRequest, now: datetime, who: str) -> Done:
    _move(conn, task.task_id, T.PAUSED, now, f"paused{who}")
    return f"paused (was {task.status.value})"


def _resume(conn: Connection, task: Task, _req: TaskCommandRequest, now: datetime, who: str) -> Done:
    moved = lifecycle_tasks.transition_task(conn, task.task_id, T.READY, now, f"resumed{who}", restore=True)
    if not moved.accepted:
        raise _Undo(moved.reason)
    return f"resumed: {moved.status.value}"


def _reassign(conn: Connection, task: Task, req: TaskCommandRequest, now: datetime, who: str) -> Done:
    included, excluded = reassigned_sites(task.spec, req.site, tuple(req.excluded_sites))
    where = f" to {req.site}" if req.site else ""
    reason = f"reassigned{where}{who}"
    moved = _move(conn, task.task_id, T.TOREASSIGN, now, reason)
    sites = {"included_sites": ",".join(included), "excluded_sites": ",".join(excluded)}
    tasks_db.update_task(conn, task.task_id, now, sites)
    killed = _kill_jobs(conn, task.task_id, REASSIGNED_BY_JEDI, reason, now, only=PRE_DISPATCH_STATES)
    back = _move(
        conn, task.task_id, after_reassign(moved.previous), now, f"{reason}: {killed} queued job(s) closed"
    )
    sites_now = f"sites {', '.join(included) or 'any'}, excluding {', '.join(excluded) or 'none'}"
    return f"{killed} queued job(s) closed; {back.status.value} with {sites_now}"


def _avalanche(conn: Connection, task: Task, _req: TaskCommandRequest, now: datetime, who: str) -> Done:
    tasks_db.update_task(conn, task.task_id, now, {"split_rule": with_skip_scout(task.spec.split_rule)})
    if task.status is T.SCOUTING:
        _move(conn, task.task_id, T.RUNNING, now, f"avalanche{who}: scouting skipped")
        return "scouting skipped: running"
    return "scouting will be skipped"


_Handler = Callable[[Connection, Task, TaskCommandRequest, datetime, str], Done]
_HANDLERS: dict[TaskCommand, _Handler] = {
    C.KILL: _kill,
    C.FINISH: _finish,
    C.RETRY: _retry,
    C.PAUSE: _pause,
    C.RESUME: _resume,
    C.REASSIGN: _reassign,
    C.AVALANCHE: _avalanche,
}

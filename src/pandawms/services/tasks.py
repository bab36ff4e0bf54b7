"""The task API's use cases: submit (PanDA's insertTaskParams) and the read-only task queries.

Submission is flow step 1 of JEDI: the parameters are refined (protocol.tasks.refine), checked against the
task buffer (parent exists, no active task of the same vo/label/user/taskName, the user's active-task
cap) and stored ``registered`` -> ``defined`` through services/lifecycle_tasks.py in the caller's
transaction; the agents take it from there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.auth import Caller
from pandawms.core.errors import Conflict, InvalidInput, NotFound
from pandawms.core.shares import DEFAULT_TREE, Share, leaf_for
from pandawms.core.tasks import INPUT_TYPES, TASK_FINAL_STATES, FileCounts, TaskStatus
from pandawms.core.taskspecs import Task, TaskDataset, TaskQuery
from pandawms.db import tasks as tasks_db
from pandawms.db.tasks import TaskHistoryEntry
from pandawms.protocol.tasks import TaskParams, refine
from pandawms.services import access, lifecycle_tasks

MAX_LIST_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class SubmittedTask:
    task_id: int
    status: TaskStatus


def submit(
    conn: Connection,
    params: TaskParams,
    now: datetime,
    *,
    max_active_per_user: int,
    shares: Share = DEFAULT_TREE,
    writer: Caller | None = None,
) -> SubmittedTask:
    """Store a new task from its parameters, in its global share of ``shares``, owned by ``writer``'s
    ``sub`` (none: auth is off); InvalidInput naming the field, Conflict for a duplicate or a user over the
    cap (PanDA's return codes 2 and 10), Forbidden for outputs in a scope the writer may not write in."""
    parent_mutable = _parent_mutable(conn, params.parent_tid)
    refined = refine(params, parent_mutable=parent_mutable)
    owner = writer.sub if writer is not None else ""
    if writer is not None:  # the outputs are written in their scopes (the feeder adds new ones)
        outputs = {d.scope for d in refined.datasets if d.type not in INPUT_TYPES}
        access.check_new_scopes(conn, writer, sorted(outputs))
    spec = refined.spec
    share = leaf_for(shares, spec.prod_source_label.value, spec.working_group, spec.user_name)
    spec = dataclasses.replace(spec, global_share=share, owner_sub=owner)
    # one user's submissions in turn: both checks below are per user (PostgreSQL; SQLite is serial)
    tasks_db.lock_submissions(conn, f"task-submit:{spec.user_name}")
    dup = tasks_db.active_duplicate(
        conn, spec.vo, spec.prod_source_label.value, spec.user_name, spec.task_name
    )
    if dup is not None:
        raise Conflict(
            f"taskName: {spec.user_name} already has an active task named {spec.task_name!r} "
            f"(jediTaskID {dup[0]}, {dup[1].value}); wait until it ends or choose another taskName"
        )
    active = tasks_db.count_active(conn, spec.user_name)
    if active >= max_active_per_user:
        raise Conflict(
            f"userName: {spec.user_name} has {active} active tasks, the most allowed is "
            f"{max_active_per_user} (too many active tasks, PanDA code 10)"
        )
    body = params.model_dump_json(by_alias=True, exclude_unset=True)
    task_id = lifecycle_tasks.create_task(
        conn, spec, body, refined.datasets, now, priority=refined.priority, reason="submitted"
    )
    moved = lifecycle_tasks.transition_task(conn, task_id, TaskStatus.DEFINED, now, "parameters refined")
    return SubmittedTask(task_id, moved.status)


def _parent_mutable(conn: Connection, parent_tid: int | None) -> bool:
    """A child of a parent that still runs reads inputs the parent is still producing."""
    if parent_tid is None:
        return False
    parent = tasks_db.get_task(conn, parent_tid)
    if parent is None:
        raise InvalidInput(f"parent_tid: no task {parent_tid}", "parent_tid")
    return parent.status not in TASK_FINAL_STATES


# -- reads ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskDetail:
    """A task with everything task/get_details shows: datasets, history, its jobs by status and, once
    the scouts were evaluated, the history entry saying what they measured."""

    task: Task
    datasets: list[TaskDataset]
    history: list[TaskHistoryEntry]
    job_counts: dict[str, int]
    scouted: TaskHistoryEntry | None


def _task(conn: Connection, task_id: int) -> Task:
    task = tasks_db.get_task(conn, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


def get_details(conn: Connection, task_id: int) -> TaskDetail:
    task = _task(conn, task_id)
    history = tasks_db.history(conn, task_id)
    scouted = next((h for h in reversed(history) if h.status == TaskStatus.SCOUTED.value), None)
    return TaskDetail(
        task, tasks_db.datasets_of(conn, task_id), history, tasks_db.job_counts(conn, task_id), scouted
    )


def get_status(conn: Connection, task_id: int) -> Task:
    return _task(conn, task_id)


def get_task_parameters(conn: Connection, task_id: int) -> TaskParams:
    """The parameters as submitted (stored as JSON, validated again on the way out)."""
    body = tasks_db.get_params(conn, task_id)
    if body is None:
        raise NotFound(f"task {task_id} not found")
    return TaskParams.model_validate_json(body)


def get_job_ids(conn: Connection, task_id: int) -> list[int]:
    _task(conn, task_id)
    return tasks_db.job_ids(conn, task_id)


@dataclass(frozen=True, slots=True)
class TaskListEntry:
    task: Task
    progress: FileCounts
    running_jobs: int


def list_tasks(conn: Connection, query: TaskQuery) -> tuple[list[TaskListEntry], int | None]:
    """A page newest first with each task's master-input progress and running jobs, and the keyset
    cursor of the next page (None on the last)."""
    if not 1 <= query.limit <= MAX_LIST_LIMIT:
        raise InvalidInput(f"limit: must be 1..{MAX_LIST_LIMIT}, got {query.limit}", "limit")
    rows = tasks_db.list_tasks(conn, dataclasses.replace(query, limit=query.limit + 1))
    page = rows[: query.limit]
    cursor = page[-1].task_id if len(rows) > query.limit else None
    ids = [t.task_id for t in page]
    progress = tasks_db.input_progress(conn, ids)
    running = tasks_db.running_jobs(conn, ids)
    none = FileCounts(0, 0, 0)
    entries = [TaskListEntry(t, progress.get(t.task_id, none), running.get(t.task_id, 0)) for t in page]
    return entries, cursor

"""Helpers of the JEDI control tests: a task in any status, its input rows written directly, its jobs
made through submission (with the task's id) and moved through the job lifecycle."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pandawms.core.changes import JobChange, JobError
from pandawms.core.ids import PandaID, QueueName
from pandawms.core.specs import ErrorComponent, FileSpec, FileType, JobSpec, ResourceRequest
from pandawms.core.states import JobStatus
from pandawms.core.tasks import TASK_TRANSITIONS, TaskDatasetType, TaskFileStatus, TaskStatus
from pandawms.core.taskspecs import NewTaskDataset, TaskSpec
from pandawms.db import tasks as tasks_db
from pandawms.db.schema import jobs, task_files
from pandawms.services import lifecycle, lifecycle_tasks, submission
from pandawms.services.lifecycle import Move

T = TaskStatus
F = TaskFileStatus
SCOPE = "user.alice"


@dataclass(frozen=True)
class TaskIds:
    task_id: int
    input_id: int
    output_id: int
    log_id: int


def new_task(conn: Connection, now: datetime, name: str = "t1", **spec: Any) -> TaskIds:
    """A registered task with an input, an output and a log dataset."""
    task_spec = TaskSpec(task_name=name, user_name="alice", transformation="run.sh", **spec)
    sets = [
        NewTaskDataset(TaskDatasetType.INPUT, SCOPE, f"{name}.in"),
        NewTaskDataset(TaskDatasetType.OUTPUT, SCOPE, f"{name}.out", template="out.${SN}.root"),
        NewTaskDataset(TaskDatasetType.LOG, SCOPE, f"{name}.log", template="log.${SN}.tgz"),
    ]
    task_id = lifecycle_tasks.create_task(conn, task_spec, "{}", sets, now)
    ids = [d.dataset_id for d in tasks_db.datasets_of(conn, task_id)]
    return TaskIds(task_id, *ids)


def path_to(target: TaskStatus) -> list[TaskStatus]:
    """The shortest path from registered to ``target`` in the task table, not through pending/paused."""
    seen = {T.REGISTERED: [T.REGISTERED]}
    todo = deque([T.REGISTERED])
    while todo:
        current = todo.popleft()
        if current in (T.PENDING, T.PAUSED) and current is not target:
            continue
        for nxt in sorted(TASK_TRANSITIONS[current]):
            if nxt not in seen:
                seen[nxt] = [*seen[current], nxt]
                todo.append(nxt)
    return seen[target]


def drive(conn: Connection, task_id: int, target: TaskStatus, now: datetime) -> None:
    """Move a registered task to ``target`` along the shortest way through the task table."""
    for status in path_to(target)[1:]:
        moved = lifecycle_tasks.transition_task(conn, task_id, status, now, f"to {status.value}")
        assert moved.accepted, moved


def add_rows(
    conn: Connection,
    task_id: int,
    dataset_id: int,
    rows: list[tuple[str, TaskFileStatus]],
    now: datetime,
    *,
    attempt_nr: int = 0,
    max_attempt: int = 3,
    chunk: int = 0,
) -> None:
    """Input rows written directly (the engine's feeder and job-end hook own them in production)."""
    conn.execute(
        insert(task_files),
        [
            {
                "task_id": task_id,
                "dataset_id": dataset_id,
                "scope": SCOPE,
                "lfn": lfn,
                "chunk": chunk,
                "status": status.value,
                "attempt_nr": attempt_nr,
                "max_attempt": max_attempt,
                "creation_time": now,
                "modification_time": now,
            }
            for lfn, status in rows
        ],
    )


def task_jobs(
    conn: Connection, task_id: int, n: int, now: datetime, *, site: str = "SMALL", special: str = ""
) -> list[PandaID]:
    """``n`` activated jobs of the task at ``site`` (through submission, as the generator makes them)."""
    spec = JobSpec(
        transformation="run.sh",
        prod_user_name="alice",
        task_id=task_id,
        computing_site=QueueName(site),
        special_handling=special,
        max_attempt=1,
        resources=ResourceRequest(cores=1),
        files=(FileSpec(lfn=f"out.{task_id}.root", type=FileType.OUTPUT, scope=SCOPE),),
    )
    placed = submission.submit(conn, [spec] * n, now, max_batch=100)
    assert all(p.status is JobStatus.ACTIVATED for p in placed), placed
    return [p.panda_id for p in placed]


def dispatch(conn: Connection, pid: int, now: datetime) -> None:
    for status in (JobStatus.SENT, JobStatus.RUNNING):
        assert lifecycle.transition(conn, pid, Move(status), now).accepted


def end_job(conn: Connection, pid: int, status: JobStatus, now: datetime, diag: str = "") -> None:
    errors = (JobError(ErrorComponent.PILOT, 1305, diag),) if diag else ()
    via = (JobStatus.HOLDING,) if status is JobStatus.FINISHED else ()
    move = Move(status, "ended", change=JobChange(errors=errors), via=via)
    result = lifecycle.transition(conn, pid, move, now)
    assert result.accepted, result


def set_metrics(conn: Connection, pid: int, **columns: Any) -> None:
    conn.execute(update(jobs).where(jobs.c.panda_id == pid).values(**columns))


def job_status(conn: Connection, pid: int) -> tuple[str, str]:
    stmt = select(jobs.c.job_status, jobs.c.command_to_pilot).where(jobs.c.panda_id == pid)
    row = conn.execute(stmt).one()
    return str(row[0]), str(row[1] or "")

"""The task-level side effects of a failed job's retry rule (scheduling.md §9), in the job end's
transaction: ``reduce_input_per_job`` halves the task's input per job in its split rule and
``increase_cputime`` raises its cpuTime (core.retry_effects), each recorded in the task history. Called by
services/lifecycle_taskfiles.job_ended; the next generator cycle sizes the task's jobs with the new values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.retry_effects import ADJUSTED, JobInput, raised_cpu_time, reduced_codes, stale
from pandawms.core.taskspecs import join_split_codes, split_codes
from pandawms.db import jobs as jobs_db
from pandawms.db import tasks as tasks_db
from pandawms.db.task_files import TaskFileRow
from pandawms.services import lifecycle_tasks


def _last_adjusted(conn: Connection, task_id: int) -> datetime | None:
    times = [e.change_time for e in tasks_db.history(conn, task_id) if e.reason.startswith(ADJUSTED)]
    return max(times, default=None)


def apply(
    conn: Connection,
    task_id: int,
    panda_id: int,
    inputs: Sequence[TaskFileRow],
    reduce_input: bool,
    increase_cputime: bool,
    now: datetime,
) -> str:
    """Adjust the task for the failed job ``panda_id`` (its input rows ``inputs``); returns what changed
    ("" when nothing did: the job ran with older settings, or nothing is left to reduce)."""
    task = tasks_db.get_task(conn, task_id)
    job = jobs_db.get_job(conn, panda_id)
    if task is None or job is None:
        return ""
    files = {(r.scope, r.lfn): r.fsize for r in inputs}
    given = JobInput(len(files), sum(files.values()), job.creation_time)
    if stale(given, _last_adjusted(conn, task_id)):
        return ""
    columns: dict[str, object] = {}
    done = []
    if reduce_input:
        codes, what = reduced_codes(split_codes(task.spec.split_rule), given)
        if what:
            columns["split_rule"] = join_split_codes(codes)
            done.append(f"reduce_input_per_job: {what}")
    if increase_cputime:
        cpu, wall = raised_cpu_time(task.spec.cpu_time, task.spec.walltime)
        if (cpu, wall) != (task.spec.cpu_time, task.spec.walltime):
            columns |= {"cpu_time": cpu, "walltime": wall}
            done.append(f"increase_cputime: cpuTime {task.spec.cpu_time:g} -> {cpu:g}, walltime {wall} s")
    if not columns:
        return ""
    tasks_db.update_task(conn, task_id, now, columns)
    text = f"{ADJUSTED} after job {panda_id}: " + "; ".join(done)
    lifecycle_tasks.note(conn, task_id, now, text)
    return text

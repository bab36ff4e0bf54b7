"""Scout evaluation (scheduling.md §6): a scouting task's ended scout jobs -> core.scouts.evaluate ->
``scouted`` with the measured cpuTime / ramCount / outDiskCount written on the task, or ``tobroken`` ->
``broken`` (its remaining jobs killed), or ``exhausted``, each with the reason in the history.

Scout jobs are the task's jobs whose specialHandling has ``sj``; those that finished or failed count
(closed and cancelled ones were stopped by the system, not measured). The job generator moves a
scouted task on to ``running``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.scouts import ScoutMetrics, ScoutOutcome, ScoutResult, ScoutSettings, evaluate
from pandawms.core.specs import FileType, Job
from pandawms.core.states import JobStatus
from pandawms.core.task_commands import KILL_BY_JEDI, task_scout_settings
from pandawms.core.tasks import TaskStatus
from pandawms.core.taskspecs import Task
from pandawms.db import jobs as jobs_db
from pandawms.db import task_progress
from pandawms.db import tasks as tasks_db
from pandawms.services import control, lifecycle_tasks
from pandawms.services.activator import Batch

T = TaskStatus
MEASURED = (JobStatus.FINISHED, JobStatus.FAILED)
_SCOUTING = frozenset({T.SCOUTING})


@dataclass(frozen=True, slots=True)
class ScoutPolicy:
    """Settings every task starts from (a task's own baseWalltime, cpuEfficiency, baseRamCount and its
    SS/MC split codes replace theirs)."""

    settings: ScoutSettings = field(default_factory=ScoutSettings)
    core_power: float = 10.0  # HS06 per core: queues do not say theirs yet


def evaluate_scouts(
    conn: Connection, now: datetime, policy: ScoutPolicy, limit: int, after: int = 0
) -> Batch:
    """One batch of scouting tasks by id from ``after``; ``moved`` counts tasks that left scouting."""
    ids = tasks_db.task_ids_in(conn, [T.SCOUTING], limit, after)
    moved = sum(1 for task_id in ids if _one(conn, task_id, now, policy))
    return Batch(len(ids), moved, ids[-1] if ids else after)


def scout_results(conn: Connection, task_id: int, core_power: float) -> list[ScoutResult]:
    """The task's ended scouts as core.scouts inputs (metrics, output bytes, error)."""
    ids = task_progress.ended_scout_ids(conn, task_id, MEASURED)
    return [_result(job, core_power) for job in jobs_db.get_jobs(conn, ids, with_files=True)]


def _result(job: Job, core_power: float) -> ScoutResult:
    m = job.metrics
    wall = int((job.end_time - job.start_time).total_seconds()) if job.start_time and job.end_time else 0
    first = job.errors.first()
    error = f"{first[0].value} {first[1]}: {first[2]}" if first is not None else ""
    return ScoutResult(
        succeeded=job.status is JobStatus.FINISHED,
        wall_time=max(wall, 0),
        cpu_time=m.cpu_consumption_time or 0,
        n_events=m.n_events or 0,
        cores=m.actual_core_count or job.spec.resources.cores or 1,
        core_power=core_power,
        max_pss_kb=m.max_pss or 0,
        output_bytes=sum(f.fsize for f in job.files if f.type is FileType.OUTPUT),
        error=error,
    )


def _one(conn: Connection, task_id: int, now: datetime, policy: ScoutPolicy) -> bool:
    task = tasks_db.get_task(conn, task_id, lock=True)
    if task is None or task.status is not T.SCOUTING or task.scout_jobs < 1:
        return False  # the generator has not said how many scouts it made
    results = scout_results(conn, task_id, policy.core_power)
    verdict = evaluate(task.scout_jobs, results, task_scout_settings(task.spec, policy.settings))
    if verdict.outcome is ScoutOutcome.WAIT:
        return False
    if verdict.metrics is not None:
        _write_metrics(conn, task, verdict.metrics, now)
    reason = verdict.reason + (_measured(verdict.metrics) if verdict.metrics is not None else "")
    if verdict.outcome is ScoutOutcome.SCOUTED:
        return _move(conn, task_id, T.SCOUTED, now, reason)
    if verdict.outcome is ScoutOutcome.EXHAUSTED:
        return _move(conn, task_id, T.EXHAUSTED, now, reason)
    if not _move(conn, task_id, T.TOBROKEN, now, reason):
        return False
    ids = [pid for pid, _status in task_progress.active_jobs(conn, task_id)]
    if ids:
        control.kill(conn, ids, KILL_BY_JEDI, f"task broken: {verdict.reason}", now)
    return _move(conn, task_id, T.BROKEN, now, reason)


def _move(conn: Connection, task_id: int, target: TaskStatus, now: datetime, reason: str) -> bool:
    only = _SCOUTING if target is not T.BROKEN else frozenset({T.TOBROKEN})
    return lifecycle_tasks.transition_task(conn, task_id, target, now, reason, only_from=only).accepted


def _write_metrics(conn: Connection, task: Task, m: ScoutMetrics, now: datetime) -> None:
    columns: dict[str, int | float] = {}
    if m.cpu_time is not None:
        columns["cpu_time"] = round(m.cpu_time, 3)
    if m.ram_count is not None:
        columns["ram_count"] = m.ram_count
    if m.out_disk_count is not None:
        columns["out_disk_count"] = m.out_disk_count
    if m.disk_io:
        columns["disk_io"] = m.disk_io
    if columns:
        tasks_db.update_task(conn, task.task_id, now, columns)


def _measured(m: ScoutMetrics) -> str:
    parts = [f"from {m.n_used} scout(s)"]
    if m.cpu_time is not None:
        parts.append(f"cpuTime {m.cpu_time:.3g} HS06s/event")
    if m.ram_count is not None:
        parts.append(f"ramCount {m.ram_count} MB/core")
    if m.out_disk_count is not None:
        parts.append(f"outDiskCount {m.out_disk_count} B/event")
    if m.cpu_efficiency is not None:
        parts.append(f"CPU efficiency {m.cpu_efficiency * 100:.0f} %")
    return "; " + ", ".join(parts)

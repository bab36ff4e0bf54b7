"""One task (BigPanDA's /task/<jediTaskID>/): parameters, datasets with file counts by state, jobs by
state, scouts and what they measured, retries, errors, progress in files over time and the history.

Every part is a grouped query or a bounded read (db/monitor_tasks.py): a task of 100,000 files returns
its groups and the first rows of each table, never its file rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pandawms.core.data import DID
from pandawms.core.errors import InvalidInput, NotFound
from pandawms.core.tasks import INPUT_TYPES, TaskStatus
from pandawms.core.taskspecs import Task, TaskDataset
from pandawms.db import monitor_tasks as mtdb
from pandawms.db import tasks as tasks_db
from pandawms.db.monitor import COMPONENTS
from pandawms.monitor import summaries as sm
from pandawms.monitor.common import (
    epoch,
    error_entries,
    selection_out,
    state_counts,
    time_chart,
    with_samples,
)
from pandawms.monitor.models import Chart
from pandawms.monitor.models_tasks import (
    AttemptCount,
    FailedFileOut,
    RetriesOut,
    ScoutRow,
    ScoutsOut,
    TaskDatasetRow,
    TaskHistoryRow,
    TaskPage,
    TaskParam,
)
from pandawms.monitor.pages_data import dataset_url
from pandawms.monitor.pages_tasks import task_rows
from pandawms.monitor.params import Window
from pandawms.protocol.errorcodes import describe

SCOUT_SCAN = 200  # scouts are the first jobs of a task: look among this many
FAILED_SHOWN = 50
HISTORY_SHOWN = 200
PARAMS_SHOWN = 200_000  # characters of the task-parameter JSON shown
ANY_TIME = Window(None, None, "the whole task", None)
_SCOUT_ENDS = frozenset({TaskStatus.SCOUTED, TaskStatus.BROKEN, TaskStatus.EXHAUSTED, TaskStatus.TOBROKEN})


def _did_url(d: TaskDataset) -> str:
    try:
        return dataset_url(DID(d.scope, d.name))
    except InvalidInput:
        return ""


def _datasets(datasets: Sequence[TaskDataset], counts: Mapping[int, dict[str, int]]) -> list[TaskDatasetRow]:
    return [
        TaskDatasetRow(
            dataset_id=d.dataset_id,
            type=d.type.value,
            master=d.type in INPUT_TYPES and d.master_id is None,
            did=d.did,
            url=_did_url(d),
            status=d.status.value,
            n_files=d.n_files,
            n_files_used=d.n_files_used,
            n_files_finished=d.n_files_finished,
            n_files_failed=d.n_files_failed,
            n_events=d.n_events,
            files_by_state=counts.get(d.dataset_id, {}),
        )
        for d in datasets
    ]


def _params(task: Task) -> list[TaskParam]:
    fields: dict[str, Any] = asdict(task.spec)
    fields |= {
        "status": task.status.value,
        "old_status": task.old_status.value if task.old_status else "",
        "error_dialog": task.error_dialog,
        "current_priority": task.current_priority,
        "scout_jobs": task.scout_jobs,
        "locked_by": task.locked_by,
        "creation_time": task.creation_time,
        "modification_time": task.modification_time,
        "state_change_time": task.state_change_time,
        "start_time": task.start_time,
        "end_time": task.end_time,
    }
    out = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            value = ",".join(value)
        out.append(TaskParam(name=name, value="" if value is None else str(value)))
    return out


def _task_params(conn: Connection, task_id: int) -> str:
    raw = tasks_db.get_params(conn, task_id) or ""
    try:
        text = json.dumps(json.loads(raw), indent=1, sort_keys=True)
    except ValueError:
        text = raw
    return text if len(text) <= PARAMS_SHOWN else text[:PARAMS_SHOWN] + "\n... (cut)"


def _first_error(errors: Sequence[tuple[str, int, str]]) -> str:
    if not errors:
        return ""
    comp, code, diag = errors[0]
    return f"{comp}:{code} {describe(comp, code).acronym} {diag}".strip()


def _scouts(conn: Connection, task: Task, history: Sequence[tasks_db.TaskHistoryEntry]) -> ScoutsOut:
    rows = []
    for r in mtdb.scout_jobs(conn, task.task_id, SCOUT_SCAN):
        start, end = r["start_time"], r["end_time"]
        errs = [(c, int(r[f"{c}_error_code"]), str(r[f"{c}_error_diag"])) for c in COMPONENTS]
        rows.append(
            ScoutRow(
                panda_id=int(r["panda_id"]),
                job_status=str(r["job_status"]),
                computing_site=r["computing_site"],
                n_events=int(r["n_events"] or 0),
                cpu_time=r["cpu_consumption_time"],
                walltime=int((end - start).total_seconds()) if start and end else None,
                max_pss=r["max_pss"],
                cores=int(r["actual_core_count"] or r["core_count"] or 1),
                error=_first_error([e for e in errs if e[1]]),
                url=f"/job/{int(r['panda_id'])}/",
            )
        )
    s = task.spec
    measured = [
        TaskParam(name="cpuTime", value=f"{s.cpu_time:g} HS06·s per event"),
        TaskParam(name="ramCount", value=f"{s.ram_count} MB per core"),
        TaskParam(name="outDiskCount", value=f"{s.out_disk_count} bytes per event"),
        TaskParam(name="walltime", value=f"{s.walltime} s"),
    ]
    report = next((h.reason for h in reversed(history) if h.status in _SCOUT_ENDS and h.reason), "")
    return ScoutsOut(jobs=rows, measured=measured, report=report)


def _retries(conn: Connection, inputs: Sequence[TaskDataset]) -> RetriesOut:
    ids = [d.dataset_id for d in inputs]
    names = {d.dataset_id: d.did for d in inputs}
    failed, total = mtdb.failed_files(conn, ids, FAILED_SHOWN)
    return RetriesOut(
        attempts=[AttemptCount(attempt=a, files=n) for a, n in mtdb.attempt_counts(conn, ids).items()],
        failed_files=[
            FailedFileOut(
                scope=f.scope,
                lfn=f.lfn,
                dataset=names.get(f.dataset_id, ""),
                attempt=f.attempt_nr,
                max_attempt=f.max_attempt,
                panda_id=f.panda_id,
                error=_first_error(f.errors),
                url=f"/job/{f.panda_id}/" if f.panda_id else "",
            )
            for f in failed
        ],
        failed_total=total,
    )


def _progress_chart(conn: Connection, task: Task, masters: Sequence[int], now: datetime) -> Chart:
    """Master input files finished and failed so far (cumulative), by the time each row ended."""
    start = epoch(task.creation_time)
    bins = sm.make_bins(start, max(epoch(task.end_time or now), start))
    per_bin = mtdb.ended_per_bin(conn, masters, bins.start, bins.width)
    data: dict[str, list[int]] = {}
    for status in ("finished", "failed"):
        counts = [0] * bins.count
        for i, n in per_bin.get(status, {}).items():
            counts[min(max(i, 0), bins.count - 1)] += n
        running = 0
        for i, n in enumerate(counts):
            running += n
            counts[i] = running
        data[status] = counts
    chart = time_chart("progress", "Master input files done over time (cumulative)", bins, data)
    return chart.model_copy(update={"unit": "files"})


def task_page(conn: Connection, task_id: int, params: Mapping[str, str], now: datetime) -> TaskPage:
    task = tasks_db.get_task(conn, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    datasets = tasks_db.datasets_of(conn, task_id)
    inputs = [d for d in datasets if d.type in INPUT_TYPES]
    masters = [d.dataset_id for d in inputs if d.master_id is None]
    [row] = task_rows(conn, [task])
    history = mtdb.history_tail(conn, task_id, HISTORY_SHOWN)
    jobs = mtdb.job_counts(conn, task_id)
    on_jobs = {"jeditaskid": str(task_id)}
    groups = [
        sm.ErrorGroup("", e.component, e.code, e.count, e.latest, e.latest_pid)
        for e in mtdb.error_counts(conn, task_id)
    ]
    return TaskPage(
        selection=selection_out(params, ANY_TIME, f"task {task_id} {task.spec.task_name}"),
        task=row,
        params=_params(task),
        task_params=_task_params(conn, task_id),
        datasets=_datasets(datasets, mtdb.file_counts(conn, [d.dataset_id for d in datasets])),
        job_counts=state_counts(jobs, on_jobs),
        jobs_total=sum(jobs.values()),
        scouts=_scouts(conn, task, history),
        retries=_retries(conn, inputs),
        errs_by_count=error_entries(with_samples(conn, groups), on_jobs),
        charts=[_progress_chart(conn, task, masters, now)],
        history=[
            TaskHistoryRow(status=h.status, previous=h.previous_status, time=h.change_time, reason=h.reason)
            for h in history
        ],
    )

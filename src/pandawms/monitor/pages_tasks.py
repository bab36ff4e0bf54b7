"""The task list (BigPanDA's /tasks/) with the global shares, and the shared pieces of a task's rows.

Filters follow the job list's grammar (``|`` ORs, ``,`` ANDs, ``!`` negates, ``*`` wildcard); the window is
on the task's last modification (default 7 days, lifted by ``jeditaskid`` or a selection of active states
only). One keyset page of tasks; their progress and active jobs are read for the page only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core import shares as core_shares
from pandawms.core.errors import InvalidInput
from pandawms.core.tasks import ACTIVE_TASK_STATES, FileCounts
from pandawms.core.taskspecs import Task
from pandawms.db import monitor_tasks as mtdb
from pandawms.db.monitor import Match
from pandawms.monitor.common import link, selection_out, state_counts
from pandawms.monitor.models_tasks import FileProgress, ShareRow, TaskRow, TasksPage
from pandawms.monitor.pages_jobs import describe_selection
from pandawms.monitor.params import (
    WINDOW_PARAMS,
    Window,
    format_cursor,
    parse_cursor,
    parse_ids,
    parse_limits,
    parse_states,
    parse_terms,
    parse_window,
)
from pandawms.protocol.display import TASK_STATE_ORDER
from pandawms.protocol.task_records import TaskSummary

TASKS_HOURS = 7 * 24
TASK_TEXT_PARAMS: Mapping[str, str] = {
    "username": "user_name",
    "taskname": "task_name",
    "prodsourcelabel": "prod_source_label",
    "workinggroup": "working_group",
    "processingtype": "processing_type",
    "tasktype": "task_type",
}
TASK_PARAMS = frozenset(
    {*TASK_TEXT_PARAMS, "status", "jeditaskid", *WINDOW_PARAMS, "limit", "display_limit", "cursor"}
)
QUEUED_JOB_STATES = frozenset({"defined", "waiting", "assigned", "activated", "sent", "throttled"})
RUNNING_JOB_STATES = frozenset({"starting", "running"})


def task_url(task_id: int) -> str:
    return f"/task/{task_id}/"


def parse_task_selection(q: Mapping[str, str], now: datetime) -> tuple[mtdb.TaskSelection, Window]:
    matches = tuple(Match(col, parse_terms(q, name)) for name, col in TASK_TEXT_PARAMS.items() if name in q)
    ids = parse_ids(q, "jeditaskid") if "jeditaskid" in q else ()
    statuses = parse_states(q.get("status"), "status", TASK_STATE_ORDER, "task state")
    only_active = "status" in q and set(statuses) <= {s.value for s in ACTIVE_TASK_STATES}
    window = parse_window(q, now, TASKS_HOURS, lift=only_active or bool(ids))
    return mtdb.TaskSelection(statuses, matches, ids, window.since, window.until), window


def progress_out(c: FileCounts) -> FileProgress:
    def pct(n: int) -> float:
        return round(100.0 * n / c.total, 1) if c.total else 0.0

    remaining = max(c.total - c.finished - c.failed, 0)
    return FileProgress(
        total=c.total,
        finished=c.finished,
        failed=c.failed,
        remaining=remaining,
        finished_percent=pct(c.finished),
        failed_percent=pct(c.failed),
    )


def task_rows(conn: Connection, found: Sequence[Task]) -> list[TaskRow]:
    """The rows of a page of tasks: progress from the dataset counters, active jobs from their files."""
    ids = [t.task_id for t in found]
    progress = mtdb.master_progress(conn, ids)
    active = mtdb.active_jobs(conn, ids)
    return [
        task_row(t, progress.get(t.task_id, FileCounts(0, 0, 0)), active.get(t.task_id, {})) for t in found
    ]


def task_row(t: Task, progress: FileCounts, active: Mapping[str, int]) -> TaskRow:
    running = sum(n for st, n in active.items() if st in RUNNING_JOB_STATES)
    return TaskRow(
        **dict(TaskSummary.summary(t, progress, running)),
        task_type=t.spec.task_type,
        processing_type=t.spec.processing_type,
        task_priority=t.spec.task_priority,
        progress=progress_out(progress),
        jobs_queued=sum(n for st, n in active.items() if st in QUEUED_JOB_STATES),
        url=task_url(t.task_id),
    )


def share_rows(conn: Connection, tree: core_shares.Share = core_shares.DEFAULT_TREE) -> list[ShareRow]:
    """Each leaf's target and the cores its running jobs use (core.shares.leaf_for on label, the task's
    working group and the user)."""
    cores: Counter[str] = Counter()
    for u in mtdb.running_cores(conn):
        cores[core_shares.leaf_for(tree, u.label, u.working_group, u.user)] += u.cores
    total = sum(cores.values())
    ratios = core_shares.under_served(tree, {k: float(v) for k, v in cores.items()})
    return [
        ShareRow(
            name=name,
            target=round(target, 4),
            cores=cores[name],
            usage=round(cores[name] / total, 4) if total else 0.0,
            ratio=round(ratios[name], 3) if ratios[name] != float("inf") else None,
        )
        for name, target in core_shares.leaves(tree)
    ]


def _cursor(params: Mapping[str, str]) -> mtdb.TaskCursor | None:
    """``cursor=<ISO time>_<jediTaskID>`` (the next-page links carry it)."""
    after = parse_cursor(params)
    if after is None:
        return None
    if after.time is None:
        raise InvalidInput(f"cursor: {params['cursor']!r} is not a task page cursor", "cursor")
    return mtdb.TaskCursor(after.time, after.panda_id)


def tasks_page(conn: Connection, params: Mapping[str, str], now: datetime) -> TasksPage:
    sel, window = parse_task_selection(params, now)
    limit, display = parse_limits(params)
    found = mtdb.list_page(conn, sel, _cursor(params), display + 1)
    next_url = None
    if len(found) > display:
        last = found[display - 1]
        next_url = link("/tasks/", params, cursor=format_cursor(last.modification_time, last.task_id))
    if sel.status_only:
        counts = mtdb.count_by_status(conn, sel)
        total, exact = sum(counts.values()), True
    else:
        newest = mtdb.newest_statuses(conn, sel, limit)
        counts, total, exact = dict(Counter(newest)), len(newest), len(newest) < limit
    return TasksPage(
        selection=selection_out(params, window, describe_selection(params, "tasks"), limit),
        total=total,
        total_exact=exact,
        state_counts=state_counts(counts, params, "/tasks/", order=TASK_STATE_ORDER, key="status"),
        tasks=task_rows(conn, found[:display]),
        next_url=next_url,
        shares=share_rows(conn),
    )

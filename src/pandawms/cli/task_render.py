"""Rich renderings of tasks for ``panda tasks``, ``panda task ID`` and ``panda watch --task``: pure
functions of the API's answers (protocol/task_records.py), tables that fit 80 columns."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pandawms.cli.render import counts_line, fmt_time, status_text
from pandawms.protocol.task_records import TaskDatasetOut, TaskHistoryOut, TaskRecord, TaskSummary


def files_done(done: int, total: int) -> str:
    return f"{done}/{total}" if total else "-"


def tasks_table(tasks: Sequence[TaskSummary]) -> Table:
    """One line per task where names allow: no vertical rules, so the name keeps most of 80 columns."""
    table = Table(
        title=f"{len(tasks)} task(s)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("ID", no_wrap=True, justify="right")
    table.add_column("name", overflow="fold", min_width=20, ratio=1)
    table.add_column("status", no_wrap=True)
    table.add_column("done/all", no_wrap=True, justify="right")
    table.add_column("failed", no_wrap=True, justify="right")
    table.add_column("run", no_wrap=True, justify="right")
    table.add_column("modified", no_wrap=True)
    for t in tasks:
        table.add_row(
            str(t.task_id),
            t.task_name,
            status_text(t.status),
            files_done(t.n_files_finished, t.n_files),
            str(t.n_files_failed),
            str(t.n_jobs_running),
            t.modification_time.strftime("%m-%d %H:%M"),
        )
    return table


def _grid(title: str) -> Table:
    grid = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    return grid


def _attributes(r: TaskRecord) -> Table:
    grid = _grid(f"Task {r.task_id}")
    status = status_text(r.status)
    if r.old_status is not None:
        status.append(f" (returns to {r.old_status.value})")
    rows: list[tuple[str, str | Text]] = [
        ("name", r.task_name),
        ("status", status),
        ("user / label", f"{r.user_name} / {r.prod_source_label}"),
        ("priority", f"{r.current_priority} (task {r.task_priority})"),
        ("transPath", r.trans_path),
        ("split rule", r.split_rule or "-"),
        (
            "resources",
            f"{r.core_count} core(s), {r.ram_count or '-'} MB/core, walltime {r.walltime or '-'} s",
        ),
        ("max attempts", str(r.max_attempt)),
        ("parent", str(r.parent_tid) if r.parent_tid else "-"),
        ("sites", ", ".join(r.included_sites) or "any"),
        ("created", fmt_time(r.creation_time)),
        ("started / ended", f"{fmt_time(r.start_time)} / {fmt_time(r.end_time)}"),
        ("modified", fmt_time(r.modification_time)),
    ]
    if r.excluded_sites:
        rows.append(("excluded sites", ", ".join(r.excluded_sites)))
    if r.error_dialog:
        rows.append(("error dialog", Text(r.error_dialog, style="bold red")))
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def _datasets(datasets: Sequence[TaskDatasetOut]) -> Table:
    table = Table(title="Datasets (progress in files)", title_justify="left")
    table.add_column("dataset", overflow="fold", ratio=1)
    for name in ("type", "status", "finished", "failed", "used"):
        table.add_column(
            name, no_wrap=True, justify="right" if name in ("finished", "failed", "used") else "left"
        )
    for d in datasets:
        kind = d.type.value + (" (mutable)" if d.mutable else "")
        table.add_row(
            d.dataset_name,
            kind,
            status_text(d.status.value),
            files_done(d.n_files_finished, d.n_files),
            str(d.n_files_failed),
            str(d.n_files_used),
        )
    return table


def _history(history: Sequence[TaskHistoryOut]) -> Table:
    table = Table(title="Status history", title_justify="left")
    table.add_column("time", no_wrap=True)
    table.add_column("from", no_wrap=True)
    table.add_column("to", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    for h in history:
        table.add_row(fmt_time(h.time), h.previous or "-", status_text(h.status), h.reason)
    return table


def _scouts(r: TaskRecord) -> Text:
    if r.scouts is None:
        return Text("Scouts: not evaluated yet", style="italic")
    s = r.scouts
    return Text(
        f"Scouts ({fmt_time(s.time)}): cpuTime {s.cpu_time:g} HS06·s/event, ramCount {s.ram_count} MB/core, "
        f"outDiskCount {s.out_disk_count} B/event - {s.reason}"
    )


def task_detail(r: TaskRecord) -> Group:
    jobs = Text("Jobs: ", style="bold")
    jobs.append_text(counts_line(r.job_counts))
    parts: list[RenderableType] = [
        _attributes(r),
        _datasets(r.datasets),
        jobs,
        _scouts(r),
        _history(r.history),
    ]
    return Group(*parts)


def progress_line(r: TaskRecord) -> str:
    """One plain line of a watched task: status, files ended of total, failed, running jobs."""
    ended = r.n_files_finished + r.n_files_failed
    return (
        f"task {r.task_id} {r.status.value}: files {ended}/{r.n_files or '?'} ended "
        f"({r.n_files_finished} finished, {r.n_files_failed} failed), {r.n_jobs_running} job(s) running"
    )

"""``panda watch --task ID``: a task's progress in files (finished + failed of its master inputs) until
it is final: a live rich bar on a terminal, a plain line per change otherwise. Exit 0 when the task is
``done``, 1 when it ended otherwise (finished with failures, failed, broken, aborted)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from pandawms.cli import task_render
from pandawms.cli.client import PandaClient
from pandawms.cli.common import EXIT_FAILED, emit_json, make_console
from pandawms.core.tasks import TASK_FINAL_STATES, TaskStatus
from pandawms.protocol.task_records import TaskRecord


def _sleep(seconds: float) -> None:
    """Between watch frames (a seam for tests that move the task on while the watch waits)."""
    time.sleep(seconds)


def task_exit(record: TaskRecord) -> int:
    """0 when the task is done, 1 when it ended otherwise (finished with failures, failed, broken,
    aborted); while it is not final, 0."""
    ended_badly = record.status in TASK_FINAL_STATES and record.status is not TaskStatus.DONE
    return EXIT_FAILED if ended_badly else 0


def _bar_fields(r: TaskRecord) -> dict[str, Any]:
    return {
        "description": f"task {r.task_id} {r.status.value}",
        "total": r.n_files or None,
        "completed": r.n_files_finished + r.n_files_failed,
        "failed": f"{r.n_files_failed} failed, {r.n_jobs_running} running",
    }


def watch_task(client: PandaClient, task_id: int, interval: float, once: bool, as_json: bool) -> int:
    """Follow one task until it is final: a live bar of files on a terminal, plain lines otherwise."""
    return follow_task(lambda: client.task_details(task_id), make_console(), interval, once, as_json)


def follow_task(
    fetch: Callable[[], TaskRecord], console: Console, interval: float, once: bool, as_json: bool
) -> int:
    record = fetch()
    if not once and record.status not in TASK_FINAL_STATES:
        if console.is_terminal and not as_json:
            record = _bar_loop(fetch, record, console, interval)
        else:
            record = _line_loop(fetch, record, interval, as_json)
    if as_json:
        emit_json(record)
    else:
        console.print(task_render.progress_line(record), soft_wrap=True)
    return task_exit(record)


def _bar_loop(
    fetch: Callable[[], TaskRecord], record: TaskRecord, console: Console, interval: float
) -> TaskRecord:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]}"),
    )
    with Progress(*columns, console=console) as bar:
        bar_id: TaskID = bar.add_task(**_bar_fields(record))
        while record.status not in TASK_FINAL_STATES:
            _sleep(interval)
            record = fetch()
            bar.update(bar_id, **_bar_fields(record))
    return record


def _line_loop(
    fetch: Callable[[], TaskRecord], record: TaskRecord, interval: float, as_json: bool
) -> TaskRecord:
    last = ""
    while record.status not in TASK_FINAL_STATES:
        line = task_render.progress_line(record)
        if line != last and not as_json:
            typer.echo(f"{time.strftime('%H:%M:%S')} {line}")
            last = line
        _sleep(interval)
        record = fetch()
    return record

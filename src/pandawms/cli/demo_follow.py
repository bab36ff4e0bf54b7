"""How the demo follows its tasks: a live table on a terminal, else (``make demo | tee log``) one plain
progress line every few seconds, so a log shows the run instead of ~2.5 min of silence. The fetch, the
clock and the sleep come in as arguments (tests run it without a server or waiting)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from pandawms.cli.task_render import tasks_table
from pandawms.protocol.display import STATE_ORDER
from pandawms.protocol.jobs import JobRecord
from pandawms.protocol.task_records import TaskSummary

Fetch = Callable[[], tuple[list[TaskSummary], list[JobRecord]]]
Over = Callable[[Sequence[TaskSummary]], bool]
PLAIN_EVERY = 5.0  # seconds between two plain progress lines
POLL = 1.0


def progress_table(tasks: Sequence[TaskSummary], jobs: Sequence[JobRecord], elapsed: float) -> Group:
    """The tasks (one line each: status, files finished/failed of all, jobs running), then jobs per queue."""
    by_queue: dict[str, Counter[str]] = {}
    for j in jobs:
        by_queue.setdefault(j.computing_site or "-", Counter())[j.job_status] += 1
    states = [s for s in STATE_ORDER if any(c[s] for c in by_queue.values())]
    table = Table(title=f"jobs (attempts) per queue, {elapsed:.0f} s", title_justify="left")
    table.add_column("queue")
    for s in states:
        table.add_column(s, justify="right")
    for q in sorted(by_queue):
        table.add_row(q, *[str(by_queue[q][s] or "") for s in states])
    return Group(tasks_table(tasks), table)


def progress_line(tasks: Sequence[TaskSummary], jobs: Sequence[JobRecord], elapsed: float) -> str:
    """``[  35 s] files 9/26 finished, 1 failed; tasks 1 running 4/12, ...; jobs (attempts) running 3``"""
    finished = sum(t.n_files_finished for t in tasks)
    failed = sum(t.n_files_failed for t in tasks)
    files = sum(t.n_files for t in tasks)
    per_task = ", ".join(f"{t.task_id} {t.status.value} {t.n_files_finished}/{t.n_files}" for t in tasks)
    states = Counter(j.job_status for j in jobs)
    per_state = ", ".join(f"{s} {states[s]}" for s in STATE_ORDER if states[s]) or "none yet"
    return (
        f"[{elapsed:4.0f} s] files {finished}/{files} finished, {failed} failed; "
        f"tasks {per_task or 'none'}; jobs (attempts) {per_state}"
    )


@dataclass(frozen=True)
class Timing:
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    every: float = PLAIN_EVERY  # seconds between two plain lines


def follow(
    fetch: Fetch, over: Over, console: Console, timeout: float, timing: Timing
) -> tuple[list[TaskSummary], list[JobRecord]]:
    """Progress until ``over`` says the tasks are (or ``timeout``); the last tasks and jobs seen."""
    if not console.is_terminal:
        return _follow_plain(fetch, over, console, timeout, timing)
    clock, sleep = timing.clock, timing.sleep
    started = clock()
    tasks, jobs = fetch()
    with Live(progress_table(tasks, jobs, 0), console=console, refresh_per_second=2, transient=False) as live:
        while clock() - started < timeout:
            tasks, jobs = fetch()
            live.update(progress_table(tasks, jobs, clock() - started))
            if over(tasks):
                break
            sleep(POLL)
    return tasks, jobs


def _follow_plain(
    fetch: Fetch, over: Over, console: Console, timeout: float, timing: Timing
) -> tuple[list[TaskSummary], list[JobRecord]]:
    clock, sleep, every = timing.clock, timing.sleep, timing.every
    started = clock()
    printed_at: float | None = None
    tasks: list[TaskSummary] = []
    jobs: list[JobRecord] = []
    while True:
        tasks, jobs = fetch()
        now = clock() - started
        done = over(tasks) or now >= timeout
        if done or printed_at is None or now - printed_at >= every:
            console.print(progress_line(tasks, jobs, now), markup=False, highlight=False, soft_wrap=True)
            printed_at = now
        if done:
            return tasks, jobs
        sleep(POLL)

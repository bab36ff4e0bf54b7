"""The demo's output for a newcomer (issue 13): plain progress lines when stdout is not a terminal
(`make demo | tee log`), what Ctrl-C stops and where the data stays, and numbers that add up."""

from __future__ import annotations

import io
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from rich.console import Console

from pandawms.cli import demo_tasks
from pandawms.cli.demo import _process, kept_data
from pandawms.cli.demo_follow import Timing, follow, progress_line
from pandawms.core.tasks import TaskStatus
from pandawms.protocol.jobs import JobRecord
from pandawms.protocol.task_records import TaskRecord, TaskSummary

T0 = datetime(2026, 3, 1, 12, 0, 0)


def _task(task_id: int, status: TaskStatus, done: int, failed: int, files: int) -> TaskSummary:
    return TaskSummary(
        task_id=task_id,
        status=status,
        old_status=None,
        error_dialog="",
        task_name=f"t{task_id}",
        user_name="demo",
        prod_source_label="managed",
        working_group="",
        current_priority=900,
        parent_tid=None,
        creation_time=T0,
        modification_time=T0,
        n_files=files,
        n_files_finished=done,
        n_files_failed=failed,
        n_jobs_running=1,
    )


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_off_a_terminal_progress_is_a_plain_line_every_few_seconds() -> None:
    # given a console writing to a pipe and tasks that end after 23 polls
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    fake = FakeTime()
    polls = 0

    def fetch() -> tuple[list[TaskSummary], list[JobRecord]]:
        nonlocal polls
        polls += 1
        status = TaskStatus.DONE if polls > 23 else TaskStatus.RUNNING
        return [_task(1, status, min(polls, 12), 0, 12)], []

    def over(tasks: Any) -> bool:
        return all(t.status == TaskStatus.DONE for t in tasks)

    # when the demo follows them
    tasks, _ = follow(fetch, over, console, 600, Timing(fake.clock, fake.sleep, every=5))
    # then one plain line was printed at the start, every 5 s and at the end, with no terminal codes
    lines = out.getvalue().splitlines()
    assert [line[:8] for line in lines] == [
        "[   0 s]",
        "[   5 s]",
        "[  10 s]",
        "[  15 s]",
        "[  20 s]",
        "[  23 s]",
    ]
    assert "\x1b" not in out.getvalue()
    assert lines[-1].startswith("[  23 s] files 12/12 finished, 0 failed; tasks 1 done 12/12")
    assert tasks[0].status == TaskStatus.DONE


def test_plain_follow_stops_at_the_timeout() -> None:
    out = io.StringIO()
    fake = FakeTime()
    running = [_task(1, TaskStatus.RUNNING, 0, 0, 4)]
    follow(lambda: (running, []), lambda t: False, Console(file=out), 12, Timing(fake.clock, fake.sleep))
    assert out.getvalue().splitlines()[-1].startswith("[  12 s]")


def test_progress_line_counts_files_and_attempts() -> None:
    tasks = [_task(1, TaskStatus.RUNNING, 3, 1, 12), _task(2, TaskStatus.READY, 0, 0, 6)]
    jobs = [cast(JobRecord, SimpleNamespace(job_status=s)) for s in ("running", "running", "failed")]
    line = progress_line(tasks, jobs, 35.2)
    assert line == (
        "[  35 s] files 3/18 finished, 1 failed; tasks 1 running 3/12, 2 ready 0/6; "
        "jobs (attempts) running 2, failed 1"
    )


def test_the_failure_rate_is_of_final_attempts_not_of_jobs() -> None:
    # given 36 files of which 2 failed for good, run by 40 jobs of which 6 failed (4 were retried)
    records = [cast(TaskRecord, SimpleNamespace(n_files_finished=34, n_files_failed=2))]
    jobs = [cast(JobRecord, SimpleNamespace(job_status="finished", errors=[]))] * 34
    jobs += [cast(JobRecord, SimpleNamespace(job_status="failed", errors=[]))] * 6
    # then
    assert demo_tasks.final_attempts_line(records, jobs) == (
        "Final attempts: 34 input file(s) finished, 2 failed: failure rate 5.6 %; "
        "40 jobs ran them (6 failed attempt(s), 4 of them retried)"
    )


def test_stopping_a_process_says_so_and_where_the_data_stays(tmp_path: Path) -> None:
    # given a child process the demo started
    said: list[int] = []
    with _process(
        [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "x.log", {}, said.append
    ) as p:
        assert p.poll() is None
    # then leaving the block announced it by pid and stopped it
    assert said == [p.pid] and p.returncode is not None
    # and the closing message names the folder and how to remove it
    text = kept_data(tmp_path)
    assert str(tmp_path) in text and f"rm -rf {tmp_path}" in text and "panda.db" in text

"""Task chaining (scheduling.md §11): a child task reads its parent's output dataset as it grows and ends
after it; noWaitParent starts it at once; a parent that fails, breaks or is aborted decides what the
child does (states.md §2.2). Real feeder, generator, simulated pilots and the PostProcessor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pandawms.core.data import DID
from pandawms.core.states import DatasetStatus
from pandawms.core.tasks import TaskDatasetStatus, TaskStatus
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.services import catalog, control, lifecycle_tasks, postprocessor
from pandawms.services.feeder import FeedCursor, FeedSettings, feed_step
from tests.db import jedi_helpers as h

NOW = datetime(2026, 12, 2, 8, 0, 0)
T = TaskStatus


def _chain(db: Database, n_files: int = 3, **child: Any) -> tuple[int, int]:
    """A parent over ``gen`` writing ``out.gen`` and a child reading ``out.gen``, both skipScout."""
    h.grid(db, NOW)
    h.dataset(db, "gen", n_files, NOW)
    parent = h.submit(db, h.params("gen", skipScout=True, nFilesPerJob=1), NOW)
    raw = h.params("out.gen", parent_tid=parent, skipScout=True, nFilesPerJob=1, **child)
    return parent, h.submit(db, raw, NOW, parent_mutable=True)


def _post(db: Database) -> None:
    with db.write() as conn:
        postprocessor.postprocess(conn, NOW, 50)


def _reason(db: Database, task_id: int) -> str:
    with db.read() as conn:
        return tasks_db.history(conn, task_id)[-1].reason


def _end(db: Database, task_id: int, *path: TaskStatus) -> None:
    with db.write() as conn:
        for status in path:
            assert lifecycle_tasks.transition_task(conn, task_id, status, NOW, "test").accepted


def test_child_reads_the_growing_output_and_is_done_after_its_parent(db: Database) -> None:
    parent, child = _chain(db)
    assert h.feed(db, child, NOW).outcome.startswith("waiting: ")
    h.feed(db, parent, NOW)
    h.generate(db, parent, NOW)
    assert h.feed(db, child, NOW).outcome.startswith("waiting: ")  # out.gen exists, still empty
    assert h.run_pilots(db, NOW) == 3  # the parent's jobs: out.gen gets 3 files
    assert h.feed(db, child, NOW).outcome == "ready"
    h.generate(db, child, NOW)
    assert h.run_pilots(db, NOW) == 3  # the child's jobs
    # the parent is paused (not final): even with its input no longer mutable the child waits for it
    _end(db, parent, T.PAUSED)
    with db.write() as conn:
        tasks_db.update_dataset(conn, h.datasets(db, child)["input"].dataset_id, NOW, {"mutable": False})
    _post(db)
    assert (h.task(db, parent).status, h.task(db, child).status) == (T.PAUSED, T.RUNNING)
    with db.write() as conn:
        tasks_db.update_dataset(conn, h.datasets(db, child)["input"].dataset_id, NOW, {"mutable": True})
    _end(db, parent, T.RUNNING)
    _post(db)  # the parent is done (out.gen closed); the child's input is mutable until fed once more
    assert (h.task(db, parent).status, h.task(db, child).status) == (T.DONE, T.RUNNING)
    assert h.feed(db, child, NOW).mutable_closed == [f"{h.SCOPE}:out.gen"]
    _post(db)
    assert h.task(db, child).status is T.DONE and _reason(db, child) == "all 3 input files finished"


def test_child_fed_while_the_parent_produces_more(db: Database) -> None:
    parent, child = _chain(db, 6)
    h.feed(db, parent, NOW)
    h.generate(db, parent, NOW, queue_limit=2)  # two of the parent's six jobs (throttled)
    assert h.run_pilots(db, NOW) == 2
    assert h.feed(db, child, NOW).outcome == "ready"
    assert h.datasets(db, child)["input"].n_files == 2
    h.generate(db, parent, NOW)
    assert h.run_pilots(db, NOW) == 4
    h.feed(db, child, NOW)
    ds = h.datasets(db, child)["input"]
    assert ds.mutable and ds.n_files == 6


def test_no_wait_parent_starts_at_once_and_finishes_when_the_parent_is_aborted(db: Database) -> None:
    parent, child = _chain(db, noWaitParent=True)
    # the parent's output does not even exist yet: the child starts all the same
    assert h.feed(db, child, NOW).outcome == "ready"
    assert h.task(db, child).status is T.READY
    h.feed(db, parent, NOW)
    h.generate(db, parent, NOW, queue_limit=1)
    assert h.run_pilots(db, NOW) == 1  # one file in out.gen
    h.feed(db, child, NOW)
    h.generate(db, child, NOW)
    assert h.run_pilots(db, NOW) == 1
    h.generate(db, parent, NOW, queue_limit=1)  # the parent's next job, queued
    # the parent is killed: its queued job ends and the task is aborted (its outputs closed)
    _end(db, parent, T.ABORTING)
    jobs = [j.panda_id for j in h.task_jobs(db, parent) if j.status.value == "activated"]
    assert jobs
    with db.write() as conn:
        control.kill(conn, jobs, 50, "task killed", NOW)
    _post(db)
    assert h.task(db, parent).status is T.ABORTED
    assert h.feed(db, child, NOW).mutable_closed == [f"{h.SCOPE}:out.gen"]
    _post(db)
    # all it had finished, but the parent is not done: finished, not done (states.md §2.2)
    assert h.task(db, child).status is T.FINISHED
    assert _reason(db, child) == "all 1 input files finished; the parent task is not done"


def test_a_waiting_child_of_a_parent_that_broke_is_broken(db: Database) -> None:
    parent, child = _chain(db)
    assert h.feed(db, child, NOW).outcome.startswith("waiting: ")
    _end(db, parent, T.BROKEN)
    outcome = h.feed(db, child, NOW).outcome
    reason = f"parent task {parent} failed to complete (broken)"
    assert outcome == f"broken: {reason}"
    broken = h.task(db, child)
    assert broken.status is T.BROKEN and broken.error_dialog == reason
    assert h.datasets(db, child)["input"].status is TaskDatasetStatus.BROKEN


def test_a_started_child_whose_parent_broke_stops_feeding_and_ends_with_what_it_has(db: Database) -> None:
    """A broken parent never closes its output: the child's feed stops all the same."""
    parent, child = _chain(db, noWaitParent=True)
    h.feed(db, child, NOW)
    h.feed(db, parent, NOW)
    _end(db, parent, T.TOBROKEN, T.BROKEN)  # e.g. no scout succeeded
    assert h.feed(db, child, NOW).mutable_closed == [f"{h.SCOPE}:out.gen"]
    h.generate(db, child, NOW)
    _post(db)
    assert h.task(db, child).status is T.FAILED and _reason(db, child) == "no input files"


def test_the_stop_is_decided_before_the_pass_reads_the_dataset(db: Database) -> None:
    """A pass that started reading while the parent still ran does not stop the feed, even if the
    parent ends (and its output closes) during the pass: the next pass reads every file, then stops."""
    parent, child = _chain(db)
    h.feed(db, parent, NOW)
    h.dataset(db, "out.gen", 3, NOW)
    h.feed(db, child, NOW)  # ready with 3 rows
    h.dataset(db, "out.gen", 2, NOW, start=3)
    cursor, settings = FeedCursor(), FeedSettings()
    with db.write() as conn:
        feed_step(conn, child, NOW, 2, cursor, settings)  # the pass has begun: parent still running
    h.dataset(db, "out.gen", 1, NOW, start=5)  # the parent's last file, then it ends
    with db.write() as conn:
        catalog.set_status(conn, [DID(h.SCOPE, "out.gen")], DatasetStatus.CLOSED, NOW)
    _end(db, parent, T.PREPARED, T.DONE)
    for _ in range(10):
        with db.write() as conn:
            feed_step(conn, child, NOW, 2, cursor, settings)
        if cursor.done:
            break
    assert cursor.done and cursor.mutable_closed == []
    assert h.datasets(db, child)["input"].mutable
    assert h.feed(db, child, NOW).mutable_closed == [f"{h.SCOPE}:out.gen"]
    ds = h.datasets(db, child)["input"]
    assert not ds.mutable and ds.n_files == 6

"""The ContentsFeeder: catalog files -> task-file rows, event ranges, pseudo input, idempotence, missing and
empty inputs, and a child task's mutable input that grows while its parent runs."""

from __future__ import annotations

from datetime import datetime

from pandawms.core.data import DID
from pandawms.core.states import DatasetStatus
from pandawms.core.tasks import TaskDatasetStatus, TaskFileStatus, TaskStatus
from pandawms.db import catalog as catalog_db
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.db.task_files import NewTaskFile
from pandawms.services import catalog, feeder, lifecycle_taskfiles, lifecycle_tasks, postprocessor
from pandawms.services.feeder import FeedCursor, FeedSettings, feed_step
from tests.db import jedi_helpers as h

NOW = datetime(2026, 12, 2, 8, 0, 0)


def test_files_become_ready_rows_with_scouts_and_the_task_ready(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 25, NOW)
    task_id = h.submit(db, h.params(maxAttempt=4, maxFailure=2), NOW)
    cursor = h.feed(db, task_id, NOW, limit=7)  # several steps
    assert cursor.outcome == "ready" and cursor.fed == 25
    sets = h.datasets(db, task_id)
    rows = h.rows(db, sets["input"].dataset_id)
    assert [r.lfn for r in rows] == [f"in.{i:06d}.root" for i in range(25)]  # file_id order = catalog order
    assert {(r.status, r.attempt_nr, r.max_attempt, r.max_failure) for r in rows} == {
        (TaskFileStatus.READY, 0, 4, 2)
    }
    assert [r.is_scout for r in rows] == [True] * 10 + [False] * 15
    assert rows[0].checksum.startswith("ad:") and rows[0].guid and rows[0].fsize == 1_000_000
    master = sets["input"]
    assert (master.n_files, master.n_events, master.status) == (25, 2500, TaskDatasetStatus.READY)
    assert h.task(db, task_id).status is TaskStatus.READY
    with db.read() as conn:
        assert tasks_db.history(conn, task_id)[-1].reason == "25 input rows fed"
        for name in ("out.in", "log.in"):  # the TaskSetupper registered the outputs, open
            rec = catalog_db.get_did(conn, DID(h.SCOPE, name))
            assert rec is not None and rec.status is DatasetStatus.OPEN


def test_skip_scout_marks_no_scouts(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 5, NOW)
    task_id = h.submit(db, h.params(skipScout=True), NOW)
    h.feed(db, task_id, NOW)
    assert not any(r.is_scout for r in h.rows(db, h.datasets(db, task_id)["input"].dataset_id))


def test_files_bigger_than_n_events_per_job_are_cut_into_event_ranges(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 2, NOW, events=100)
    task_id = h.submit(db, h.params(nEventsPerJob=30), NOW)
    h.feed(db, task_id, NOW)
    rows = h.rows(db, h.datasets(db, task_id)["input"].dataset_id)
    assert [(r.lfn[-11:], r.chunk, r.start_event, r.end_event, r.n_events) for r in rows[:4]] == [
        ("000000.root", 0, 0, 29, 30),
        ("000000.root", 1, 30, 59, 30),
        ("000000.root", 2, 60, 89, 30),
        ("000000.root", 3, 90, 99, 10),
    ]
    assert len(rows) == 8 and h.datasets(db, task_id)["input"].n_events == 200


def test_no_input_task_gets_pseudo_rows(db: Database) -> None:
    h.grid(db, NOW)
    raw = h.params(noInput=True, nEvents=1000, nEventsPerJob=300)
    raw["jobParameters"] = [raw["jobParameters"][0], raw["jobParameters"][2]]  # no input item
    task_id = h.submit(db, raw, NOW)
    h.feed(db, task_id, NOW)
    master = h.datasets(db, task_id)["pseudo_input"]
    rows = h.rows(db, master.dataset_id)
    assert [(r.start_event, r.end_event) for r in rows] == [(0, 299), (300, 599), (600, 899), (900, 999)]
    assert h.task(db, task_id).status is TaskStatus.READY and master.n_files == 4


def test_refeeding_is_idempotent(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 12, NOW)
    task_id = h.submit(db, h.params(), NOW)
    # a step stored, then the agent "died": a new pass starts from scratch
    with db.write() as conn:
        feed_step(conn, task_id, NOW, 5, FeedCursor(), FeedSettings())
    cursor = h.feed(db, task_id, NOW)
    assert cursor.fed == 7
    ds = h.datasets(db, task_id)["input"]
    rows = h.rows(db, ds.dataset_id)
    assert len(rows) == 12 and ds.n_files == 12
    # inserting the same rows again adds nothing and leaves the counters
    again = [NewTaskFile(task_id, ds.dataset_id, r.scope, r.lfn, TaskFileStatus.READY) for r in rows[:3]]
    with db.write() as conn:
        assert lifecycle_taskfiles.add_files(conn, again, NOW) == 0
    assert h.datasets(db, task_id)["input"].n_files == 12


def test_missing_input_breaks_the_task_and_an_empty_one_holds_it(db: Database) -> None:
    h.grid(db, NOW)
    missing = h.submit(db, h.params("nothere"), NOW)
    h.dataset(db, "empty", 0, NOW)
    empty = h.submit(db, h.params("empty"), NOW)
    assert h.feed(db, missing, NOW).outcome.startswith("broken")
    assert h.feed(db, empty, NOW).outcome.startswith("pending")
    broken, held = h.task(db, missing), h.task(db, empty)
    assert broken.status is TaskStatus.BROKEN
    assert broken.error_dialog == f"input dataset {h.SCOPE}:nothere does not exist"
    assert h.datasets(db, missing)["input"].status is TaskDatasetStatus.BROKEN
    assert (
        held.status is TaskStatus.PENDING and held.error_dialog == f"input dataset {h.SCOPE}:empty is empty"
    )
    assert held.old_status is TaskStatus.DEFINED  # the watchdog restores it and it is fed again


def test_child_task_feeds_its_parents_growing_output(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "gen", 3, NOW)
    parent = h.submit(db, h.params("gen"), NOW)
    child = h.submit(db, h.params("out.gen", parent_tid=parent), NOW, parent_mutable=True)
    # the parent's output does not exist yet: the child waits, still defined
    waiting = f"waiting: parent task {parent} has produced no input file yet"
    assert h.feed(db, child, NOW).outcome == waiting
    assert h.task(db, child).status is TaskStatus.DEFINED
    h.feed(db, parent, NOW)  # creates out.gen (empty): still nothing to read
    assert h.feed(db, child, NOW).outcome == waiting
    h.dataset(db, "out.gen", 4, NOW)  # the parent's jobs produce files
    assert h.feed(db, child, NOW).outcome == "ready"
    assert h.task(db, child).status is TaskStatus.READY
    with db.read() as conn:  # the feeder's agent keeps coming back to it
        assert child in feeder.tasks_to_feed(conn, 50)
    h.dataset(db, "out.gen", 2, NOW, start=4)
    h.feed(db, child, NOW)
    ds = h.datasets(db, child)["input"]
    assert ds.mutable and ds.n_files == 6 and len(h.rows(db, ds.dataset_id)) == 6
    # closed in the catalog and the parent final: no more feeding
    with db.write() as conn:
        catalog.set_status(conn, [DID(h.SCOPE, "out.gen")], DatasetStatus.CLOSED, NOW)
        lifecycle_tasks.transition_task(conn, parent, TaskStatus.PREPARED, NOW)
        lifecycle_tasks.transition_task(conn, parent, TaskStatus.DONE, NOW)
    assert h.feed(db, child, NOW).mutable_closed == [f"{h.SCOPE}:out.gen"]
    assert not h.datasets(db, child)["input"].mutable


def test_a_big_input_starts_after_its_first_chunk_and_the_task_ends_only_once_all_is_loaded(
    db: Database,
) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 12, NOW)
    task_id = h.submit(db, h.params(skipScout=True, nFilesPerJob=1), NOW)
    cursor, settings = FeedCursor(), FeedSettings(first_chunk=5)
    for _ in range(3):
        with db.write() as conn:
            feed_step(conn, task_id, NOW, 3, cursor, settings)  # 3, then 2 more: the first chunk
    assert (cursor.done, cursor.outcome, cursor.fed) == (True, "ready", 5)
    master = h.datasets(db, task_id)["input"]
    assert (master.status, master.n_files) == (TaskDatasetStatus.TOUPDATE, 5)
    with db.read() as conn:
        assert tasks_db.history(conn, task_id)[-1].reason == (
            "5 input rows fed; the rest is loaded while its jobs run"
        )
        assert task_id in feeder.tasks_to_feed(conn, 50)  # the rest comes in later passes
    h.generate(db, task_id, NOW)
    assert h.run_pilots(db, NOW) == 5
    with db.write() as conn:  # every fed file is done, but not all are loaded: not prepared
        postprocessor.postprocess(conn, NOW, 10)
    assert h.task(db, task_id).status is TaskStatus.RUNNING
    assert h.feed(db, task_id, NOW).loaded == [f"{h.SCOPE}:in"]
    master = h.datasets(db, task_id)["input"]
    assert (master.status, master.n_files) == (TaskDatasetStatus.READY, 12)
    with db.read() as conn:
        assert task_id not in feeder.tasks_to_feed(conn, 50)
    h.generate(db, task_id, NOW)
    assert h.run_pilots(db, NOW) == 7
    with db.write() as conn:
        postprocessor.postprocess(conn, NOW, 10)
    assert h.task(db, task_id).status is TaskStatus.DONE

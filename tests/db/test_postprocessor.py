"""The PostProcessor: a task whose master input files are all final and which has no active job gets
done / finished / failed by the §2.2 rule, with an error dialog, its outputs closed in the catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection

from pandawms.core.data import DID, DIDType
from pandawms.core.states import DatasetStatus, JobStatus
from pandawms.core.tasks import TaskDatasetStatus, TaskFileStatus, TaskStatus
from pandawms.db import catalog as catalog_db
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.services import catalog, lifecycle_tasks, postprocessor
from tests.conftest import DEFAULT_QUEUES, add_queues
from tests.db.task_control_helpers import (
    SCOPE,
    TaskIds,
    add_rows,
    dispatch,
    drive,
    end_job,
    new_task,
    task_jobs,
)

NOW = datetime(2026, 12, 2, 8, 0, 0)
T = TaskStatus
F = TaskFileStatus


def _task(conn: Connection, rows: list[tuple[str, TaskFileStatus]], **spec: Any) -> TaskIds:
    ids = new_task(conn, NOW, **spec)
    drive(conn, ids.task_id, T.RUNNING, NOW)
    add_rows(conn, ids.task_id, ids.input_id, rows, NOW)
    return ids


def _after(conn: Connection, task_id: int) -> tuple[TaskStatus, str]:
    postprocessor.postprocess(conn, NOW, 100)
    task = tasks_db.get_task(conn, task_id)
    assert task is not None
    return task.status, task.error_dialog


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("a", F.FINISHED), ("b", F.FINISHED)], (T.DONE, "")),
        (
            [("a", F.FINISHED), ("b", F.FAILED), ("c", F.FINISHED)],
            (T.FINISHED, "1 of 3 input files failed: b"),
        ),
        ([("a", F.FAILED), ("b", F.FAILED)], (T.FAILED, "2 of 2 input files failed: a, b")),
        ([("a", F.FINISHED), ("b", F.READY)], (T.RUNNING, "")),  # b can still run
        ([("a", F.FINISHED), ("b", F.PICKED)], (T.RUNNING, "")),
        ([("a", F.FINISHED), ("b", F.RUNNING)], (T.RUNNING, "")),
        ([("a", F.FINISHED), ("b", F.BROKEN)], (T.FINISHED, "1 of 2 input files failed: b")),
    ],
)
def test_final_status_by_the_rule(
    db: Database, rows: list[tuple[str, TaskFileStatus]], expected: tuple[TaskStatus, str]
) -> None:
    with db.write() as conn:
        ids = _task(conn, rows)
        assert _after(conn, ids.task_id) == expected


def test_done_closes_outputs_and_marks_the_datasets_done(db: Database) -> None:
    with db.write() as conn:
        catalog.add_scope(conn, SCOPE, "alice", NOW)
        catalog.add_dids(
            conn, [(DID(SCOPE, "t1.out"), DIDType.DATASET)], NOW
        )  # the log is not in the catalog
        ids = _task(conn, [("a", F.FINISHED)])
        status, _ = _after(conn, ids.task_id)
        history = tasks_db.history(conn, ids.task_id)
        out = catalog_db.get_did(conn, DID(SCOPE, "t1.out"))
        sets = {d.status for d in tasks_db.datasets_of(conn, ids.task_id)}
        reopened = postprocessor.reopen_outputs(conn, ids.task_id, NOW)
        out_again = catalog_db.get_did(conn, DID(SCOPE, "t1.out"))
        sets_again = {d.status for d in tasks_db.datasets_of(conn, ids.task_id)}
    assert status is T.DONE
    assert [(h.status, h.reason) for h in history][-2:] == [
        ("prepared", "every input file is final"),
        ("done", "all 1 input files finished"),
    ]
    assert out is not None and out.status is DatasetStatus.CLOSED
    assert sets == {TaskDatasetStatus.DONE}
    assert reopened == 1 and out_again is not None and out_again.status is DatasetStatus.OPEN
    assert sets_again == {TaskDatasetStatus.READY}


def test_rows_without_attempts_left_count_as_failed(db: Database) -> None:
    with db.write() as conn:
        ids = new_task(conn, NOW)
        drive(conn, ids.task_id, T.RUNNING, NOW)
        add_rows(conn, ids.task_id, ids.input_id, [("a", F.FINISHED)], NOW)
        add_rows(conn, ids.task_id, ids.input_id, [("b", F.READY)], NOW, attempt_nr=3, max_attempt=3)
        assert _after(conn, ids.task_id) == (T.FINISHED, "1 of 2 input files failed: b")


def test_a_file_is_finished_only_when_every_chunk_is(db: Database) -> None:
    with db.write() as conn:
        ids = new_task(conn, NOW)
        drive(conn, ids.task_id, T.RUNNING, NOW)
        add_rows(conn, ids.task_id, ids.input_id, [("a", F.FINISHED), ("b", F.FINISHED)], NOW, chunk=0)
        add_rows(conn, ids.task_id, ids.input_id, [("a", F.FINISHED), ("b", F.FAILED)], NOW, chunk=1)
        assert _after(conn, ids.task_id) == (T.FINISHED, "1 of 2 input files failed: b")


def test_an_active_job_or_an_open_input_keeps_the_task_running(db: Database) -> None:
    add_queues(db, DEFAULT_QUEUES, NOW)
    with db.write() as conn:
        ids = _task(conn, [("a", F.FINISHED)])
        [job] = task_jobs(conn, ids.task_id, 1, NOW)
        dispatch(conn, job, NOW)
        busy = _after(conn, ids.task_id)
        end_job(conn, job, JobStatus.FAILED, NOW, diag="oops")
        done = _after(conn, ids.task_id)
        child = _task(conn, [("a", F.FINISHED)], name="t2")
        tasks_db.update_dataset(conn, child.input_id, NOW, {"mutable": True})
        still_open = _after(conn, child.task_id)
    assert busy == (T.RUNNING, "") and done == (T.DONE, "")
    assert still_open == (T.RUNNING, "")


def test_goal_and_parent(db: Database) -> None:
    with db.write() as conn:
        rows = [("a", F.FINISHED), ("b", F.FINISHED), ("c", F.FAILED)]
        missed = _task(conn, rows, name="goal", goal=900, split_rule="FG=1")
        kept = _task(conn, rows, name="nogoal", goal=900)
        parent = new_task(conn, NOW, name="parent").task_id
        drive(conn, parent, T.RUNNING, NOW)
        child = _task(conn, [("a", F.FINISHED)], name="child", parent_task_id=parent)
        assert _after(conn, missed.task_id)[0] is T.FAILED
        assert _after(conn, kept.task_id)[0] is T.FINISHED
        assert _after(conn, child.task_id) == (T.RUNNING, "")  # a child ends after its parent
        for status in (T.PREPARED, T.FINISHED):
            assert lifecycle_tasks.transition_task(conn, parent, status, NOW, "test").accepted
        assert _after(conn, child.task_id) == (
            T.FINISHED,
            "all 1 input files finished; the parent task is not done",
        )


def test_a_task_moved_on_meanwhile_is_left_alone(db: Database) -> None:
    with db.write() as conn:
        ids = _task(conn, [("a", F.FINISHED)])
        lifecycle_tasks.transition_task(conn, ids.task_id, T.PAUSED, NOW, "paused")
        assert _after(conn, ids.task_id) == (T.PAUSED, "paused")

"""The task status writer: table, history, saved status for pending/paused, compare-and-set."""

from __future__ import annotations

from datetime import datetime

import pytest

from pandawms.core.errors import NotFound
from pandawms.core.tasks import TaskDatasetStatus, TaskDatasetType, TaskStatus
from pandawms.core.taskspecs import NewTaskDataset, TaskSpec
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.services import lifecycle_tasks as lt
from pandawms.services.lifecycle_tasks import TaskOutcome

NOW = datetime(2026, 12, 2, 8, 0, 0)
T = TaskStatus


def _task(db: Database) -> int:
    spec = TaskSpec(task_name="t1", user_name="alice", transformation="run.sh", included_sites=("A", "B"))
    sets = [
        NewTaskDataset(TaskDatasetType.INPUT, "user.alice", "in"),
        NewTaskDataset(TaskDatasetType.OUTPUT, "user.alice", "out", template="out.${SN}.root"),
    ]
    with db.write() as conn:
        return lt.create_task(conn, spec, '{"taskName": "t1"}', sets, NOW)


def test_create_and_read_back(db: Database) -> None:
    task_id = _task(db)
    with db.write() as conn:
        task = tasks_db.get_task(conn, task_id)
        sets = tasks_db.datasets_of(conn, task_id)
        assert tasks_db.get_params(conn, task_id) == '{"taskName": "t1"}'
    assert task is not None and task.status is T.REGISTERED
    assert task.spec.included_sites == ("A", "B") and task.current_priority == 1000
    assert [(d.type, d.status, d.template) for d in sets] == [
        (TaskDatasetType.INPUT, TaskDatasetStatus.DEFINED, ""),
        (TaskDatasetType.OUTPUT, TaskDatasetStatus.DEFINED, "out.${SN}.root"),
    ]


def test_main_line_with_history_and_refusals(db: Database) -> None:
    task_id = _task(db)
    with db.write() as conn:
        for target in (T.DEFINED, T.READY, T.RUNNING):
            assert lt.transition_task(conn, task_id, target, NOW, f"to {target}").accepted
        again = lt.transition_task(conn, task_id, T.RUNNING, NOW)
        refused = lt.transition_task(conn, task_id, T.DONE, NOW)
        narrowed = lt.transition_task(conn, task_id, T.PREPARED, NOW, only_from=frozenset({T.READY}))
        history = tasks_db.history(conn, task_id)
        task = tasks_db.get_task(conn, task_id)
    assert again.outcome is TaskOutcome.NOOP
    assert refused.outcome is TaskOutcome.REJECTED and "cannot become done" in refused.reason
    assert narrowed.outcome is TaskOutcome.REJECTED and refused.status is T.RUNNING
    assert [(h.previous_status, h.status) for h in history] == [
        ("", "registered"),
        ("registered", "defined"),
        ("defined", "ready"),
        ("ready", "running"),
    ]
    assert task is not None and task.start_time == NOW


def test_pause_and_pending_restore_the_saved_status(db: Database) -> None:
    task_id = _task(db)
    with db.write() as conn:
        for target in (T.DEFINED, T.READY, T.SCOUTING):
            lt.transition_task(conn, task_id, target, NOW)
        assert lt.transition_task(conn, task_id, T.PENDING, NOW, "no queue found").accepted
        assert lt.transition_task(conn, task_id, T.PAUSED, NOW, "paused by alice").accepted
        paused = tasks_db.get_task(conn, task_id)
        back = lt.transition_task(conn, task_id, T.READY, NOW, restore=True)
        restored = tasks_db.get_task(conn, task_id)
    assert paused is not None and paused.old_status is T.SCOUTING
    assert back.status is T.SCOUTING
    assert restored is not None and restored.old_status is None and restored.error_dialog == "paused by alice"


def test_final_state_stamps_end_and_datasets_follow_their_table(db: Database) -> None:
    task_id = _task(db)
    with db.write() as conn:
        for target in (T.DEFINED, T.READY, T.RUNNING, T.PREPARED, T.DONE):
            lt.transition_task(conn, task_id, target, NOW)
        ds = tasks_db.datasets_of(conn, task_id)[0]
        assert (
            lt.transition_dataset(conn, ds.dataset_id, TaskDatasetStatus.READY, NOW) is TaskOutcome.ACCEPTED
        )
        assert lt.transition_dataset(conn, ds.dataset_id, TaskDatasetStatus.READY, NOW) is TaskOutcome.NOOP
        assert (
            lt.transition_dataset(conn, ds.dataset_id, TaskDatasetStatus.DEFINED, NOW) is TaskOutcome.REJECTED
        )
        task = tasks_db.get_task(conn, task_id)
        with pytest.raises(NotFound):
            lt.transition_task(conn, 999_999, T.DEFINED, NOW)
    assert task is not None and task.status is T.DONE and task.end_time == NOW

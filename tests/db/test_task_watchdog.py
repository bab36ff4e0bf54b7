"""The task WatchDog on a frozen clock: pending tasks go back to where they were after pending_wait and
become exhausted after pending_timeout counted over restores; other tasks are left alone."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from pandawms.agents.jedi_control import control_settings, jedi_control_agents
from pandawms.config import JediConfig
from pandawms.core.tasks import TaskFileStatus, TaskStatus
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.db.schema import task_files
from pandawms.db.tasks import TaskHistoryEntry
from pandawms.services import lifecycle_tasks, task_watchdog
from pandawms.services.task_watchdog import WatchdogTimes, pending_since
from tests.conftest import FrozenClock
from tests.db.task_control_helpers import add_rows, drive, new_task

T = TaskStatus
F = TaskFileStatus
TIMES = WatchdogTimes(pending_wait=timedelta(hours=1), pending_timeout=timedelta(hours=3))


def _status(db: Database, task_id: int) -> TaskStatus:
    with db.read() as conn:
        task = tasks_db.get_task(conn, task_id)
    assert task is not None
    return task.status


def _watch(db: Database, clock: FrozenClock) -> int:
    with db.write() as conn:
        return task_watchdog.watch_pending(conn, clock(), TIMES, 100).moved


def _hold(db: Database, task_id: int, clock: FrozenClock) -> None:
    with db.write() as conn:
        moved = lifecycle_tasks.transition_task(conn, task_id, T.PENDING, clock(), "no queue found")
        assert moved.accepted


def test_pending_is_retried_after_the_wait_and_exhausted_after_the_timeout(
    db: Database, clock: FrozenClock
) -> None:
    with db.write() as conn:
        task_id = new_task(conn, clock()).task_id
        drive(conn, task_id, T.RUNNING, clock())
        other = new_task(conn, clock(), name="t2").task_id
        drive(conn, other, T.RUNNING, clock())
    start = clock()
    _hold(db, task_id, clock)
    clock.advance(minutes=59)
    assert _watch(db, clock) == 0 and _status(db, task_id) is T.PENDING
    for _cycle in range(2):  # restored, and held again by the generator a minute later
        clock.advance(minutes=2)
        assert _watch(db, clock) == 1 and _status(db, task_id) is T.RUNNING
        clock.advance(minutes=1)
        _hold(db, task_id, clock)
        clock.advance(minutes=59)
    clock.advance(minutes=2)  # 3 h 7 min since it first went pending
    assert _watch(db, clock) == 1
    with db.read() as conn:
        task = tasks_db.get_task(conn, task_id)
        reasons = [h.reason for h in tasks_db.history(conn, task_id)]
    assert task is not None and task.status is T.EXHAUSTED
    assert task.error_dialog == f"pending since {start:%Y-%m-%d %H:%M} (3 h): no queue found"
    assert reasons[-3] == "pending for 61 min, trying again (no queue found)"
    assert _status(db, other) is T.RUNNING


def _h(status: T, previous: T, minute: int, reason: str = "") -> TaskHistoryEntry:
    return TaskHistoryEntry(1, status.value, previous.value, datetime(2026, 1, 1, 0, minute), reason)


def test_pending_since_follows_only_watchdog_restores() -> None:
    restore = "pending for 60 min, trying again (x)"
    streak = [
        _h(T.RUNNING, T.READY, 0),
        _h(T.PENDING, T.RUNNING, 1),
        _h(T.RUNNING, T.PENDING, 2, restore),
        _h(T.PENDING, T.RUNNING, 3),
    ]
    assert pending_since(streak) == datetime(2026, 1, 1, 0, 1)
    resumed = [*streak[:2], _h(T.RUNNING, T.PENDING, 2, "resumed by alice"), streak[3]]
    assert pending_since(resumed) == datetime(2026, 1, 1, 0, 3)
    assert pending_since(streak[:3]) is None  # not pending now
    assert pending_since([]) is None


def test_the_watchdog_agent_rescues_rows_stuck_picked(db: Database, clock: FrozenClock) -> None:
    config = JediConfig(pending_wait=600, pending_timeout=3600, picked_rescue=1800, command_interval=2)
    settings = control_settings(config)
    assert settings.commando_interval == 2 and settings.times.pending_wait == timedelta(minutes=10)
    [agent] = [a for a in jedi_control_agents(db, settings) if a.name == "task_watchdog"]
    with db.write() as conn:
        ids = new_task(conn, clock())
        drive(conn, ids.task_id, T.RUNNING, clock())
        add_rows(conn, ids.task_id, ids.input_id, [("a", F.PICKED), ("b", F.READY)], clock())
    clock.advance(minutes=29)
    assert agent.run_once(clock()) == 0
    clock.advance(minutes=2)
    assert agent.run_once(clock()) == 1
    with db.read() as conn:
        statuses = conn.execute(
            select(task_files.c.lfn, task_files.c.status).order_by(task_files.c.lfn)
        ).all()
    assert [tuple(r) for r in statuses] == [("a", "ready"), ("b", "ready")]

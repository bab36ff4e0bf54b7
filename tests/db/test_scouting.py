"""Scout evaluation: the scouts' measured wall time, CPU, memory and output size become the task's
cpuTime, ramCount and outDiskCount (scheduling.md §6 formulas) and the task is scouted; too few
successes make it broken with the most common error; too few ended scouts leave it scouting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, update

from pandawms.core.ids import PandaID
from pandawms.core.states import JobStatus
from pandawms.core.tasks import TaskStatus
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.db.schema import job_files
from pandawms.services import scouting
from pandawms.services.scouting import ScoutPolicy
from tests.conftest import DEFAULT_QUEUES, add_queues
from tests.db.task_control_helpers import (
    dispatch,
    drive,
    end_job,
    job_status,
    new_task,
    set_metrics,
    task_jobs,
)

NOW = datetime(2026, 12, 2, 8, 0, 0)
T = TaskStatus


@pytest.fixture
def queues(db: Database) -> Database:
    add_queues(db, DEFAULT_QUEUES, NOW)
    return db


def _scouting_task(conn: Connection, n_scouts: int, **spec: Any) -> tuple[int, list[PandaID]]:
    task_id = new_task(conn, NOW, base_walltime=600, cpu_efficiency=90, **spec).task_id
    drive(conn, task_id, T.SCOUTING, NOW)
    tasks_db.update_task(conn, task_id, NOW, {"scout_jobs": n_scouts})
    ids = task_jobs(conn, task_id, n_scouts, NOW, special="sj")
    for pid in ids:
        dispatch(conn, pid, NOW)
    return task_id, ids


def _succeed(conn: Connection, pid: int, wall_s: int, events: int, pss_kb: int, out_bytes: int) -> None:
    end_job(conn, pid, JobStatus.FINISHED, NOW)
    set_metrics(
        conn,
        pid,
        start_time=NOW,
        end_time=NOW + timedelta(seconds=wall_s),
        cpu_consumption_time=wall_s - 60,
        n_events=events,
        max_pss=pss_kb,
    )
    conn.execute(
        update(job_files)
        .where(job_files.c.panda_id == pid, job_files.c.type == "output")
        .values(fsize=out_bytes)
    )


def test_scouts_measure_the_task(queues: Database) -> None:
    with queues.write() as conn:
        task_id, (a, b, c) = _scouting_task(conn, 3)
        _succeed(conn, a, wall_s=3600, events=100, pss_kb=2000 * 1024, out_bytes=1_000_000)
        _succeed(conn, b, wall_s=1600, events=100, pss_kb=1000 * 1024, out_bytes=500_000)
        end_job(conn, c, JobStatus.FAILED, NOW, diag="segfault")
        batch = scouting.evaluate_scouts(conn, NOW, ScoutPolicy(), 10)
        task = tasks_db.get_task(conn, task_id)
        reason = tasks_db.history(conn, task_id)[-1].reason
    assert batch.moved == 1
    assert task is not None and task.status is T.SCOUTED
    # cpuTime = max(0, wall - 600) x 10 HS06 x 1 core x 0.9 x 1.5 / events, 95th percentile: the 3600 s scout
    assert task.spec.cpu_time == pytest.approx((3600 - 600) * 10 * 0.9 * 1.5 / 100)
    # ramCount = maxPSS MB / cores x 1.1, 75th percentile of (1100, 2200): 2200
    assert task.spec.ram_count == 2200
    assert task.spec.out_disk_count == 10_000  # bytes per event, 75th percentile of (5000, 10000)
    assert reason.startswith("2/3 scout jobs succeeded; from 2 scout(s), cpuTime 405 HS06s/event")
    assert "ramCount 2200 MB/core, outDiskCount 10000 B/event" in reason


def test_too_few_successes_break_the_task_and_kill_its_jobs(queues: Database) -> None:
    with queues.write() as conn:
        task_id, (a, b, c, d) = _scouting_task(conn, 4)
        end_job(conn, a, JobStatus.FAILED, NOW, diag="bad input")
        end_job(conn, b, JobStatus.FAILED, NOW, diag="bad input")
        _succeed(conn, c, wall_s=700, events=10, pss_kb=1024, out_bytes=10)
        scouting.evaluate_scouts(conn, NOW, ScoutPolicy(), 10)
        task = tasks_db.get_task(conn, task_id)
        history = [h.status for h in tasks_db.history(conn, task_id)]
        left = job_status(conn, d)
    assert task is not None and task.status is T.BROKEN
    assert task.error_dialog == (
        "not enough scout jobs succeeded (1/3, need 50 %); most common error (2x): pilot 1305: bad input"
    )
    assert history[-2:] == ["tobroken", "broken"]
    assert left == ("running", "tobekilled")


def test_scouting_waits_for_half_of_the_scouts(queues: Database) -> None:
    with queues.write() as conn:
        task_id, (a, *_rest) = _scouting_task(conn, 4)
        _succeed(conn, a, wall_s=700, events=10, pss_kb=1024, out_bytes=10)
        batch = scouting.evaluate_scouts(conn, NOW, ScoutPolicy(), 10)
        task = tasks_db.get_task(conn, task_id)
    assert batch.moved == 0 and task is not None and task.status is T.SCOUTING


def test_the_task_success_rate_applies(queues: Database) -> None:
    with queues.write() as conn:
        task_id, (a, b) = _scouting_task(conn, 2, split_rule="SS=100")
        _succeed(conn, a, wall_s=700, events=10, pss_kb=1024, out_bytes=10)
        end_job(conn, b, JobStatus.FAILED, NOW, diag="oops")
        scouting.evaluate_scouts(conn, NOW, ScoutPolicy(), 10)
        task = tasks_db.get_task(conn, task_id)
    assert task is not None and task.status is T.BROKEN

"""Build tasks for the monitor's task pages: through services.lifecycle_tasks (the task writer), with
task_files rows and jobs inserted directly (the engine that makes them is another module's business)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pandawms.core.specs import ProdSourceLabel
from pandawms.core.tasks import TaskDatasetType, TaskStatus
from pandawms.core.taskspecs import NewTaskDataset, TaskSpec
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.db.jobs import insert_jobs
from pandawms.db.schema import task_datasets, task_files
from pandawms.services import lifecycle_tasks as lt
from tests.db.task_helpers import task_params

T = TaskStatus
SITE = "SMALL"
MAIN_LINE = (T.DEFINED, T.READY, T.SCOUTING, T.SCOUTED, T.RUNNING)


@dataclass(frozen=True)
class TaskWorld:
    task_id: int
    master: int  # dataset id of the master input
    output: int
    scouts: list[int]
    jobs: dict[str, list[int]]  # by status


def new_task(
    conn: Connection,
    now: datetime,
    name: str = "mc23.ttbar.reco",
    *,
    user: str = "alice",
    label: ProdSourceLabel = ProdSourceLabel.MANAGED,
    working_group: str = "AP_TOP",
    path: Sequence[TaskStatus] = MAIN_LINE,
) -> int:
    spec = TaskSpec(
        task_name=name,
        user_name=user,
        transformation="Reco_tf.py",
        prod_source_label=label,
        working_group=working_group,
        processing_type="reco",
    )
    sets = [
        NewTaskDataset(TaskDatasetType.INPUT, "mc23", f"{name}.in"),
        NewTaskDataset(TaskDatasetType.OUTPUT, "mc23", f"{name}.out", template="out.${SN}.root"),
    ]
    params = json.dumps(task_params(name, userName=user))
    task_id = lt.create_task(conn, spec, params, sets, now)
    for target in path:
        assert lt.transition_task(conn, task_id, target, now, f"to {target.value}").accepted
    return task_id


def add_files(
    conn: Connection,
    task_id: int,
    dataset_id: int,
    n: int,
    now: datetime,
    *,
    status: str = "ready",
    **cols: Any,
) -> list[int]:
    """n task_files rows (f.000000.root, ...) of the dataset, returning their file ids."""
    start = int(
        conn.execute(select(task_files.c.file_id).order_by(task_files.c.file_id.desc())).scalar() or 0
    )
    rows = [
        {
            "task_id": task_id,
            "dataset_id": dataset_id,
            "scope": "mc23",
            "lfn": f"f{dataset_id}.{start + i:06d}.root",
            "status": status,
            "creation_time": now,
            "modification_time": now,
            **cols,
        }
        for i in range(n)
    ]
    if rows:
        conn.execute(insert(task_files), rows)
    ids = (
        select(task_files.c.file_id)
        .where(task_files.c.dataset_id == dataset_id)
        .order_by(task_files.c.file_id)
    )
    return [int(i) for i in conn.execute(ids).scalars()][-n:] if n else []


def set_files(conn: Connection, file_ids: Sequence[int], **cols: Any) -> None:
    conn.execute(update(task_files).where(task_files.c.file_id.in_(file_ids)).values(**cols))


def set_counters(conn: Connection, dataset_id: int, **cols: int) -> None:
    conn.execute(update(task_datasets).where(task_datasets.c.dataset_id == dataset_id).values(**cols))


def add_jobs(
    conn: Connection, task_id: int | None, n: int, status: str, now: datetime, **cols: Any
) -> list[int]:
    rows = [
        {
            "job_status": status,
            "task_id": task_id,
            "prod_source_label": "managed",
            "prod_user_name": "alice",
            "transformation": "Reco_tf.py",
            "computing_site": SITE,
            "creation_time": now - timedelta(minutes=40),
            "modification_time": now,
            "state_change_time": now,
            "start_time": now - timedelta(minutes=30),
            "end_time": now if status in ("finished", "failed") else None,
            **cols,
        }
        for _ in range(n)
    ]
    return [int(p) for p in insert_jobs(conn, rows)]


def build_task(db: Database, now: datetime, name: str = "mc23.ttbar.reco") -> TaskWorld:
    """A running task of 20 master files: 3 scouts (2 finished, 1 failed), 10 files finished, 2 failed
    finally (attempt 3 of 3, their last job failed with pilot:1099), 4 running in 2 jobs (1 running, 1
    activated), 4 ready of which 2 retried once."""
    t0 = now - timedelta(hours=6)
    with db.write() as conn:
        task_id = new_task(conn, t0, name)
        master, output = (d.dataset_id for d in tasks_db.datasets_of(conn, task_id))
        scouts = add_jobs(conn, task_id, 2, "finished", t0, special_handling="sj", cpu_consumption_time=600)
        scouts += add_jobs(
            conn,
            task_id,
            1,
            "failed",
            t0,
            special_handling="sj",
            pilot_error_code=1099,
            pilot_error_diag="stage-in failed",
        )
        finished = add_jobs(conn, task_id, 8, "finished", now - timedelta(hours=2))
        failed = add_jobs(
            conn,
            task_id,
            4,
            "failed",
            now - timedelta(hours=1),
            pilot_error_code=1099,
            pilot_error_diag="stage-in of f.root failed",
        )
        failed += add_jobs(conn, task_id, 1, "failed", now - timedelta(hours=1), exe_error_code=65)
        running = add_jobs(conn, task_id, 1, "running", now)
        queued = add_jobs(conn, task_id, 1, "activated", now)
        done = add_files(conn, task_id, master, 10, now - timedelta(hours=2), status="finished", attempt_nr=1)
        for i, fid in enumerate(done):
            set_files(conn, [fid], panda_id=(scouts[:2] + finished)[i % 10])
        bad = add_files(conn, task_id, master, 2, now - timedelta(hours=1), status="failed", attempt_nr=3)
        set_files(conn, bad, panda_id=failed[0], max_attempt=3)
        in_use = add_files(conn, task_id, master, 4, now, status="running", attempt_nr=1)
        set_files(conn, in_use[:2], panda_id=running[0])
        set_files(conn, in_use[2:], panda_id=queued[0])
        add_files(conn, task_id, master, 2, now, status="ready", attempt_nr=0)
        add_files(conn, task_id, master, 2, now, status="ready", attempt_nr=1)
        add_files(conn, task_id, output, 10, now, status="finished")
        set_counters(conn, master, n_files=20, n_files_used=16, n_files_finished=10, n_files_failed=2)
        tasks_db.update_task(
            conn, task_id, now, {"cpu_time": 12.5, "ram_count": 1800, "out_disk_count": 2000}
        )
    jobs = {"finished": scouts[:2] + finished, "failed": scouts[2:] + failed, "running": running}
    return TaskWorld(task_id, master, output, scouts, jobs | {"activated": queued})

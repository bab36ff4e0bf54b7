"""The JobGenerator: scouts first, then the task's split rules; rendered templates; jobs in the lifecycle
with their files; rows running with their PandaID; throttle; pending when no queue can run the task."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pandawms.core.states import JobStatus
from pandawms.core.tasks import TaskFileStatus, TaskStatus
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.services import lifecycle_tasks
from tests.db import jedi_helpers as h

NOW = datetime(2026, 12, 2, 8, 0, 0)
F = TaskFileStatus


def _ready_task(db: Database, n_files: int = 25, **kw: Any) -> int:
    h.grid(db, NOW)
    h.dataset(db, "in", n_files, NOW)
    task_id = h.submit(db, h.params(**kw), NOW)
    h.feed(db, task_id, NOW)
    return task_id


def test_scouts_first_one_file_each_then_nothing_until_scouted(db: Database) -> None:
    task_id = _ready_task(db, nFilesPerJob=2, taskPriority=850)
    [bunch] = h.generate(db, task_id, NOW)
    assert (bunch.jobs, bunch.scouts, bunch.status) == (10, 10, "scouting")
    jobs = h.task_jobs(db, task_id)
    assert len(jobs) == 10
    assert {(j.spec.special_handling, j.spec.current_priority, j.status) for j in jobs} == {
        ("sj", 901, JobStatus.ACTIVATED)  # max(901, taskPriority + 1)
    }
    assert all(len([f for f in j.files if f.type.value == "input"]) == 1 for j in jobs)
    t = h.task(db, task_id)
    assert t.status is TaskStatus.SCOUTING and t.scout_jobs == 10
    assert h.generate(db, task_id, NOW) == []  # waits for the scout evaluation
    sets = h.datasets(db, task_id)
    rows = h.rows(db, sets["input"].dataset_id)
    by_job = {r.panda_id: r for r in rows if r.status is F.RUNNING}
    assert set(by_job) == {j.panda_id for j in jobs} and all(by_job[j].is_scout for j in by_job)
    assert sets["input"].n_files_used == 10
    outs = h.rows(db, sets["output"].dataset_id) + h.rows(db, sets["log"].dataset_id)
    assert len(outs) == 20 and {(o.status, o.panda_id in by_job) for o in outs} == {(F.RUNNING, True)}


def test_after_scouting_the_split_rules_and_templates_apply(db: Database) -> None:
    task_id = _ready_task(db, nFilesPerJob=2)
    h.generate(db, task_id, NOW)
    with db.write() as conn:  # the control engineer's scout evaluation
        lifecycle_tasks.transition_task(conn, task_id, TaskStatus.SCOUTED, NOW, "scouts measured")
    [bunch] = h.generate(db, task_id, NOW)
    assert (bunch.jobs, bunch.files, bunch.status) == (8, 15, "running")
    assert h.task(db, task_id).status is TaskStatus.RUNNING
    jobs = sorted(h.task_jobs(db, task_id), key=lambda j: j.panda_id)[10:]
    first = jobs[0]
    assert first.spec.special_handling == "" and first.spec.current_priority == 1000
    assert first.spec.job_parameters == (
        f"python3 ana.py -i in.000010.root,in.000011.root out.{task_id}._000011.root"
    )
    assert [(f.type.value, f.lfn, f.dataset) for f in first.files] == [
        ("input", "in.000010.root", f"{h.SCOPE}:in"),
        ("input", "in.000011.root", f"{h.SCOPE}:in"),
        ("output", f"out.{task_id}._000011.root", f"{h.SCOPE}:out.in"),
        ("log", f"log.{task_id}._000011.tgz", f"{h.SCOPE}:log.in"),
    ]
    assert first.spec.max_attempt == first.attempt_nr == 1 and first.spec.task_id == task_id
    assert len(jobs[-1].files) == 3  # the last job: one file left
    sets = h.datasets(db, task_id)
    assert sets["output"].next_serial == 19 and h.by_status(db, sets["input"].dataset_id) == {"running": 25}


def test_skip_scout_runs_at_once_with_resources_from_the_task(db: Database) -> None:
    task_id = _ready_task(db, 6, skipScout=True, nFilesPerJob=3, coreCount=2, ramCount=1500)
    [bunch] = h.generate(db, task_id, NOW)
    assert (bunch.jobs, bunch.status) == (2, "running")
    job = h.task_jobs(db, task_id)[0]
    assert (job.spec.resources.memory, job.spec.resources.cores) == (3000, 2)
    assert job.computing_site == h.QUEUE


def test_throttle_keeps_queued_jobs_under_the_limit(db: Database) -> None:
    task_id = _ready_task(db, 20, skipScout=True, nFilesPerJob=1)
    bunches = h.generate(db, task_id, NOW, queue_limit=3)
    assert sum(b.jobs for b in bunches) == 3
    assert h.generate(db, task_id, NOW, queue_limit=3) == []  # a new cycle: still 3 queued
    assert h.by_status(db, h.datasets(db, task_id)["input"].dataset_id) == {"running": 3, "ready": 17}


def test_pending_with_the_reason_when_no_queue_can_run_the_task(db: Database) -> None:
    task_id = _ready_task(db, 4, skipScout=True, includedSite=["NOWHERE"])
    [bunch] = h.generate(db, task_id, NOW)
    assert bunch.jobs == 0 and bunch.status.startswith("pending")
    t = h.task(db, task_id)
    assert t.status is TaskStatus.PENDING and "SITE_A: not in included_sites (NOWHERE)" in t.error_dialog
    assert h.task_jobs(db, task_id) == []
    assert h.by_status(db, h.datasets(db, task_id)["input"].dataset_id) == {"ready": 4}


def test_jobs_brokerage_refuses_leave_the_rows_ready_uncharged(db: Database) -> None:
    # the task fits the queue, its job does not (walltime from nEvents x cpuTime): hopeless at brokerage
    task_id = _ready_task(db, 2, skipScout=True, nFilesPerJob=2, walltime=200_000)
    [bunch] = h.generate(db, task_id, NOW)
    assert bunch.status.startswith("pending: brokerage") and "walltime 200000 s exceeds" in bunch.status
    rows = h.rows(db, h.datasets(db, task_id)["input"].dataset_id)
    assert {(r.status, r.attempt_nr) for r in rows} == {(F.READY, 0)}
    [job] = h.task_jobs(db, task_id)
    assert job.status is JobStatus.FAILED


def test_a_final_task_gets_no_jobs(db: Database) -> None:
    task_id = _ready_task(db, 3, skipScout=True)
    with db.write() as conn:
        lifecycle_tasks.transition_task(conn, task_id, TaskStatus.ABORTING, NOW, "killed")
        assert tasks_db.get_task(conn, task_id) is not None
    assert h.generate(db, task_id, NOW) == []

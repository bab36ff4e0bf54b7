"""Job end -> file-centric retries (states.md §4): through the job writer's hook, in its transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pandawms.core.changes import JobError
from pandawms.core.specs import ErrorComponent
from pandawms.core.states import JobStatus
from pandawms.core.tasks import TaskFileStatus, TaskStatus
from pandawms.db import task_files as tf_db
from pandawms.db.engine import Database
from pandawms.protocol.actions import ActionOutcome
from pandawms.services import control, lifecycle_taskfiles
from tests.db import jedi_helpers as h

NOW = datetime(2026, 12, 2, 8, 0, 0)
F = TaskFileStatus


def _running_task(db: Database, n_files: int = 2, **kw: Any) -> tuple[int, int]:
    """A skipScout task with one job per file generated; returns (task id, master dataset id)."""
    h.grid(db, NOW)
    h.dataset(db, "in", n_files, NOW)
    task_id = h.submit(db, h.params(skipScout=True, nFilesPerJob=1, **kw), NOW)
    h.feed(db, task_id, NOW)
    h.generate(db, task_id, NOW)
    return task_id, h.datasets(db, task_id)["input"].dataset_id


def _job_of(db: Database, task_id: int, lfn: str) -> int:
    jobs = [j for j in h.task_jobs(db, task_id) if j.status not in (JobStatus.FAILED, JobStatus.CLOSED)]
    return next(j.panda_id for j in jobs if any(f.lfn == lfn for f in j.files))


def test_finished_job_finishes_its_files_and_outputs(db: Database) -> None:
    task_id, master = _running_task(db)
    pid = _job_of(db, task_id, "in.000000.root")
    h.end_job(db, pid, JobStatus.FINISHED, NOW)
    rows = {r.lfn: r for r in h.rows(db, master)}
    assert rows["in.000000.root"].status is F.FINISHED and rows["in.000001.root"].status is F.RUNNING
    sets = h.datasets(db, task_id)
    assert (sets["input"].n_files_finished, sets["input"].n_files_used) == (1, 2)
    assert {r.status for r in h.rows(db, sets["output"].dataset_id) if r.panda_id == pid} == {F.FINISHED}
    assert sets["output"].n_files_finished == 1 and sets["log"].n_files_finished == 1


def test_failed_job_returns_its_files_and_a_new_job_takes_them(db: Database) -> None:
    task_id, master = _running_task(db)
    pid = _job_of(db, task_id, "in.000000.root")
    h.end_job(db, pid, JobStatus.FAILED, NOW)
    row = next(r for r in h.rows(db, master) if r.lfn == "in.000000.root")
    assert (row.status, row.attempt_nr, row.failed_attempt) == (F.READY, 1, 1)
    sets = h.datasets(db, task_id)
    assert sets["input"].n_files_used == 1 and sets["output"].n_files_failed == 1
    [bunch] = h.generate(db, task_id, NOW)  # the next cycle
    assert bunch.jobs == 1
    new = _job_of(db, task_id, "in.000000.root")
    assert new != pid
    [job] = [j for j in h.task_jobs(db, task_id) if j.panda_id == new]
    assert (job.attempt_nr, job.spec.max_attempt, job.relation_type) == (2, 2, "retry")
    assert [f.lfn for f in job.files if f.type.value == "input"] == ["in.000000.root"]
    row = next(r for r in h.rows(db, master) if r.lfn == "in.000000.root")
    assert (row.status, row.panda_id) == (F.RUNNING, new)


def test_out_of_attempts_the_file_fails(db: Database) -> None:
    task_id, master = _running_task(db, 1, maxAttempt=2)
    for _ in range(2):
        h.end_job(db, _job_of(db, task_id, "in.000000.root"), JobStatus.FAILED, NOW)
        h.generate(db, task_id, NOW)
    [row] = h.rows(db, master)
    assert (row.status, row.attempt_nr, row.failed_attempt) == (F.FAILED, 2, 2)
    assert h.datasets(db, task_id)["input"].n_files_failed == 1
    assert len(h.task_jobs(db, task_id)) == 2  # no third job


def test_closed_job_costs_an_attempt_but_no_failure(db: Database) -> None:
    task_id, master = _running_task(db, 1)
    h.end_job(db, _job_of(db, task_id, "in.000000.root"), JobStatus.CLOSED, NOW)
    [row] = h.rows(db, master)
    assert (row.status, row.attempt_nr, row.failed_attempt) == (F.READY, 1, 0)


def test_a_job_lost_in_dispatch_costs_an_attempt_but_no_failure(db: Database) -> None:
    # the sent timeout's closure (jobdispatcher 102) is the system's, like a closed job
    task_id, master = _running_task(db, 1, maxAttempt=2)
    lost = JobError(ErrorComponent.JOBDISPATCHER, 102, "sent to a pilot but no update within 1800 s")
    h.end_job(db, _job_of(db, task_id, "in.000000.root"), JobStatus.FAILED, NOW, lost)
    [row] = h.rows(db, master)
    assert (row.status, row.attempt_nr, row.failed_attempt) == (F.READY, 1, 0)


def test_out_of_memory_raises_ram_and_the_next_job_asks_more(db: Database) -> None:
    task_id, master = _running_task(db, 1, ramCount=1000, coreCount=2)
    h.end_job(db, _job_of(db, task_id, "in.000000.root"), JobStatus.FAILED, NOW, h.oom())
    [row] = h.rows(db, master)
    assert (row.status, row.ram_count) == (F.READY, 2000)  # doubled (no retryRamStep)
    h.generate(db, task_id, NOW)
    [job] = [j for j in h.task_jobs(db, task_id) if j.attempt_nr == 2]
    assert job.spec.resources.memory == 4000  # 2000 MB per core x 2 cores


def test_retry_ram_step_follows_the_task_policy(db: Database) -> None:
    task_id, master = _running_task(db, 1, ramCount=1000, retryRamOffset=500, retryRamStep=1000)
    h.end_job(db, _job_of(db, task_id, "in.000000.root"), JobStatus.FAILED, NOW, h.oom())
    [row] = h.rows(db, master)
    assert row.ram_count == 1500  # offset 500 + 1000 x attempt 1


def test_retry_failed_files_gives_failed_files_more_attempts(db: Database) -> None:
    task_id, master = _running_task(db, 2, maxAttempt=1)
    for lfn in ("in.000000.root", "in.000001.root"):
        h.end_job(db, _job_of(db, task_id, lfn), JobStatus.FAILED, NOW)
    assert h.by_status(db, master) == {"failed": 2}
    with db.write() as conn:
        assert lifecycle_taskfiles.retry_failed_files(conn, task_id, 2, NOW) == 2
        assert lifecycle_taskfiles.retry_failed_files(conn, task_id, 2, NOW) == 0
    rows = h.rows(db, master)
    assert {(r.status, r.attempt_nr, r.max_attempt) for r in rows} == {(F.READY, 1, 3)}
    ds = h.datasets(db, task_id)["input"]
    assert (ds.n_files_failed, ds.n_files_used) == (0, 0)
    assert sum(b.jobs for b in h.generate(db, task_id, NOW)) == 2


def test_rescue_picked_returns_old_picked_rows(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 2, NOW)
    task_id = h.submit(db, h.params(), NOW)
    h.feed(db, task_id, NOW)
    master = h.datasets(db, task_id)["input"].dataset_id
    first = h.rows(db, master)[0]
    with db.write() as conn:  # a generator that died between picking and creating the job
        tf_db.start_rows(conn, [(first.file_id, 0)], F.READY, F.PICKED, NOW)
    later = NOW + timedelta(minutes=31)
    with db.write() as conn:
        assert lifecycle_taskfiles.rescue_picked(conn, NOW - timedelta(minutes=30), later) == 0
        assert lifecycle_taskfiles.rescue_picked(conn, later - timedelta(minutes=30), later) == 1
    assert h.by_status(db, master) == {"ready": 2}


def test_job_level_retry_and_reassign_leave_task_jobs_to_jedi(db: Database) -> None:
    task_id, master = _running_task(db, 2)
    first = _job_of(db, task_id, "in.000000.root")
    second = _job_of(db, task_id, "in.000001.root")
    h.end_job(db, first, JobStatus.FAILED, NOW)
    with db.write() as conn:
        [retried] = control.retry(conn, [first], NOW)
        [moved] = control.reassign(conn, [second], None, NOW)
    assert retried.outcome is ActionOutcome.REJECTED and "retried by the task" in retried.message
    assert moved.outcome is ActionOutcome.DONE and moved.new_panda_id is None
    assert len(h.task_jobs(db, task_id)) == 2  # no job made outside JEDI
    assert h.by_status(db, master) == {"ready": 2}  # both files wait for the generator


def test_task_status_is_left_to_the_task_writer(db: Database) -> None:
    task_id, _ = _running_task(db, 1)
    h.end_job(db, _job_of(db, task_id, "in.000000.root"), JobStatus.FINISHED, NOW)
    assert h.task(db, task_id).status is TaskStatus.RUNNING  # the PostProcessor finishes the task

"""The retry rules' task-level effects (scheduling.md §9) at job end: reduce_input_per_job halves the
task's input per job in its split rule, increase_cputime raises its cpuTime; each recorded in the task
history, once per generation of jobs; the next jobs are made with the new values."""

from __future__ import annotations

from datetime import datetime, timedelta

from pandawms.core.changes import JobError
from pandawms.core.specs import ErrorComponent, FileType
from pandawms.core.states import JobStatus
from pandawms.core.taskspecs import split_codes
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from tests.db import jedi_helpers as h

NOW = datetime(2026, 12, 2, 8, 0, 0)
LATER = NOW + timedelta(minutes=10)


def _error(code: int) -> JobError:
    return JobError(ErrorComponent.PILOT, code, "test")


def _notes(db: Database, task_id: int) -> list[str]:
    with db.read() as conn:
        return [e.reason for e in tasks_db.history(conn, task_id) if e.reason.startswith("retry rule")]


def test_input_too_large_halves_the_files_per_job_once_per_generation(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 8, NOW)
    task_id = h.submit(db, h.params(skipScout=True, nFilesPerJob=4), NOW)
    h.feed(db, task_id, NOW)
    h.generate(db, task_id, NOW)
    first, second = h.task_jobs(db, task_id)
    h.end_job(db, first.panda_id, JobStatus.FAILED, LATER, _error(1168))  # SIZETOOLARGE
    codes = split_codes(h.task(db, task_id).spec.split_rule)
    assert (codes["NF"], codes["MF"]) == ("2", "2")
    [note] = _notes(db, task_id)
    assert note == f"retry rule after job {first.panda_id}: reduce_input_per_job: NF 4 -> 2, MF 200 -> 2"
    h.end_job(db, second.panda_id, JobStatus.FAILED, LATER, _error(1168))  # same generation: no change
    assert split_codes(h.task(db, task_id).spec.split_rule)["NF"] == "2" and len(_notes(db, task_id)) == 1
    h.generate(db, task_id, LATER)
    retries = [j for j in h.task_jobs(db, task_id) if j.attempt_nr == 2]
    assert sorted(len([f for f in j.files if f.type is FileType.INPUT]) for j in retries) == [2, 2, 2, 2]


def test_time_limit_raises_the_task_cpu_time(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 1, NOW)
    task_id = h.submit(db, h.params(skipScout=True, cpuTime=100, walltime=3600), NOW)
    h.feed(db, task_id, NOW)
    h.generate(db, task_id, NOW)
    [job] = h.task_jobs(db, task_id)
    h.end_job(db, job.panda_id, JobStatus.FAILED, LATER, _error(1213))  # REACHEDMAXTIME
    spec = h.task(db, task_id).spec
    assert (spec.cpu_time, spec.walltime) == (150.0, 5400)
    assert _notes(db, task_id) == [
        f"retry rule after job {job.panda_id}: increase_cputime: cpuTime 100 -> 150, walltime 5400 s"
    ]


def test_other_failures_leave_the_task_alone(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 1, NOW)
    task_id = h.submit(db, h.params(skipScout=True, nFilesPerJob=1), NOW)
    h.feed(db, task_id, NOW)
    h.generate(db, task_id, NOW)
    before = h.task(db, task_id).spec
    [job] = h.task_jobs(db, task_id)
    h.end_job(db, job.panda_id, JobStatus.FAILED, LATER, h.oom())
    assert h.task(db, task_id).spec == before and _notes(db, task_id) == []

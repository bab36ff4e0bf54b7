"""The control agents on tasks the engine fed and generated: jobs end through the job lifecycle (whose
hook updates the task's files), then post-processing, a retry of the failed files, scout evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pandawms.bench.pilots import PilotError
from pandawms.core.data import DID
from pandawms.core.states import DatasetStatus, JobStatus
from pandawms.core.task_commands import CommandOutcome
from pandawms.core.tasks import TaskCommand, TaskFileStatus, TaskStatus
from pandawms.db import catalog as catalog_db
from pandawms.db import task_commands as commands_db
from pandawms.db.engine import Database
from pandawms.protocol.task_commands import TaskCommandCode, TaskCommandRequest
from pandawms.services import postprocessor, scouting, task_commands
from pandawms.services.scouting import ScoutPolicy
from tests.db import jedi_helpers as jh
from tests.db.task_control_helpers import dispatch, end_job, set_metrics

NOW = datetime(2026, 12, 2, 8, 0, 0)
T = TaskStatus
F = TaskFileStatus


def _end_all(db: Database, task_id: int, failing: int = 0) -> None:
    """Simulated pilots run every queued job of the task; the first ``failing`` fail (a segfault)."""
    ended: list[int] = []

    def first(inputs: Sequence[str]) -> PilotError | None:
        ended.append(1)
        return PilotError(1305, "segfault") if len(ended) <= failing else None

    queued = [j for j in jh.task_jobs(db, task_id) if j.status is JobStatus.ACTIVATED]
    assert jh.run_pilots(db, NOW, fail=first) == len(queued)


def test_finished_task_is_retried_with_new_parameters(db: Database) -> None:
    jh.grid(db, NOW)
    jh.dataset(db, "in", 3, NOW)
    task_id = jh.submit(db, jh.params(skipScout=True, maxAttempt=1, nFilesPerJob=1), NOW)
    jh.feed(db, task_id, NOW)
    jh.generate(db, task_id, NOW)
    _end_all(db, task_id, failing=1)
    with db.write() as conn:
        postprocessor.postprocess(conn, NOW, 10)
    finished = jh.task(db, task_id)
    assert finished.status is T.FINISHED
    assert finished.error_dialog == "1 of 3 input files failed: in.000000.root"
    with db.read() as conn:
        out = catalog_db.get_did(conn, DID(jh.SCOPE, "out.in"))
    assert out is not None and out.status is DatasetStatus.CLOSED

    request = TaskCommandRequest.model_validate(
        {"jediTaskID": task_id, "newParams": {"maxAttempt": 2, "ramCount": 3000}}
    )
    later = NOW + timedelta(minutes=5)
    with db.write() as conn:
        answer = task_commands.queue(conn, TaskCommand.RETRY, request, later)
        task_commands.execute_pending(conn, later, 10)
        [row] = commands_db.commands_of(conn, task_id)
        out = catalog_db.get_did(conn, DID(jh.SCOPE, "out.in"))
    assert answer.code is TaskCommandCode.ACCEPTED
    assert (row.outcome, row.reason) == (
        CommandOutcome.DONE,
        "1 failed file(s) ready again, 2 output dataset(s) reopened;"
        " new parameters maxAttempt=2, ramCount=3000",
    )
    retried = jh.task(db, task_id)
    assert retried.status is T.READY and retried.spec.ram_count == 3000 and retried.spec.max_attempt == 2
    assert out is not None and out.status is DatasetStatus.OPEN
    rows = {r.lfn: r for r in jh.rows(db, jh.datasets(db, task_id)["input"].dataset_id)}
    assert rows["in.000000.root"].status is F.READY and rows["in.000000.root"].max_attempt >= 3
    assert {rows[f"in.00000{i}.root"].status for i in (1, 2)} == {F.FINISHED}

    jh.generate(db, task_id, later)  # the failed file runs again and now succeeds
    _end_all(db, task_id)
    with db.write() as conn:
        postprocessor.postprocess(conn, later, 10)
    assert jh.task(db, task_id).status is T.DONE


def test_generated_scouts_are_evaluated(db: Database) -> None:
    jh.grid(db, NOW)
    jh.dataset(db, "in", 4, NOW)
    task_id = jh.submit(db, jh.params(nFilesPerJob=1), NOW)
    jh.feed(db, task_id, NOW, n_scouts=2)
    jh.generate(db, task_id, NOW)
    scouting_task = jh.task(db, task_id)
    scouts = [j for j in jh.task_jobs(db, task_id) if "sj" in j.spec.special_handling]
    assert scouting_task.status is T.SCOUTING and scouting_task.scout_jobs == len(scouts) == 2
    with db.write() as conn:
        for job in scouts:
            dispatch(conn, job.panda_id, NOW)
            end_job(conn, job.panda_id, JobStatus.FINISHED, NOW)
            set_metrics(
                conn,
                job.panda_id,
                start_time=NOW,
                end_time=NOW + timedelta(seconds=1600),
                n_events=100,
                max_pss=1024 * 1024,
            )
        batch = scouting.evaluate_scouts(conn, NOW, ScoutPolicy(), 10)
    scouted = jh.task(db, task_id)
    assert batch.moved == 1 and scouted.status is T.SCOUTED
    assert scouted.spec.ram_count == 1127  # ceil(1024 MB x 1.1)
    assert scouted.spec.cpu_time == (1600 - 600) * 10 * 0.9 * 1.5 / 100

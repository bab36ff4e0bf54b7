"""A 20-file task end to end in process: the JEDI agents make the jobs, simulated pilots acquire and
finish them through services.pilot (the Adder registers the outputs), one file fails once and is
retried, until every file is finished and every output is in the task's output dataset."""

from __future__ import annotations

import uuid
import zlib
from datetime import datetime

from pandawms.agents.jedi import jedi_agents
from pandawms.config import JediConfig
from pandawms.core.data import DID
from pandawms.core.specs import ErrorComponent, FileType, JobErrors
from pandawms.core.tasks import TaskStatus
from pandawms.core.updates import PilotReport
from pandawms.db import catalog as catalog_db
from pandawms.db.engine import Database
from pandawms.services import lifecycle_tasks, pilot
from pandawms.services.pilot import AcquireQuery
from pandawms.services.termination import JobRetryPolicy
from tests.db import jedi_helpers as h

NOW = datetime(2026, 12, 2, 8, 0, 0)
POLICY = JobRetryPolicy()


def _report(lfn: str) -> dict[str, object]:
    return {
        "guid": str(uuid.uuid5(uuid.NAMESPACE_URL, lfn)),
        "fsize": 1000,
        "adler32": f"{zlib.adler32(lfn.encode()):08x}",
        "endpoint": h.RSE,
    }


def _pilots_run_everything(db: Database, fail_once: str, failed: list[str]) -> int:
    """Acquire and end every activated job of the queue; returns how many ran."""
    ran = 0
    for _ in range(100):
        with db.write() as conn:
            got = pilot.acquire_jobs(conn, AcquireQuery(queue=h.QUEUE, n_jobs=5), NOW)
        if not got.jobs:
            return ran
        for job in got.jobs:
            inputs = [f.lfn for f in job.files if f.type is FileType.INPUT]
            outputs = {f.lfn: _report(f.lfn) for f in job.files if f.type is not FileType.INPUT}
            fail = fail_once in inputs and fail_once not in failed
            with db.write() as conn:
                pilot.update_job(conn, PilotReport(job.panda_id, "running"), NOW, POLICY)
                if fail:
                    failed.append(fail_once)
                    errors = JobErrors({ErrorComponent.PILOT: 1212}, {ErrorComponent.PILOT: "oom"})
                    report = PilotReport(job.panda_id, "failed", errors=errors)
                else:
                    report = PilotReport(job.panda_id, "finished", output_report=outputs)
                pilot.update_job(conn, report, NOW, POLICY)
            ran += 1
    raise AssertionError("pilots never ran out of jobs")


def test_twenty_files_run_to_the_end(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 20, NOW)
    task_id = h.submit(db, h.params(ramCount=1000, nFilesPerJob=1), NOW)
    feeder_agent, generator_agent = jedi_agents(db, JediConfig())
    assert feeder_agent.run_once(NOW) == 1  # fed, ready, and its scouts made in the same cycle
    assert h.task(db, task_id).status is TaskStatus.SCOUTING
    failed: list[str] = []
    assert _pilots_run_everything(db, "in.000003.root", failed) == 10
    with db.write() as conn:  # the scout evaluation (the control engineer's agent) says scouted
        lifecycle_tasks.transition_task(conn, task_id, TaskStatus.SCOUTED, NOW, "scouts measured")
    ran = 0
    for _ in range(10):
        generator_agent.run_once(NOW)
        n = _pilots_run_everything(db, "in.000003.root", failed)
        ran += n
        if not n:
            break
    assert ran == 11  # 10 jobs of the avalanche + the failed scout's file again
    sets = h.datasets(db, task_id)
    rows = h.rows(db, sets["input"].dataset_id)
    assert {r.status.value for r in rows} == {"finished"} and len(rows) == 20
    retried = next(r for r in rows if r.lfn == "in.000003.root")
    assert (retried.attempt_nr, retried.failed_attempt, retried.ram_count) == (1, 1, 2000)
    assert (sets["input"].n_files_finished, sets["input"].n_files_failed) == (20, 0)
    assert h.by_status(db, sets["output"].dataset_id) == {"finished": 20, "failed": 1}
    with db.read() as conn:
        outs = catalog_db.list_contents(conn, DID(h.SCOPE, "out.in"), None, 100)
        logs = catalog_db.list_contents(conn, DID(h.SCOPE, "log.in"), None, 100)
    assert len(outs) == 20 and len(logs) == 20
    assert h.task(db, task_id).status is TaskStatus.RUNNING  # the PostProcessor takes it from here

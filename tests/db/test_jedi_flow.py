"""A 20-file task end to end in process: the JEDI agents make the jobs, simulated pilots acquire and
finish them through services.pilot (the Adder registers the outputs), one file fails once and is
retried, until every file is finished and every output is in the task's output dataset."""

from __future__ import annotations

from datetime import datetime

from pandawms.agents.jedi import jedi_agents
from pandawms.config import JediConfig
from pandawms.core.data import DID
from pandawms.core.tasks import TaskStatus
from pandawms.db import catalog as catalog_db
from pandawms.db.engine import Database
from pandawms.services import lifecycle_tasks, postprocessor
from tests.db import jedi_helpers as h

NOW = datetime(2026, 12, 2, 8, 0, 0)


def test_twenty_files_run_to_the_end(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 20, NOW)
    task_id = h.submit(db, h.params(ramCount=1000, nFilesPerJob=1), NOW)
    feeder_agent, generator_agent = jedi_agents(db, JediConfig())
    assert feeder_agent.run_once(NOW) == 1  # fed, ready, and its scouts made in the same cycle
    assert h.task(db, task_id).status is TaskStatus.SCOUTING
    failed: list[str] = []
    assert h.run_pilots(db, NOW, "in.000003.root", failed) == 10
    with db.write() as conn:  # the scout evaluation (the control engineer's agent) says scouted
        lifecycle_tasks.transition_task(conn, task_id, TaskStatus.SCOUTED, NOW, "scouts measured")
    ran = 0
    for _ in range(10):
        generator_agent.run_once(NOW)
        n = h.run_pilots(db, NOW, "in.000003.root", failed)
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


def test_merge_output_task_runs_to_done(db: Database) -> None:
    """mergeOutput: 12 pre-merge jobs, their pieces merged 5 + 5 + 2 at the queue, the task done with
    three merged files in its output dataset (the pieces in the transient one)."""
    h.grid(db, NOW)
    h.dataset(db, "in", 12, NOW)
    merge = {"transPath": "merge.sh", "jobParameters": "-o ${OUTPUT0} ${IN}"}
    raw = h.params(skipScout=True, nFilesPerJob=1, mergeOutput=True, mergeSpec=merge, nFilesPerMergeJob=5)
    task_id = h.submit(db, raw, NOW)
    feeder_agent, generator_agent = jedi_agents(db, JediConfig())
    assert feeder_agent.run_once(NOW) == 1
    failed: list[str] = []
    assert h.run_pilots(db, NOW, "in.000004.root", failed) == 12  # one fails: its file is retried
    ran = 0
    for _ in range(10):
        generator_agent.run_once(NOW)
        n = h.run_pilots(db, NOW)
        ran += n
        if not n:
            break
    assert ran == 1 + 3  # the retry, then the merge jobs (two full groups, then the rest)
    merges = [j for j in h.task_jobs(db, task_id) if j.spec.processing_type == "pmerge"]
    assert sorted(len([f for f in j.files if f.type.value == "input"]) for j in merges) == [2, 5, 5]
    with db.write() as conn:  # the PostProcessor (the control engineer's agent)
        postprocessor.postprocess(conn, NOW, 10)
    assert h.task(db, task_id).status is TaskStatus.DONE
    with db.read() as conn:
        merged = catalog_db.list_contents(conn, DID(h.SCOPE, "out.in"), None, 100)
        pieces = catalog_db.list_contents(conn, DID(h.SCOPE, "out.in.pre"), None, 100)
    assert len(merged) == 3 and len(pieces) == 12

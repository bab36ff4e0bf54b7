"""Merging (scheduling.md §10): a mergeOutput task's jobs write pieces into transient datasets, complete
groups of prepared pieces become pmerge jobs at the queue holding them, the merged files land in the final
output dataset; a failed merge gives its pieces back (an attempt each), and the task is not over before
its merges."""

from __future__ import annotations

import uuid
import zlib
from datetime import datetime
from typing import Any

from pandawms.agents import jedi as jedi_agents
from pandawms.config import JediConfig
from pandawms.core.data import DID, FileDID, parse_did
from pandawms.core.specs import FileType, Job
from pandawms.core.states import DatasetStatus, JobStatus
from pandawms.core.tasks import TaskDatasetType, TaskFileStatus, TaskStatus
from pandawms.db import catalog as catalog_db
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.services import catalog, merging, postprocessor
from pandawms.services.merging import MergeBunch
from tests.db import jedi_helpers as h

NOW = datetime(2026, 12, 2, 8, 0, 0)
F = TaskFileStatus
MERGE = {"transPath": "merge.sh", "jobParameters": "-o ${OUTPUT0} -i ${IN} -n ${SN}"}


def _merge_task(db: Database, n_files: int, **kw: Any) -> int:
    h.grid(db, NOW)
    h.dataset(db, "in", n_files, NOW)
    raw = h.params(skipScout=True, nFilesPerJob=1, mergeOutput=True, mergeSpec=MERGE, **kw)
    task_id = h.submit(db, raw, NOW)
    h.feed(db, task_id, NOW)
    h.generate(db, task_id, NOW)
    return task_id


def _finish(db: Database, job: Job) -> None:
    """The pilot finishes the job and the Adder registers its outputs at the RSE."""
    with db.write() as conn:
        for f in job.files:
            if f.type is FileType.INPUT:
                continue
            guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f.lfn))
            did = FileDID(DID(f.scope, f.lfn), guid, 1000, f"{zlib.adler32(f.lfn.encode()):08x}")
            catalog.add_files(conn, parse_did(f.dataset, "dataset"), [did], h.RSE, NOW)
    h.end_job(db, job.panda_id, JobStatus.FINISHED, NOW)


def _jobs(db: Database, task_id: int, processing_type: str, status: JobStatus | None = None) -> list[Job]:
    return [
        j
        for j in h.task_jobs(db, task_id)
        if j.spec.processing_type == processing_type and (status is None or j.status is status)
    ]


def _merge(db: Database, task_id: int) -> MergeBunch:
    with db.write() as conn:
        return merging.merge_bunch(conn, task_id, NOW)


def _sets(db: Database, task_id: int) -> dict[TaskDatasetType, list[Any]]:
    out: dict[TaskDatasetType, list[Any]] = {}
    with db.read() as conn:
        for d in tasks_db.datasets_of(conn, task_id):
            out.setdefault(d.type, []).append(d)
    return out


def _postprocess(db: Database, task_id: int) -> TaskStatus:
    with db.write() as conn:
        postprocessor.postprocess(conn, NOW, 100)
    return h.task(db, task_id).status


def test_feeding_adds_transient_datasets_and_jobs_write_pieces(db: Database) -> None:
    task_id = _merge_task(db, 2)
    sets = _sets(db, task_id)
    [out], [log] = sets[TaskDatasetType.OUTPUT], sets[TaskDatasetType.LOG]
    [trn], [trn_log] = sets[TaskDatasetType.TRN_OUTPUT], sets[TaskDatasetType.TRN_LOG]
    assert (trn.name, trn.master_id, trn.template) == (
        f"{out.name}.pre",
        out.dataset_id,
        f"panda.um.{out.template}",
    )
    assert (trn_log.name, trn_log.master_id) == (f"{log.name}.pre", log.dataset_id)
    with db.read() as conn:
        assert catalog_db.get_did(conn, DID(trn.scope, trn.name)) is not None
    [job, _] = h.task_jobs(db, task_id)
    outs = [(f.lfn, f.dataset) for f in job.files if f.type is not FileType.INPUT]
    assert outs == [
        (f"panda.um.out.{task_id}._000001.root", trn.did),
        (f"panda.um.log.{task_id}._000001.tgz", trn_log.did),
    ]
    _finish(db, job)
    assert h.by_status(db, trn.dataset_id) == {"prepared": 1, "running": 1}
    assert h.by_status(db, trn_log.dataset_id) == {"finished": 1, "running": 1}  # logs are not merged


def test_complete_groups_merge_at_the_queue_then_the_rest_when_nothing_more_comes(db: Database) -> None:
    task_id = _merge_task(db, 4, nFilesPerMergeJob=3)
    pre = h.task_jobs(db, task_id)
    for job in pre[:2]:
        _finish(db, job)
    assert _merge(db, task_id) == MergeBunch()  # 2 pieces of 3: incomplete while 2 files still run
    _finish(db, pre[2])
    assert _merge(db, task_id).jobs == 1
    [merge] = _jobs(db, task_id, "pmerge")
    sets = _sets(db, task_id)
    [out], [trn] = sets[TaskDatasetType.OUTPUT], sets[TaskDatasetType.TRN_OUTPUT]
    pieces = [f"panda.um.out.{task_id}._{i:06d}.root" for i in (1, 2, 3)]
    merged = f"out.{task_id}._000001.root"
    assert (merge.spec.current_priority, merge.computing_site, merge.spec.transformation) == (
        5000,
        h.QUEUE,
        "merge.sh",
    )
    assert merge.spec.job_parameters == f"-o {merged} -i {','.join(pieces)} -n 000001"
    assert [f.lfn for f in merge.files if f.type is FileType.INPUT] == pieces
    assert [(f.lfn, f.dataset) for f in merge.files if f.type is FileType.OUTPUT] == [(merged, out.did)]
    assert merge.status is JobStatus.ACTIVATED  # the pieces are at the queue's RSE
    assert h.by_status(db, trn.dataset_id) == {"merging": 3, "running": 1}
    _finish(db, pre[3])
    assert _merge(db, task_id).jobs == 1  # the last, smaller group: no pre-merge job is left
    assert h.by_status(db, trn.dataset_id) == {"merging": 4}
    assert _postprocess(db, task_id) is TaskStatus.RUNNING  # merges are running
    for job in _jobs(db, task_id, "pmerge"):
        _finish(db, job)
    assert h.by_status(db, trn.dataset_id) == {"finished": 4}
    assert h.by_status(db, out.dataset_id) == {"finished": 2}
    assert _postprocess(db, task_id) is TaskStatus.DONE
    with db.read() as conn:
        merged_files = catalog_db.list_contents(conn, DID(out.scope, out.name), None, 100)
        record = catalog_db.get_did(conn, DID(trn.scope, trn.name))
    assert sorted(c.did.name for c in merged_files) == [merged, f"out.{task_id}._000002.root"]
    assert record is not None and record.status is DatasetStatus.CLOSED


def test_failed_merge_gives_the_pieces_back_and_a_new_merge_job_takes_them(db: Database) -> None:
    task_id = _merge_task(db, 2, nFilesPerMergeJob=2)
    for job in h.task_jobs(db, task_id):
        _finish(db, job)
    assert _merge(db, task_id).jobs == 1
    [first] = _jobs(db, task_id, "pmerge")
    h.end_job(db, first.panda_id, JobStatus.FAILED, NOW)
    trn = _sets(db, task_id)[TaskDatasetType.TRN_OUTPUT][0]
    rows = h.rows(db, trn.dataset_id)
    assert {(r.status, r.attempt_nr, r.failed_attempt) for r in rows} == {(F.PREPARED, 1, 1)}
    assert _postprocess(db, task_id) is TaskStatus.RUNNING  # pieces wait for a merge
    assert _merge(db, task_id).jobs == 1
    [second] = _jobs(db, task_id, "pmerge", JobStatus.ACTIVATED)
    assert (second.attempt_nr, second.relation_type) == (2, "retry")
    _finish(db, second)
    assert h.by_status(db, trn.dataset_id) == {"finished": 2}
    assert _postprocess(db, task_id) is TaskStatus.DONE


def test_pieces_out_of_merge_attempts_fail_and_the_task_is_not_done(db: Database) -> None:
    task_id = _merge_task(db, 1)
    [job] = h.task_jobs(db, task_id)
    _finish(db, job)
    for _ in range(3):  # a piece has 3 attempts
        assert _merge(db, task_id).jobs == 1
        [merge] = _jobs(db, task_id, "pmerge", JobStatus.ACTIVATED)
        h.end_job(db, merge.panda_id, JobStatus.FAILED, NOW)
    trn = _sets(db, task_id)[TaskDatasetType.TRN_OUTPUT][0]
    assert h.by_status(db, trn.dataset_id) == {"failed": 1}
    assert _merge(db, task_id) == MergeBunch()
    assert _postprocess(db, task_id) is TaskStatus.FINISHED
    assert "1 pre-merge files could not be merged" in h.task(db, task_id).error_dialog


def test_a_task_without_merge_output_has_no_transient_datasets(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 1, NOW)
    task_id = h.submit(db, h.params(skipScout=True), NOW)
    h.feed(db, task_id, NOW)
    assert TaskDatasetType.TRN_OUTPUT not in _sets(db, task_id)
    assert _merge(db, task_id) == MergeBunch()


def test_each_output_stream_is_merged_into_its_own_dataset(db: Database) -> None:
    """Two outputs (${OUTPUT0}, ${OUTPUT1}): the pieces of each are merged apart, into its final dataset."""
    h.grid(db, NOW)
    h.dataset(db, "in", 4, NOW)
    raw = h.params(skipScout=True, nFilesPerJob=1, mergeOutput=True, mergeSpec=MERGE, nFilesPerMergeJob=2)
    raw["jobParameters"].append(
        {
            "type": "template",
            "param_type": "output",
            "dataset": f"{h.SCOPE}:hist.in",
            "value": "hist.${JEDITASKID}._${SN}.root",
        }
    )
    task_id = h.submit(db, raw, NOW)
    h.feed(db, task_id, NOW)
    h.generate(db, task_id, NOW)
    assert h.run_pilots(db, NOW) == 4
    assert _merge(db, task_id).jobs == 4  # two groups of two pieces per stream
    merges = _jobs(db, task_id, "pmerge")
    streams = set()
    for j in merges:
        ins = {f.dataset for f in j.files if f.type is FileType.INPUT}
        outs = {f.dataset for f in j.files if f.type is FileType.OUTPUT}
        assert len(ins) == 1 and len(outs) == 1  # one stream per merge job
        streams.add((ins.pop(), outs.pop()))
        lfns = [f.lfn for f in j.files if f.type is FileType.INPUT]
        out = next(f.lfn for f in j.files if f.type is FileType.OUTPUT)
        assert j.spec.job_parameters.startswith(f"-o {out} -i {','.join(lfns)}")
    assert streams == {
        (f"{h.SCOPE}:out.in.pre", f"{h.SCOPE}:out.in"),
        (f"{h.SCOPE}:hist.in.pre", f"{h.SCOPE}:hist.in"),
    }
    assert h.run_pilots(db, NOW) == 4
    with db.write() as conn:
        postprocessor.postprocess(conn, NOW, 10)
    assert h.task(db, task_id).status is TaskStatus.DONE
    with db.read() as conn:
        for name in ("out.in", "hist.in"):
            assert len(catalog_db.list_contents(conn, DID(h.SCOPE, name), None, 100)) == 2


def test_merge_jobs_are_throttled_like_the_tasks_other_jobs(db: Database) -> None:
    task_id = _merge_task(db, 4, nFilesPerMergeJob=1)
    for job in _jobs(db, task_id, ""):
        _finish(db, job)
    assert jedi_agents.merge(db, JediConfig(queue_limit=3), NOW) == 3  # 4 groups, room for 3 queued
    assert jedi_agents.merge(db, JediConfig(queue_limit=3), NOW) == 0  # 3 queued: no more room
    assert jedi_agents.merge(db, JediConfig(queue_limit=4), NOW) == 1

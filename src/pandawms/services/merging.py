"""Merging (scheduling.md §10): a mergeOutput task's pre-merge pieces become merge jobs (``pmerge``).

- At the end of feeding (services/feeder.py) each output and log dataset of the task gets its transient
  twin (``trn_output``/``trn_log``, ``<name>.pre``, master_id = the final dataset; core.merging names),
  registered in the catalog with the others.
- The JobGenerator's template then points the jobs' outputs at the twins (``premerge``): pieces named
  ``panda.um.<file name>``; a finished job's pieces end ``prepared`` (pre-merge logs ``finished``: logs are
  not merged).
- ``merge_bunch`` groups a task's prepared pieces per output dataset and per queue that holds them
  (core.merging.group_pieces) and makes one merge job per group, in one transaction: transPath and the
  rendered ``mergeSpec.jobParameters`` (``${IN}`` the pieces, ``${OUTPUT0}`` the merged file, ``${SN}``),
  priority 5000, pinned to that queue when it is known (on-site merging), inputs the pieces (prepared ->
  merging), outputs the merged file in the final dataset (template with the final dataset's serial) and a
  log in the task's log dataset. The end of a merge job is accounted by lifecycle_taskfiles.job_ended.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.changes import Lineage
from pandawms.core.data import DID
from pandawms.core.errors import InvalidInput
from pandawms.core.ids import QueueName
from pandawms.core.jobparams import JobValues, TemplateItem, output_lfn, render
from pandawms.core.merging import (
    MERGE_FLAG,
    MERGE_PRIORITY,
    MERGE_PROCESSING_TYPE,
    TRANSIENT_TYPES,
    TWIN_TYPES,
    MergeGroup,
    Piece,
    group_pieces,
    merge_rules,
    premerge_dataset_name,
    premerge_template,
)
from pandawms.core.specs import FileSpec, FileType, JobSpec, ResourceRequest
from pandawms.core.states import JobStatus
from pandawms.core.tasks import (
    GENERATING_STATES,
    INPUT_TYPES,
    TaskDatasetStatus,
    TaskDatasetType,
    TaskFileStatus,
    TaskStatus,
)
from pandawms.core.taskspecs import NewTaskDataset, Task, TaskDataset, split_codes
from pandawms.db import catalog as catalog_db
from pandawms.db import task_files as tf_db
from pandawms.db import task_progress
from pandawms.db import tasks as tasks_db
from pandawms.db.task_files import NewTaskFile, TaskFileRow
from pandawms.protocol.tasks import MergeSpec, TaskParams
from pandawms.services import lifecycle_taskfiles, lifecycle_tasks, placement
from pandawms.services.jobgen_specs import TaskTemplate
from pandawms.services.placement import Broker

DT = TaskDatasetType
MAX_PIECES_READ = 5000  # per transient dataset and bunch
MAX_MERGE_JOBS = 500  # per bunch


def merging(task: Task) -> bool:
    return MERGE_FLAG in split_codes(task.spec.split_rule)


# -- the transient datasets (feeder) and the pre-merge jobs' outputs (generator) -----------------------


def add_transient_datasets(conn: Connection, task: Task, now: datetime) -> int:
    """The ``trn_output``/``trn_log`` twin of each output and log dataset of a mergeOutput task (once;
    ``defined``, master_id = the final dataset); returns how many were added."""
    if not merging(task):
        return 0
    sets = tasks_db.datasets_of(conn, task.task_id)
    have = {d.master_id for d in sets if d.type in TRANSIENT_TYPES}
    finals = [d for d in sets if d.type in TWIN_TYPES and d.dataset_id not in have]
    new = [
        NewTaskDataset(
            TWIN_TYPES[d.type],
            d.scope,
            premerge_dataset_name(d.name),
            template=premerge_template(d.template),
            destination=d.destination,
        )
        for d in finals
    ]
    for d, twin in zip(finals, new, strict=True):
        if len(twin.name) > 250:
            raise InvalidInput(
                f"{d.did}: the pre-merge dataset name {twin.name!r} is too long", "mergeOutput"
            )
    ids = lifecycle_tasks.add_datasets(conn, task.task_id, new, now)
    for d, twin_id in zip(finals, ids, strict=True):
        tasks_db.update_dataset(conn, twin_id, now, {"master_id": d.dataset_id})
    return len(ids)


def premerge(t: TaskTemplate, datasets: Sequence[TaskDataset]) -> TaskTemplate:
    """A mergeOutput task's template with its outputs and log written to their transient twins
    (unchanged for other tasks); InvalidInput when a twin is missing."""
    if not merging(t.task):
        return t
    twins = {d.master_id: d for d in datasets if d.type in TRANSIENT_TYPES}
    outputs = []
    for o in t.outputs:
        twin = twins.get(o.dataset.dataset_id)
        if twin is None:
            raise InvalidInput(f"mergeOutput: no pre-merge dataset for {o.dataset.did}", "mergeOutput")
        outputs.append(dataclasses.replace(o, dataset=twin, template=twin.template))
    return dataclasses.replace(t, outputs=tuple(outputs))


# -- merge jobs ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergeBunch:
    jobs: int = 0
    pieces: int = 0
    status: str = ""  # "broken: ..." when the task cannot make merge jobs


@dataclass(frozen=True, slots=True)
class _Planned:
    spec: JobSpec
    lineage: Lineage
    pieces: tuple[TaskFileRow, ...]
    outputs: tuple[NewTaskFile, ...]


@dataclass(frozen=True, slots=True)
class _Context:
    task: Task
    merge: MergeSpec
    log: TaskDataset | None


def tasks_to_merge(conn: Connection, limit: int) -> list[int]:
    """Tasks in the generating states with prepared pieces (by id)."""
    return tf_db.tasks_with_pieces(conn, sorted(GENERATING_STATES), limit)


def no_more_pieces(conn: Connection, datasets: Sequence[TaskDataset]) -> bool:
    """No pre-merge job of the task is left to produce pieces: every master input file is final (none
    running, picked or ready with attempts left) and no master input is still growing (mutable) or
    being loaded (toupdate)."""
    masters = [d for d in datasets if d.type in INPUT_TYPES and d.master_id is None]
    if any(d.mutable or d.status is TaskDatasetStatus.TOUPDATE for d in masters):
        return False
    return task_progress.master_progress(conn, [d.dataset_id for d in masters]).busy == 0


def merge_bunch(
    conn: Connection,
    task_id: int,
    now: datetime,
    *,
    broker: Broker | None = None,
    limit: int = MAX_MERGE_JOBS,
) -> MergeBunch:
    """Make the merge jobs of one task's complete groups of prepared pieces (all of them once
    ``no_more_pieces``), up to ``limit`` jobs, in the caller's transaction."""
    task = tasks_db.get_task(conn, task_id, lock=True)
    if task is None or task.status not in GENERATING_STATES or not merging(task):
        return MergeBunch()
    params = TaskParams.model_validate_json(tasks_db.get_params(conn, task_id) or "{}")
    if params.merge_spec is None:
        return _broken(conn, task, "mergeOutput without mergeSpec", now)
    sets = tasks_db.datasets_of(conn, task_id)
    ctx = _Context(task, params.merge_spec, next((d for d in sets if d.type is DT.LOG), None))
    by_id = {d.dataset_id: d for d in sets}
    pairs = [(t, by_id[t.master_id]) for t in sets if t.type is DT.TRN_OUTPUT and t.master_id in by_id]
    finals = [f for _t, f in pairs] + ([ctx.log] if ctx.log is not None else [])
    serial = max((d.next_serial for d in finals), default=1)
    last = no_more_pieces(conn, sets)
    rules = merge_rules(split_codes(task.spec.split_rule))
    groups = []
    for trn, final in pairs:
        rows = {r.file_id: (r, q) for r, q in tf_db.prepared_pieces(conn, trn.dataset_id, MAX_PIECES_READ)}
        files = _catalog_files(conn, [r for r, _q in rows.values()])
        pieces = [Piece(fid, files[fid].fsize, q) for fid, (_r, q) in rows.items()]
        for g in group_pieces(pieces, rules, last=last):
            groups.append((trn, final, g, [rows[p.row_id][0] for p in g.pieces], files))
    if not groups:
        return MergeBunch()
    broker = broker or Broker.load(conn)
    try:
        planned = [
            _plan(ctx, trn, final, g, rows, files, serial + i, broker)
            for i, (trn, final, g, rows, files) in enumerate(groups[:limit])
        ]
    except InvalidInput as exc:
        return _broken(conn, task, f"cannot make merge jobs: {exc}", now)
    _store(conn, ctx, planned, broker, now)
    for d in finals:
        tasks_db.update_dataset(conn, d.dataset_id, now, {"next_serial": serial + len(planned)})
    return MergeBunch(len(planned), sum(len(p.pieces) for p in planned))


def _broken(conn: Connection, task: Task, reason: str, now: datetime) -> MergeBunch:
    lifecycle_tasks.transition_task(conn, task.task_id, TaskStatus.BROKEN, now, reason)
    return MergeBunch(status=f"broken: {reason}")


def _catalog_files(conn: Connection, rows: Sequence[TaskFileRow]) -> dict[int, FileSpec]:
    """Each piece as a merge job's input row, with the GUID, size and checksum the Adder registered."""
    found = catalog_db.get_files(conn, [DID(r.scope, r.lfn) for r in rows])
    out = {}
    for r in rows:
        f = found.get(DID(r.scope, r.lfn))
        guid, size, checksum = (f.guid, f.bytes, f"ad:{f.adler32}") if f is not None else ("", 0, "")
        out[r.file_id] = FileSpec(r.lfn, FileType.INPUT, r.scope, "", guid, size, checksum)
    return out


def _plan(
    ctx: _Context,
    trn: TaskDataset,
    final: TaskDataset,
    group: MergeGroup,
    rows: Sequence[TaskFileRow],
    files: dict[int, FileSpec],
    serial: int,
    broker: Broker,
) -> _Planned:
    """The merge job of one group: the pieces in, the merged file (and a log) out."""
    task, spec = ctx.task, ctx.task.spec
    inputs = tuple(dataclasses.replace(files[r.file_id], dataset=trn.did) for r in rows)
    merged = output_lfn(final.template, serial, task.task_id, final.did)
    outs = [(final, merged, FileType.OUTPUT)]
    if ctx.log is not None:
        outs.append((ctx.log, output_lfn(ctx.log.template, serial, task.task_id, ctx.log.did), FileType.LOG))
    values = JobValues(task.task_id, serial, trn.did, {trn.did: [f.lfn for f in inputs]}, (merged,))
    item = TemplateItem(ctx.merge.job_parameters)
    attempt = max(r.attempt_nr for r in rows) + 1
    site = QueueName(group.site) if group.site in broker.by_name else None  # on-site when known
    job = JobSpec(
        transformation=ctx.merge.trans_path,
        job_name=f"{spec.task_name}.merge.{serial:06d}"[:256],
        job_parameters=render([item], values) if item.value else "",
        prod_source_label=spec.prod_source_label,
        prod_user_name=spec.user_name,
        current_priority=MERGE_PRIORITY,
        computing_site=site,
        included_sites=spec.included_sites if site is None else (),
        excluded_sites=spec.excluded_sites if site is None else (),
        resources=ResourceRequest(cores=1),
        max_attempt=attempt,
        task_id=task.task_id,
        destination_se=final.destination,
        processing_type=MERGE_PROCESSING_TYPE,
        files=inputs
        + tuple(FileSpec(lfn, kind, d.scope, d.did, destination_se=d.destination) for d, lfn, kind in outs),
    )
    rows_out = tuple(
        NewTaskFile(task.task_id, d.dataset_id, d.scope, lfn, TaskFileStatus.RUNNING) for d, lfn, _k in outs
    )
    lineage = Lineage(attempt_nr=attempt, relation_type="retry" if attempt > 1 else "")
    return _Planned(job, lineage, tuple(rows), rows_out)


def _store(
    conn: Connection, ctx: _Context, planned: Sequence[_Planned], broker: Broker, now: datetime
) -> None:
    """Create and place the merge jobs, take their pieces and add their outputs; a job no queue can run
    costs its pieces an attempt."""
    placed = placement.create_and_place(
        conn,
        [(p.spec, p.lineage) for p in planned],
        now,
        reason=f"merge job of task {ctx.task.task_id}",
        broker_=broker,
    )
    pairs = [(r, pl.panda_id) for p, pl in zip(planned, placed, strict=True) for r in p.pieces]
    lifecycle_taskfiles.start_merge(conn, pairs, now)
    outputs = [
        dataclasses.replace(o, panda_id=pl.panda_id)
        for p, pl in zip(planned, placed, strict=True)
        for o in p.outputs
    ]
    lifecycle_taskfiles.add_outputs(conn, outputs, now)
    for pl in placed:
        if pl.status is JobStatus.FAILED:
            lifecycle_taskfiles.job_ended(conn, pl.panda_id, JobStatus.CLOSED, now)

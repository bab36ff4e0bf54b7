"""The ContentsFeeder (flow step 2, scheduling.md §1): a task's input datasets become task-file rows.

A ``defined`` task is fed in steps (``feed_step``, one short transaction each): the catalog files of each
input dataset not fed yet, in (scope, lfn) order, become ``ready`` rows (one per file, or one per event
range when nEventsPerJob is below the file's events); a pseudo input (noInput) gets ceil(nEvents /
nEventsPerJob) rows. The step that finds nothing more to feed also finishes the task: the first
``n_scouts`` master rows become scouts (none with skipScout), the output and log datasets are registered
in the catalog (TaskSetupper), the datasets and the task go ``ready``. A missing input dataset breaks the
task; an empty one puts it ``pending`` (the watchdog restores it later). Feeding is idempotent
(ux_task_files_file and an anti-join on it), so a step that dies half-way is simply repeated.

A big input starts at once: once the first ``first_chunk`` rows of a task's only input are fed, the task
goes ``ready`` (its jobs can be made) while that dataset stays ``toupdate``; later passes load the rest
and move it ``ready``. The PostProcessor prepares no task with a ``toupdate`` or mutable input.

Chaining (core/chaining.py, scheduling.md §11): a child task's inputs are mutable while its parent runs
and keep being fed; a defined child waits for its parent's first files (unless noWaitParent) and is
broken if the parent failed, broke or was aborted; the feed stops once the parent is final and its
output will not grow (decided before the pass's first read of the dataset, so no file is missed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.chaining import ParentState, Start, input_stops, parent_state, start_child
from pandawms.core.data import DID, DIDType
from pandawms.core.errors import Conflict, InvalidInput
from pandawms.core.partition import event_ranges
from pandawms.core.states import DatasetStatus
from pandawms.core.tasks import (
    INPUT_TYPES,
    TaskDatasetStatus,
    TaskDatasetType,
    TaskStatus,
)
from pandawms.core.taskspecs import Task, TaskDataset, split_codes
from pandawms.db import catalog as catalog_db
from pandawms.db import task_feed
from pandawms.db import task_files as tf_db
from pandawms.db import tasks as tasks_db
from pandawms.db.task_feed import CatalogFile
from pandawms.db.task_files import NewTaskFile
from pandawms.services import catalog, lifecycle_taskfiles, lifecycle_tasks, merging

DS = TaskDatasetStatus
# Tasks whose mutable inputs are still fed (not before ready: the first feed finishes the definition).
_REFEED_STATES = frozenset(
    {TaskStatus.READY, TaskStatus.SCOUTING, TaskStatus.SCOUTED, TaskStatus.RUNNING, TaskStatus.PENDING}
)
_FEEDABLE = _REFEED_STATES | {TaskStatus.DEFINED}


@dataclass(frozen=True, slots=True)
class FeedSettings:
    n_scouts: int = 10
    first_chunk: int = 1000  # rows of a big single input fed before its task may start (0: all first)


@dataclass
class FeedCursor:
    """Where a feeding pass over one task is: the dataset being read and the last key read in it."""

    position: int = 0  # index among the task's input datasets
    after: tuple[str, str] | None = None
    fed: int = 0
    read: int = 0  # catalog files read in this pass
    done: bool = False
    outcome: str = ""  # what finishing did: "ready", "broken: ...", "pending: ...", "waiting: ...", ""
    mutable_closed: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)  # toupdate inputs whose contents are now all loaded
    # mutable inputs seen not to grow any more before this pass first read them: their feed stops
    stopping: set[int] = field(default_factory=set)


def _codes(task: Task) -> dict[str, str]:
    return split_codes(task.spec.split_rule)


def _int(codes: dict[str, str], code: str) -> int | None:
    value = codes.get(code)
    return int(float(value)) if value else None


def _rows_of_file(task: Task, ds: TaskDataset, f: CatalogFile, codes: dict[str, str]) -> list[NewTaskFile]:
    """One row per file, or per event range of it when nEventsPerJob is below its events."""
    events = _int(codes, "NI") or f.events or 0
    per_job = _int(codes, "NE")
    base = NewTaskFile(
        task_id=task.task_id,
        dataset_id=ds.dataset_id,
        scope=f.scope,
        lfn=f.lfn,
        status=lifecycle_taskfiles.F.READY,
        guid=f.guid,
        fsize=f.fsize,
        checksum=f"ad:{f.adler32}",
        n_events=events,
        max_attempt=task.spec.max_attempt,
        max_failure=_int(codes, "MA"),
    )
    if per_job is None or events <= per_job:
        return [base]
    return [
        dataclasses.replace(base, chunk=i, start_event=s, end_event=e, n_events=e - s + 1)
        for i, (s, e) in enumerate(event_ranges(events, per_job))
    ]


def _pseudo_rows(task: Task, ds: TaskDataset, codes: dict[str, str]) -> list[NewTaskFile]:
    """noInput: ceil(nEvents / nEventsPerJob) rows of one pseudo file, each an event range."""
    n_events = _int(codes, "NV") or 0
    per_job = _int(codes, "NE") or max(1, n_events)
    return [
        NewTaskFile(
            task_id=task.task_id,
            dataset_id=ds.dataset_id,
            scope=ds.scope,
            lfn=ds.name,
            status=lifecycle_taskfiles.F.READY,
            chunk=i,
            n_events=e - s + 1,
            start_event=s,
            end_event=e,
            max_attempt=task.spec.max_attempt,
            max_failure=_int(codes, "MA"),
        )
        for i, (s, e) in enumerate(event_ranges(n_events, per_job))
    ]


def _inputs(conn: Connection, task_id: int) -> list[TaskDataset]:
    return [d for d in tasks_db.datasets_of(conn, task_id) if d.type in INPUT_TYPES]


def feed_step(
    conn: Connection, task_id: int, now: datetime, limit: int, cursor: FeedCursor, settings: FeedSettings
) -> int:
    """Feed up to ``limit`` new rows of a defined (or mutable or still loading) task; returns how many
    files were read. When nothing is left to read the cursor is ``done`` (and a defined task finished);
    a defined task with one big input is finished after its first chunk."""
    if cursor.done:
        return 0
    task = tasks_db.get_task(conn, task_id, lock=True)
    if task is None or task.status not in _FEEDABLE:
        cursor.done = True
        return 0
    inputs = _inputs(conn, task_id)
    codes = _codes(task)
    early = task.status is TaskStatus.DEFINED and _early_start(inputs, settings)
    if early:
        limit = max(1, min(limit, settings.first_chunk - cursor.read))
    read = 0
    while cursor.position < len(inputs) and read < limit:
        ds = inputs[cursor.position]
        n, complete = _feed_dataset(conn, task, ds, codes, limit - read, cursor, now)
        read += n
        if complete:
            cursor.position, cursor.after = cursor.position + 1, None
    cursor.read += read
    partial = cursor.position < len(inputs)
    if partial and not (early and cursor.read >= settings.first_chunk):
        return read
    cursor.done = True
    if task.status is TaskStatus.DEFINED:
        cursor.outcome = _finish_definition(conn, task, inputs, now, settings, partial=partial)
    if not partial and cursor.outcome in ("", "ready"):
        _end_pass(conn, inputs, now, cursor)
    return read


def _early_start(inputs: Sequence[TaskDataset], settings: FeedSettings) -> bool:
    """A task with one catalog input may start after its first chunk (the rest is loaded later)."""
    return settings.first_chunk > 0 and len(inputs) == 1 and inputs[0].type is TaskDatasetType.INPUT


def _feed_dataset(
    conn: Connection,
    task: Task,
    ds: TaskDataset,
    codes: dict[str, str],
    limit: int,
    cursor: FeedCursor,
    now: datetime,
) -> tuple[int, bool]:
    """(files read, whether the dataset has nothing more now)."""
    if task.status is not TaskStatus.DEFINED and not (ds.mutable or ds.status is DS.TOUPDATE):
        return 0, True
    if ds.type is TaskDatasetType.PSEUDO_INPUT:
        if tf_db.fed_files(conn, ds.dataset_id) == 0:
            rows = _pseudo_rows(task, ds, codes)
            cursor.fed += lifecycle_taskfiles.add_files(conn, rows, now)
        return 0, True
    rec = catalog_db.get_did(conn, DID(ds.scope, ds.name))
    if ds.mutable and cursor.after is None:  # before this pass first reads it: will it still grow?
        is_open = rec is not None and rec.status is DatasetStatus.OPEN
        if input_stops(_parent(conn, task), exists=rec is not None, is_open=is_open):
            cursor.stopping.add(ds.dataset_id)
    if rec is None:
        return 0, True  # the definition step says why (broken, or a parent still to create it)
    page = task_feed.unfed_catalog_files(conn, DID(ds.scope, ds.name), ds.dataset_id, cursor.after, limit)
    rows = [row for f in page.unfed for row in _rows_of_file(task, ds, f, codes)]
    cursor.fed += lifecycle_taskfiles.add_files(conn, rows, now)
    cursor.after = page.last
    return page.read, page.read < limit


def _parent_task(conn: Connection, task: Task) -> Task | None:
    parent_id = task.spec.parent_task_id
    return None if parent_id is None else tasks_db.get_task(conn, parent_id)


def _parent(conn: Connection, task: Task) -> ParentState:
    parent = _parent_task(conn, task)
    return parent_state(None if parent is None else parent.status)


def _chained_start(conn: Connection, task: Task, inputs: Sequence[TaskDataset], now: datetime) -> str | None:
    """A defined child: None to go on with the definition, else what happened (waiting or broken)."""
    parent_id = task.spec.parent_task_id
    if parent_id is None or not inputs:
        return None
    parent = _parent_task(conn, task)
    fed = sum(d.n_files for d in _inputs(conn, task.task_id) if d.type is TaskDatasetType.INPUT)
    decision = start_child(
        parent_id,
        parent_state(None if parent is None else parent.status),
        "gone" if parent is None else parent.status.value,
        no_wait="NW" in _codes(task),
        fed_files=fed,
    )
    if decision.action is Start.WAIT:
        return f"waiting: {decision.reason}"
    if decision.action is Start.BREAK:
        return _hold(conn, task, inputs[0], TaskStatus.BROKEN, decision.reason, now)
    return None


def _finish_definition(
    conn: Connection,
    task: Task,
    inputs: Sequence[TaskDataset],
    now: datetime,
    settings: FeedSettings,
    *,
    partial: bool = False,
) -> str:
    """All inputs fed (or, ``partial``, the first chunk of the only one): scouts, output datasets in the
    catalog, datasets and task -> ready (or why not). A partially fed input is left ``toupdate``."""
    chained = _chained_start(conn, task, inputs, now)
    if chained is not None:
        return chained
    fresh = {d.dataset_id: d for d in _inputs(conn, task.task_id)}
    for ds in inputs:
        if ds.type is TaskDatasetType.PSEUDO_INPUT:
            continue
        if catalog_db.get_did(conn, DID(ds.scope, ds.name)) is None:
            if ds.mutable and _parent(conn, task) is ParentState.RUNNING:
                continue  # noWaitParent: the parent has not made it yet; fed as it comes
            return _hold(conn, task, ds, TaskStatus.BROKEN, f"input dataset {ds.did} does not exist", now)
        if fresh[ds.dataset_id].n_files == 0 and not ds.mutable:
            return _hold(conn, task, ds, TaskStatus.PENDING, f"input dataset {ds.did} is empty", now)
    master = inputs[0] if inputs else None
    if master is not None and settings.n_scouts > 0 and "SK" not in _codes(task):
        tf_db.mark_scouts(conn, master.dataset_id, settings.n_scouts)
    try:
        merging.add_transient_datasets(conn, task, now)  # mergeOutput: the pieces' trn datasets
        _register_outputs(conn, task, now)
    except (InvalidInput, Conflict) as exc:
        lifecycle_tasks.transition_task(conn, task.task_id, TaskStatus.BROKEN, now, f"output datasets: {exc}")
        return f"broken: {exc}"
    loading = {inputs[0].dataset_id} if partial else set()
    for ds in tasks_db.datasets_of(conn, task.task_id):
        target = DS.TOUPDATE if ds.dataset_id in loading else DS.READY
        lifecycle_tasks.transition_dataset(conn, ds.dataset_id, target, now)
    n = sum(fresh[d.dataset_id].n_files for d in inputs)
    more = "; the rest is loaded while its jobs run" if partial else ""
    lifecycle_tasks.transition_task(conn, task.task_id, TaskStatus.READY, now, f"{n} input rows fed{more}")
    return "ready"


def _hold(
    conn: Connection, task: Task, ds: TaskDataset, target: TaskStatus, reason: str, now: datetime
) -> str:
    if target is TaskStatus.BROKEN:
        lifecycle_tasks.transition_dataset(conn, ds.dataset_id, DS.BROKEN, now)
    lifecycle_tasks.transition_task(conn, task.task_id, target, now, reason)
    return f"{target.value}: {reason}"


def _register_outputs(conn: Connection, task: Task, now: datetime) -> None:
    """The TaskSetupper: each output and log dataset exists (open) in the catalog, its scope too."""
    outs = [d for d in tasks_db.datasets_of(conn, task.task_id) if d.type not in INPUT_TYPES]
    for scope in sorted({d.scope for d in outs}):
        catalog.add_scope(conn, scope, task.spec.owner_sub or task.spec.user_name, now)  # sub: the owner
    if outs:
        catalog.add_dids(conn, [(DID(d.scope, d.name), DIDType.DATASET) for d in outs], now)


def _end_pass(conn: Connection, inputs: Sequence[TaskDataset], now: datetime, cursor: FeedCursor) -> None:
    """After a full pass over every input: toupdate inputs are loaded (-> ready); mutable inputs seen
    not to grow before this pass read them stop being fed."""
    for ds in tasks_db.datasets_of(conn, inputs[0].task_id) if inputs else []:
        if ds.type not in INPUT_TYPES:
            continue
        if ds.status is DS.TOUPDATE:
            lifecycle_tasks.transition_dataset(conn, ds.dataset_id, DS.READY, now)
            cursor.loaded.append(ds.did)
        if ds.mutable and ds.dataset_id in cursor.stopping:
            tasks_db.update_dataset(conn, ds.dataset_id, now, {"mutable": False})
            cursor.mutable_closed.append(ds.did)


def tasks_to_feed(conn: Connection, limit: int) -> list[int]:
    """Defined tasks, then tasks with mutable inputs or inputs still being loaded (by id)."""
    defined = tasks_db.task_ids_in(conn, [TaskStatus.DEFINED], limit)
    mutable = task_feed.tasks_with_mutable_inputs(conn, sorted(_REFEED_STATES), limit)
    loading = tasks_db.tasks_with_datasets_in(conn, DS.TOUPDATE, sorted(_REFEED_STATES), limit)
    return sorted(set(defined) | set(mutable) | set(loading))[:limit]

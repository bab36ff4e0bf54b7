"""JEDI's PostProcessor: tasks whose work is over get their final status (states.md §2.2).

- A generating task (ready/scouting/scouted/running) whose master input files are all final (no row
  running or picked, none ready with attempts left), whose input is closed and fully loaded (not
  ``toupdate``), whose parent task (if any) is final and which has no active job -> ``prepared``.
- ``prepared`` and ``passed`` (a finished ``finish``) -> core.tasks.final_status: done / finished / failed,
  the error dialog saying how many input files failed and which.
- ``finishing`` with no active job -> ``passed`` (then final); ``aborting`` with no active job -> ``aborted``.
A final task's output and log datasets are closed in the catalog and its task datasets are ``done``;
a retry reopens them (reopen_outputs).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.chaining import ParentState, parent_state
from pandawms.core.data import DID
from pandawms.core.merging import TRANSIENT_TYPES
from pandawms.core.states import DatasetStatus
from pandawms.core.tasks import (
    GENERATING_STATES,
    INPUT_TYPES,
    FileCounts,
    TaskDatasetStatus,
    TaskDatasetType,
    TaskStatus,
    final_status,
    task_dataset_allowed,
)
from pandawms.core.taskspecs import Task, TaskDataset, split_codes
from pandawms.db import task_progress
from pandawms.db import tasks as tasks_db
from pandawms.services import catalog, lifecycle_tasks
from pandawms.services.activator import Batch
from pandawms.services.lifecycle import Outcome
from pandawms.services.lifecycle_tasks import TaskTransition

T = TaskStatus
D = TaskDatasetStatus
FAILED_NAMES_SHOWN = 5
FAIL_GOAL_UNREACHED = "FG"
_ENDING = frozenset({T.ABORTING, T.FINISHING})
_TO_FINALISE = frozenset({T.PREPARED, T.PASSED})
SCANNED: tuple[TaskStatus, ...] = tuple(sorted(GENERATING_STATES | _ENDING | _TO_FINALISE))
_OUTPUT_TYPES = frozenset({TaskDatasetType.OUTPUT, TaskDatasetType.LOG, *TRANSIENT_TYPES})


def postprocess(conn: Connection, now: datetime, limit: int, after: int = 0) -> Batch:
    """One batch of tasks in the scanned states, by id from ``after``; ``moved`` counts tasks that
    changed status."""
    ids = tasks_db.task_ids_in(conn, SCANNED, limit, after)
    moved = sum(1 for task_id in ids if _one(conn, task_id, now))
    return Batch(len(ids), moved, ids[-1] if ids else after)


def _one(conn: Connection, task_id: int, now: datetime) -> bool:
    task = tasks_db.get_task(conn, task_id, lock=True)
    if task is None:
        return False
    if task.status in _ENDING:
        ended = end_if_idle(conn, task_id, now)
        return ended is not None and ended.accepted
    if task.status in GENERATING_STATES:
        if not _work_over(conn, task):
            return False
        lifecycle_tasks.transition_task(
            conn, task_id, T.PREPARED, now, "every input file is final", only_from=GENERATING_STATES
        )
        task = tasks_db.get_task(conn, task_id)
        assert task is not None
    if task.status in _TO_FINALISE:
        return finalise(conn, task, now).accepted
    return False


def _masters(sets: list[TaskDataset]) -> list[TaskDataset]:
    return [d for d in sets if d.type in INPUT_TYPES and d.master_id is None]


def _work_over(conn: Connection, task: Task) -> bool:
    if task_progress.has_active_job(conn, task.task_id):
        return False
    if _parent_state(conn, task) is ParentState.RUNNING:
        return False  # a child ends after its parent (scheduling.md §11)
    sets = tasks_db.datasets_of(conn, task.task_id)
    masters = _masters(sets)
    if not masters or any(d.mutable or d.status is D.TOUPDATE for d in masters):
        return False  # nothing fed yet, a parent still adds files, or the contents are still loading
    progress = task_progress.master_progress(conn, [d.dataset_id for d in masters])
    # a child whose parent produced nothing for it ends too (failed: no input files)
    fed = progress.files > 0 or task.spec.parent_task_id is not None
    # mergeOutput: nor before the merge jobs of its pieces
    return fed and progress.busy == 0 and _pieces(conn, sets).pending == 0


def _parent_state(conn: Connection, task: Task) -> ParentState:
    if task.spec.parent_task_id is None:
        return ParentState.UNKNOWN
    parent = tasks_db.get_task(conn, task.spec.parent_task_id)
    return parent_state(None if parent is None else parent.status)


def _pieces(conn: Connection, sets: list[TaskDataset]) -> task_progress.PieceProgress:
    """mergeOutput: the task's pre-merge pieces to merge and never merged."""
    trn = [d.dataset_id for d in sets if d.type is TaskDatasetType.TRN_OUTPUT]
    return task_progress.piece_progress(conn, trn)


def end_if_idle(conn: Connection, task_id: int, now: datetime) -> TaskTransition | None:
    """``aborting`` -> ``aborted`` / ``finishing`` -> ``passed`` (then its final status) once no job of
    the task is active; None when the task is in neither state or still has jobs."""
    task = tasks_db.get_task(conn, task_id, lock=True)
    if task is None or task.status not in _ENDING or task_progress.has_active_job(conn, task_id):
        return None
    if task.status is T.ABORTING:
        why = f"{task.error_dialog or 'killed'}; no job left"
        moved = lifecycle_tasks.transition_task(conn, task_id, T.ABORTED, now, why, only_from=_ENDING)
        if moved.accepted:
            _close_outputs(conn, task_id, now)
        return moved
    moved = lifecycle_tasks.transition_task(
        conn, task_id, T.PASSED, now, "finished: no job left", only_from=_ENDING
    )
    passed = tasks_db.get_task(conn, task_id)
    return finalise(conn, passed, now) if moved.accepted and passed is not None else moved


def finalise(conn: Connection, task: Task, now: datetime) -> TaskTransition:
    """prepared/passed -> done/finished/failed by the §2.2 rule; outputs closed, datasets done."""
    sets = tasks_db.datasets_of(conn, task.task_id)
    masters = _masters(sets)
    ids = [d.dataset_id for d in masters]
    progress = task_progress.master_progress(conn, ids)
    counts = FileCounts(progress.files, progress.finished, progress.files - progress.finished)
    parent_done = _parent_done(conn, task)
    input_closed = not any(d.mutable for d in masters)
    target = final_status(
        counts,
        parent_done=parent_done,
        input_closed=input_closed,
        goal_per_mille=task.spec.goal,
        fail_goal_unreached=FAIL_GOAL_UNREACHED in split_codes(task.spec.split_rule),
    )
    lfns = task_progress.failed_lfns(conn, ids, FAILED_NAMES_SHOWN) if counts.failed else []
    verb = "failed" if task.status is T.PREPARED else "did not finish"
    reason = dialog(counts, lfns, verb, parent_done=parent_done, input_closed=input_closed)
    unmerged = _pieces(conn, sets).unmerged
    if unmerged:  # outputs the merge jobs could not merge: the output is not complete
        target = T.FINISHED if target is T.DONE else target
        reason += f"; {unmerged} pre-merge files could not be merged"
    moved = lifecycle_tasks.transition_task(conn, task.task_id, target, now, reason, only_from=_TO_FINALISE)
    if moved.accepted:
        _close_outputs(conn, task.task_id, now, sets)
    return moved


def dialog(
    counts: FileCounts, lfns: list[str], verb: str, *, parent_done: bool = True, input_closed: bool = True
) -> str:
    """The error dialog of a final task: ``3 of 20 input files failed: a, b, c``."""
    if counts.total == 0:
        return "no input files"
    if counts.failed == 0:
        text = f"all {counts.total} input files finished"
    else:
        more = counts.failed - len(lfns)
        names = ", ".join(lfns) + (f" and {more} more" if more > 0 else "")
        text = f"{counts.failed} of {counts.total} input files {verb}: {names}"
    if not parent_done:
        text += "; the parent task is not done"
    if not input_closed:
        text += "; the input is still open"
    return text


def _parent_done(conn: Connection, task: Task) -> bool:
    if task.spec.parent_task_id is None:
        return True
    parent = tasks_db.get_task(conn, task.spec.parent_task_id)
    return parent is not None and parent.status is T.DONE


def _close_outputs(
    conn: Connection, task_id: int, now: datetime, sets: list[TaskDataset] | None = None
) -> None:
    """Close the output and log datasets in the catalog (those it knows) and mark every task dataset
    done."""
    sets = tasks_db.datasets_of(conn, task_id) if sets is None else sets
    outputs = [DID(d.scope, d.name) for d in sets if d.type in _OUTPUT_TYPES]
    catalog.set_status(conn, outputs, DatasetStatus.CLOSED, now)
    for d in sets:
        for step in _path_to_done(d.status):
            lifecycle_tasks.transition_dataset(conn, d.dataset_id, step, now)


def _path_to_done(status: TaskDatasetStatus) -> tuple[TaskDatasetStatus, ...]:
    if status is D.DONE:
        return ()
    if task_dataset_allowed(status, D.DONE):
        return (D.DONE,)
    if task_dataset_allowed(status, D.READY):
        return (D.READY, D.DONE)
    return ()  # broken: stays as it is


def reopen_outputs(conn: Connection, task_id: int, now: datetime) -> int:
    """A retry: the output and log datasets open again in the catalog and the task datasets ``ready``;
    returns how many catalog datasets were reopened."""
    sets = tasks_db.datasets_of(conn, task_id)
    outputs = [DID(d.scope, d.name) for d in sets if d.type in _OUTPUT_TYPES]
    moves = catalog.set_status(conn, outputs, DatasetStatus.OPEN, now)
    reopened = sum(1 for _did, t in moves if t.outcome is Outcome.ACCEPTED)
    for d in sets:
        if d.status is D.DONE:
            lifecycle_tasks.transition_dataset(conn, d.dataset_id, D.READY, now)
    return reopened

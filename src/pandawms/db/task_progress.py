"""Read queries of task progress for the control agents (post-processing, scouts, commands): master
input files by outcome, the task's active jobs, its ended scout jobs. Read only: task_files rows are
written by the engine's services/lifecycle_taskfiles.py.

A master input *file* may be cut into several rows (event-range chunks): it is finished when every chunk
is, and counts as failed otherwise once nothing is left to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select

from pandawms.core.ids import PandaID
from pandawms.core.states import ACTIVE_STATES, JobStatus
from pandawms.core.tasks import TaskFileStatus
from pandawms.db.schema import jobs, task_files

F = TaskFileStatus
SCOUT_FLAG = "sj"


@dataclass(frozen=True, slots=True)
class MasterProgress:
    """Master input files of a task: all, finished (every chunk), with work left (a row running, picked,
    or ready/partial with attempts left)."""

    files: int
    finished: int
    busy: int

    @property
    def failed(self) -> int:
        """Files that did not finish (when ``busy`` is 0: no job will try them again)."""
        return self.files - self.finished - self.busy


def _runnable() -> ColumnElement[bool]:
    tf = task_files.c
    return and_(
        tf.status.in_([F.READY.value, F.PARTIAL.value]),
        tf.attempt_nr < tf.max_attempt,
        or_(tf.max_failure.is_(None), tf.failed_attempt < tf.max_failure),
    )


def master_progress(conn: Connection, dataset_ids: Sequence[int]) -> MasterProgress:
    """Progress over the master input datasets ``dataset_ids`` (one pass over ``ux_task_files_file``)."""
    if not dataset_ids:
        return MasterProgress(0, 0, 0)
    tf = task_files.c
    busy_row = or_(tf.status.in_([F.RUNNING.value, F.PICKED.value]), _runnable())
    per_file = (
        select(
            func.sum(case((tf.status == F.FINISHED.value, 0), else_=1)).label("not_ok"),
            func.sum(case((busy_row, 1), else_=0)).label("busy"),
        )
        .where(tf.dataset_id.in_(dataset_ids))
        .group_by(tf.dataset_id, tf.scope, tf.lfn)
        .subquery()
    )
    stmt = select(
        func.count(),
        func.coalesce(func.sum(case((per_file.c.not_ok == 0, 1), else_=0)), 0),
        func.coalesce(func.sum(case((per_file.c.busy > 0, 1), else_=0)), 0),
    ).select_from(per_file)
    files, finished, busy = conn.execute(stmt).one()
    return MasterProgress(int(files), int(finished), int(busy))


def failed_lfns(conn: Connection, dataset_ids: Sequence[int], limit: int) -> list[str]:
    """Some master input files that did not finish (for the error dialog), in key order."""
    if not dataset_ids:
        return []
    tf = task_files.c
    stmt = (
        select(tf.lfn)
        .where(tf.dataset_id.in_(dataset_ids), tf.status != F.FINISHED.value)
        .group_by(tf.dataset_id, tf.scope, tf.lfn)
        .order_by(tf.dataset_id, tf.scope, tf.lfn)
        .limit(limit)
    )
    return [str(r[0]) for r in conn.execute(stmt)]


def active_jobs(conn: Connection, task_id: int) -> list[tuple[PandaID, JobStatus]]:
    """The task's jobs that have not ended, by PandaID (``ix_jobs_task_id``)."""
    stmt = (
        select(jobs.c.panda_id, jobs.c.job_status)
        .where(jobs.c.task_id == task_id, jobs.c.job_status.in_([s.value for s in ACTIVE_STATES]))
        .order_by(jobs.c.panda_id)
    )
    return [(PandaID(int(r[0])), JobStatus(r[1])) for r in conn.execute(stmt)]


def has_active_job(conn: Connection, task_id: int) -> bool:
    stmt = (
        select(jobs.c.panda_id)
        .where(jobs.c.task_id == task_id, jobs.c.job_status.in_([s.value for s in ACTIVE_STATES]))
        .limit(1)
    )
    return conn.execute(stmt).first() is not None


def ended_scout_ids(conn: Connection, task_id: int, statuses: Sequence[JobStatus]) -> list[PandaID]:
    """The task's scout jobs (specialHandling contains ``sj``) that ended in ``statuses``."""
    stmt = (
        select(jobs.c.panda_id, jobs.c.special_handling)
        .where(jobs.c.task_id == task_id, jobs.c.job_status.in_([s.value for s in statuses]))
        .order_by(jobs.c.panda_id)
    )
    return [PandaID(int(r[0])) for r in conn.execute(stmt) if SCOUT_FLAG in (r[1] or "").split(",")]


@dataclass(frozen=True, slots=True)
class PieceProgress:
    """A mergeOutput task's pre-merge pieces: still to merge or being merged (prepared, merging), and
    produced but never merged (failed after merge attempts; a piece whose own job failed was never
    produced and does not count: its input file is retried)."""

    pending: int
    unmerged: int


def piece_progress(conn: Connection, dataset_ids: Sequence[int]) -> PieceProgress:
    """Over the task's transient (trn_output) datasets ``dataset_ids``."""
    if not dataset_ids:
        return PieceProgress(0, 0)
    tf = task_files.c
    pending = tf.status.in_([F.PREPARED.value, F.MERGING.value])
    unmerged = and_(tf.status == F.FAILED.value, tf.attempt_nr > 0)
    stmt = select(
        func.coalesce(func.sum(case((pending, 1), else_=0)), 0),
        func.coalesce(func.sum(case((unmerged, 1), else_=0)), 0),
    ).where(tf.dataset_id.in_(dataset_ids))
    n_pending, n_unmerged = conn.execute(stmt).one()
    return PieceProgress(int(n_pending), int(n_unmerged))

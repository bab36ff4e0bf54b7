"""The ONLY code that writes task_files.status (JEDI's contents, states.md §4).

Every change follows core.tasks.TASK_FILE_TRANSITIONS and is a compare-and-set on the expected status in
the caller's transaction; a bulk change that finds fewer rows than it expects raises Conflict, so the
transaction rolls back and no file is used twice or lost. The dataset counters move in the same
transaction: ``n_files_used``/``n_events_used`` count rows running or ended (a row back to ready is no
longer used), ``n_files_finished``/``n_files_failed`` the ended ones.

This module does not import services/lifecycle.py (the job writer calls ``job_ended`` from there).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.errors import Conflict
from pandawms.core.retry import is_system_closure
from pandawms.core.retry_rules import DEFAULT_RULES, FileAttempt, JobOutcome, RamPolicy, after_job, match
from pandawms.core.specs import JobErrors
from pandawms.core.states import JobStatus
from pandawms.core.tasks import INPUT_TYPES, TaskDatasetType, TaskFileStatus, task_file_allowed
from pandawms.core.taskspecs import TaskDataset, split_codes
from pandawms.db import jobs as jobs_db
from pandawms.db import task_files as tf_db
from pandawms.db import tasks as tasks_db
from pandawms.db.task_files import NewTaskFile, RowChange, TaskFileRow
from pandawms.services import retry_effects

F = TaskFileStatus
_JOB_OUTCOME = {
    JobStatus.FINISHED: JobOutcome.FINISHED,
    JobStatus.FAILED: JobOutcome.FAILED,
    JobStatus.CLOSED: JobOutcome.CLOSED,
    JobStatus.CANCELLED: JobOutcome.CANCELLED,
}


def _check(current: TaskFileStatus, *path: TaskFileStatus) -> None:
    for a, b in zip((current, *path), path, strict=False):
        if not task_file_allowed(a, b):
            raise Conflict(f"task file cannot go from {a.value} to {b.value}")


def _require(changed: int, expected: int, what: str) -> None:
    if changed != expected:
        raise Conflict(f"{what}: {expected - changed} of {expected} task files changed concurrently")


@dataclass
class _Counts:
    """Per dataset counter deltas, written once per dataset."""

    deltas: dict[int, dict[str, int]]

    @classmethod
    def new(cls) -> _Counts:
        return cls(defaultdict(lambda: defaultdict(int)))

    def add(self, dataset_id: int, **delta: int) -> None:
        for k, v in delta.items():
            self.deltas[dataset_id][k] += v

    def write(self, conn: Connection, now: datetime) -> None:
        for dataset_id in sorted(self.deltas):  # a fixed order: concurrent writers never deadlock
            tf_db.add_counts(conn, dataset_id, now, **self.deltas[dataset_id])


# -- creation ------------------------------------------------------------------------------------------


def add_files(conn: Connection, rows: Sequence[NewTaskFile], now: datetime) -> int:
    """Insert input rows ``ready`` (the ContentsFeeder); rows already fed are skipped. Returns how many were
    new and adds them to their datasets' n_files / n_events."""
    for r in rows:
        if r.status is not F.READY:
            raise Conflict(f"an input row starts ready, not {r.status.value}")
    inserted = tf_db.insert_files(conn, rows, now)
    if inserted == len(rows):  # the usual case: the feeder read only unfed files
        counts = _Counts.new()
        for r in rows:
            counts.add(r.dataset_id, n_files=1, n_events=r.n_events)
        counts.write(conn, now)
    elif inserted:
        for dataset_id in sorted({r.dataset_id for r in rows}):
            recount(conn, dataset_id, now)
    return inserted


def recount(conn: Connection, dataset_id: int, now: datetime) -> None:
    """Set a dataset's n_files / n_events from its rows (after a partly skipped insert)."""
    by_status = tf_db.counts(conn, dataset_id)
    ds = tasks_db.get_dataset(conn, dataset_id)
    if ds is None:
        return
    n = sum(c for c, _e in by_status.values())
    events = sum(e for _c, e in by_status.values())
    tf_db.add_counts(conn, dataset_id, now, n_files=n - ds.n_files, n_events=events - ds.n_events)


def start_files(conn: Connection, pairs: Sequence[tuple[TaskFileRow, int]], now: datetime) -> None:
    """Input rows taken by new jobs (the JobGenerator): ready -> (picked) -> running with the job's
    PandaID, in one write. Every row must still be ready, else Conflict (the caller's transaction, with
    the jobs it created, rolls back)."""
    _check(F.READY, F.PICKED, F.RUNNING)
    changed = tf_db.start_rows(conn, [(r.file_id, pid) for r, pid in pairs], F.READY, F.RUNNING, now)
    _require(changed, len(pairs), "start_files")
    counts = _Counts.new()
    for r, _pid in pairs:
        counts.add(r.dataset_id, n_files_used=1, n_events_used=_events(r))
    counts.write(conn, now)


def add_outputs(conn: Connection, rows: Sequence[NewTaskFile], now: datetime) -> None:
    """Output and log rows of new jobs: created ``defined`` -> ``running`` with their job's PandaID."""
    _check(F.DEFINED, F.RUNNING)
    for r in rows:
        if r.status is not F.RUNNING or r.panda_id is None:
            raise Conflict(f"output {r.lfn}: an output row is created running with its job")
    _require(tf_db.insert_files(conn, rows, now), len(rows), "add_outputs")
    counts = _Counts.new()
    for r in rows:
        counts.add(r.dataset_id, n_files=1)
    counts.write(conn, now)


def start_merge(conn: Connection, pairs: Sequence[tuple[TaskFileRow, int]], now: datetime) -> None:
    """Pre-merge pieces taken by new merge jobs: prepared -> merging with the merge job's PandaID (every
    piece must still be prepared, else Conflict and the caller's transaction rolls back)."""
    _check(F.PREPARED, F.MERGING)
    changed = tf_db.start_rows(conn, [(r.file_id, pid) for r, pid in pairs], F.PREPARED, F.MERGING, now)
    _require(changed, len(pairs), "start_merge")
    counts = _Counts.new()
    for r, _pid in pairs:
        counts.add(r.dataset_id, n_files_used=1)
    counts.write(conn, now)


# -- job end -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilesEnded:
    """What a job's end did to its rows."""

    finished: int = 0
    ready: int = 0  # inputs back for a new job
    failed: int = 0
    outputs: int = 0
    reasons: tuple[str, ...] = ()  # one per input row (core.retry_rules.after_job)
    reduce_input: bool = False
    increase_cputime: bool = False
    pieces: int = 0  # pre-merge pieces a merge job took


def _events(r: TaskFileRow) -> int:
    if r.start_event is not None and r.end_event is not None:
        return r.end_event - r.start_event + 1
    return r.n_events


def _ram_policy(conn: Connection, task_id: int) -> RamPolicy:
    task = tasks_db.get_task(conn, task_id)
    if task is None:
        return RamPolicy()
    codes = split_codes(task.spec.split_rule)
    return RamPolicy(base=task.spec.ram_count, offset=int(codes.get("RX", 0)), step=int(codes.get("RY", 0)))


def _system_closure(conn: Connection, panda_id: int) -> bool:
    job = jobs_db.get_job(conn, panda_id)
    return job is not None and is_system_closure(job.errors)


def job_ended(conn: Connection, panda_id: int, status: JobStatus, now: datetime) -> FilesEnded:
    """Flow step 4: a task job reached a final ``status``. Its running input rows go finished, ready
    (attempt + 1, failure + 1 if it failed - not a system closure, which counts as closed - ramCount
    raised by the retry rule) or failed (out of attempts), per core.retry_rules.after_job; its outputs
    finished (a pre-merge piece: prepared) or failed; the pieces a merge job took finished, or back to
    prepared (failed when out of attempts). A job without rows (already accounted, or not a task job)
    changes nothing."""
    mine = tf_db.rows_of_job(conn, panda_id)
    rows = [r for r in mine if r.status is F.RUNNING]
    pieces = [r for r in mine if r.status is F.MERGING]
    outcome = _JOB_OUTCOME.get(status)
    if not (rows or pieces) or outcome is None:
        return FilesEnded()
    if outcome is JobOutcome.FAILED and _system_closure(conn, panda_id):
        outcome = JobOutcome.CLOSED  # lost in dispatch: an attempt, not a failure (core/retry.py)
    task_id = (rows or pieces)[0].task_id
    kinds = {d.dataset_id: d.type for d in tasks_db.datasets_of(conn, task_id)}
    inputs = [r for r in rows if kinds.get(r.dataset_id) in INPUT_TYPES]
    outputs = [r for r in rows if kinds.get(r.dataset_id) not in INPUT_TYPES]
    counts = _Counts.new()
    ended = _inputs_ended(conn, panda_id, task_id, inputs, outcome, counts)
    changes = list(ended.changes)
    changes += [_output_change(r, kinds.get(r.dataset_id), outcome, counts) for r in outputs]
    changes += [_piece_change(r, outcome, counts) for r in pieces]
    _require(tf_db.write_changes(conn, changes, now), len(changes), f"job {panda_id} end")
    counts.write(conn, now)
    by = [c.status for c in ended.changes]
    result = FilesEnded(
        finished=by.count(F.FINISHED),
        ready=by.count(F.READY),
        failed=by.count(F.FAILED),
        outputs=len(outputs),
        reasons=ended.reasons,
        reduce_input=ended.reduce_input,
        increase_cputime=ended.increase_cputime,
        pieces=len(pieces),
    )
    if result.reduce_input or result.increase_cputime:
        retry_effects.apply(
            conn, task_id, panda_id, inputs, result.reduce_input, result.increase_cputime, now
        )
    return result


@dataclass(frozen=True, slots=True)
class _InputsEnded:
    changes: tuple[RowChange, ...] = ()
    reasons: tuple[str, ...] = ()
    reduce_input: bool = False
    increase_cputime: bool = False


def _inputs_ended(
    conn: Connection,
    panda_id: int,
    task_id: int,
    inputs: Sequence[TaskFileRow],
    outcome: JobOutcome,
    counts: _Counts,
) -> _InputsEnded:
    """The input rows' changes per core.retry_rules.after_job, and the rule's task-level effects."""
    if not inputs:
        return _InputsEnded()
    errors = JobErrors()
    ram = RamPolicy()
    if outcome is JobOutcome.FAILED:
        job = jobs_db.get_job(conn, panda_id)
        errors = job.errors if job is not None else errors
        ram = _ram_policy(conn, task_id)
    rule = match(DEFAULT_RULES, errors) if outcome is JobOutcome.FAILED else None
    changes: list[RowChange] = []
    reasons: list[str] = []
    reduce_input = increase_cputime = False
    for r in inputs:
        attempt = FileAttempt(r.attempt_nr, r.max_attempt, r.failed_attempt, r.max_failure, r.ram_count)
        d = after_job(attempt, outcome, rule, ram)
        target = F(d.status.value)
        _check(F.RUNNING, target)
        changes.append(
            RowChange(
                r.file_id, F.RUNNING, target, d.attempt_nr, d.failed_attempt, d.max_attempt, d.ram_count
            )
        )
        reasons.append(d.reason)
        reduce_input |= d.reduce_input
        increase_cputime |= d.increase_cputime
        _count_input(counts, r, target)
    return _InputsEnded(tuple(changes), tuple(reasons), reduce_input, increase_cputime)


def _output_change(
    r: TaskFileRow, kind: TaskDatasetType | None, outcome: JobOutcome, counts: _Counts
) -> RowChange:
    """An output or log row of an ended job: finished (a pre-merge piece: prepared, to be merged) or
    failed."""
    if outcome is not JobOutcome.FINISHED:
        target = F.FAILED
    else:
        target = F.PREPARED if kind is TaskDatasetType.TRN_OUTPUT else F.FINISHED
    _check(F.RUNNING, target)
    if target in _ENDED_COUNTER:
        counts.add(r.dataset_id, **{_ENDED_COUNTER[target]: 1})
    return RowChange(r.file_id, F.RUNNING, target, r.attempt_nr, 0, r.max_attempt, 0)


def _piece_change(r: TaskFileRow, outcome: JobOutcome, counts: _Counts) -> RowChange:
    """A piece its merge job took: finished with the job, else back to prepared with an attempt counted
    (failed when none is left: the piece will never be merged)."""
    if outcome is JobOutcome.FINISHED:
        target, attempt = F.FINISHED, r.attempt_nr
    else:
        attempt = r.attempt_nr + 1
        target = F.FAILED if attempt >= r.max_attempt else F.PREPARED
    _check(F.MERGING, target)
    if target is F.PREPARED:
        counts.add(r.dataset_id, n_files_used=-1)
    else:
        counts.add(r.dataset_id, **{_ENDED_COUNTER[target]: 1})
    failed = r.failed_attempt + (outcome is JobOutcome.FAILED)
    return RowChange(r.file_id, F.MERGING, target, attempt, failed, r.max_attempt, r.ram_count)


_ENDED_COUNTER = {F.FINISHED: "n_files_finished", F.FAILED: "n_files_failed"}


def _count_input(counts: _Counts, r: TaskFileRow, target: TaskFileStatus) -> None:
    if target is F.READY:  # no longer used: back in the pool
        counts.add(r.dataset_id, n_files_used=-1, n_events_used=-_events(r))
    else:
        counts.add(r.dataset_id, **{_ENDED_COUNTER[target]: 1})


def release_job(conn: Connection, panda_id: int, now: datetime) -> int:
    """A job that never ran (created failed by brokerage: no queue can run it) gives its inputs back
    ``ready`` with no attempt charged and its outputs ``failed``; returns how many inputs came back."""
    rows = [r for r in tf_db.rows_of_job(conn, panda_id) if r.status is F.RUNNING]
    if not rows:
        return 0
    kinds = {d.dataset_id: d.type for d in tasks_db.datasets_of(conn, rows[0].task_id)}
    changes: list[RowChange] = []
    counts = _Counts.new()
    n_inputs = 0
    for r in rows:
        is_input = kinds.get(r.dataset_id) in INPUT_TYPES
        target = F.READY if is_input else F.FAILED
        _check(F.RUNNING, target)
        changes.append(
            RowChange(
                r.file_id, F.RUNNING, target, r.attempt_nr, r.failed_attempt, r.max_attempt, r.ram_count
            )
        )
        if is_input:
            n_inputs += 1
            _count_input(counts, r, target)
        else:
            counts.add(r.dataset_id, n_files_failed=1)
    _require(tf_db.write_changes(conn, changes, now), len(changes), f"job {panda_id} release")
    counts.write(conn, now)
    return n_inputs


# -- task commands and the watchdog --------------------------------------------------------------------


def retry_failed_files(conn: Connection, task_id: int, extra_attempts: int, now: datetime) -> int:
    """A task retry (states.md §2.1): the task's failed input rows go back ``ready`` with maxAttempt (and
    maxFailure, when set) raised to allow ``extra_attempts`` more attempts; returns how many."""
    if extra_attempts < 1:
        raise ValueError(f"extra_attempts must be >= 1, got {extra_attempts}")
    _check(F.FAILED, F.READY)
    datasets = [d for d in tasks_db.datasets_of(conn, task_id) if d.type in INPUT_TYPES]
    total = 0
    for ds in datasets:
        total += _retry_dataset(conn, ds, extra_attempts, now)
    return total


_RETRY_PAGE = 5000


def _retry_dataset(conn: Connection, ds: TaskDataset, extra: int, now: datetime) -> int:
    total = 0
    for _ in range(ds.n_files // _RETRY_PAGE + 1):  # bounded: each page leaves failed for good
        rows = tf_db.failed_rows(conn, ds.dataset_id, _RETRY_PAGE)
        changes = [
            RowChange(
                r.file_id,
                F.FAILED,
                F.READY,
                r.attempt_nr,
                r.failed_attempt,
                max(r.max_attempt, r.attempt_nr + extra),
                r.ram_count,
                None if r.max_failure is None else max(r.max_failure, r.failed_attempt + extra),
            )
            for r in rows
        ]
        _require(tf_db.write_changes(conn, changes, now), len(changes), "retry_failed_files")
        tf_db.add_counts(
            conn,
            ds.dataset_id,
            now,
            n_files_failed=-len(rows),
            n_files_used=-len(rows),
            n_events_used=-sum(_events(r) for r in rows),
        )
        total += len(rows)
        if len(rows) < _RETRY_PAGE:
            break
    return total


def rescue_picked(conn: Connection, older_than: datetime, now: datetime, limit: int = 1000) -> int:
    """Rows left ``picked`` since before ``older_than`` (a generator that died between picking and
    creating the job) go back to ``ready``; returns how many. Picked rows were never counted as used."""
    _check(F.PICKED, F.READY)
    return len(tf_db.release_rows(conn, F.PICKED, F.READY, now, older_than=older_than, limit=limit))


def counts_by_status(conn: Connection, dataset_ids: Iterable[int]) -> dict[int, dict[TaskFileStatus, int]]:
    """Rows per status of each dataset (exact, from the rows)."""
    return {i: {s: n for s, (n, _e) in tf_db.counts(conn, i).items()} for i in dataset_ids}

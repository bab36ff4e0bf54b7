"""The ONLY code that changes a job's status: creation, transitions and the dispatch claim.

Each change is checked against core.states.JOB_TRANSITIONS, written with compare-and-set under the row
lock and recorded in job_status_history in the same transaction. Repeats are no-ops; refusals carry
the reason and the current status.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from pandawms.core.changes import NO_CHANGE, JobChange, NewJob, WorkerChange
from pandawms.core.commands import PilotCommand
from pandawms.core.dispatch import ClaimCriteria
from pandawms.core.errors import NotFound
from pandawms.core.ids import PandaID
from pandawms.core.rules import NO_RULE, Plan, Rule, plan_transition, rule_for
from pandawms.core.specs import FileSpec, Job
from pandawms.core.states import (
    FINAL_STATES,
    JobStatus,
    WorkerStatus,
    is_allowed,
    worker_allowed,
    worker_stamps,
)
from pandawms.db import claims as claims_db
from pandawms.db import heartbeats as heartbeats_db
from pandawms.db import job_reports as reports_db
from pandawms.db import jobs as jobs_db
from pandawms.db import workers as workers_db
from pandawms.db.jobs import HistoryEntry, StatusRow
from pandawms.db.rows import new_job_row
from pandawms.services import lifecycle_taskfiles


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOOP = "noop"


@dataclass(frozen=True, slots=True)
class TransitionResult:
    outcome: Outcome
    current: JobStatus
    previous: JobStatus
    reason: str = ""
    attempt_nr: int = 0
    command_to_pilot: str = ""
    retry_due: bool = False  # the rule of this transition asks for a retry decision (termination.end_job)
    raced: bool = False  # rejected because the job changed since ``locked`` was read (nothing written)

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


@dataclass(frozen=True, slots=True)
class Move:
    """A requested status change: target (through ``via``), why, by whom, and what else to write.

    ``only_from`` narrows the table for callers acting on a state they just read (watchdogs): a job that
    moved on in between is refused instead of being changed.
    """

    target: JobStatus
    reason: str = ""
    host: str = ""
    change: JobChange = NO_CHANGE
    via: tuple[JobStatus, ...] = ()
    only_from: frozenset[JobStatus] | None = None


@dataclass(frozen=True, slots=True)
class ImportedJob:
    """A historical job row with its columns as they were (``panda seed``; a future PanDA importer)."""

    status: JobStatus
    columns: Mapping[str, Any]
    files: Sequence[FileSpec] = ()
    reason: str = "imported"
    via: tuple[JobStatus, ...] = ()


def create_jobs(conn: Connection, new_jobs: Sequence[NewJob], now: datetime, host: str = "") -> list[PandaID]:
    """Insert jobs in their initial status, recording every state of ``via`` + status in the history.

    Creating a brokered job directly as activated (via defined) saves an UPDATE per job while keeping
    the history and the transition table honest. The rules' time stamps apply (a job created failed has
    its end time); a job failed at creation (by brokerage) has run nowhere and gets no retry.
    """
    rows = []
    for nj in new_jobs:
        rule = _check_path((*nj.via, nj.status))
        rows.append(new_job_row(nj, now, now if rule.stamp_end else None))
    return _insert(
        conn, rows, [(nj.spec.files, nj.reason, (*nj.via, nj.status)) for nj in new_jobs], now, host
    )


def import_jobs(
    conn: Connection, jobs: Sequence[ImportedJob], now: datetime, host: str = ""
) -> list[PandaID]:
    """Insert historical rows as they are (their own times), with their path of states in the history."""
    rows = []
    for j in jobs:
        _check_path((*j.via, j.status))
        rows.append({"creation_time": now, "modification_time": now, "state_change_time": now, **j.columns})
        rows[-1]["job_status"] = j.status.value
    return _insert(conn, rows, [(j.files, j.reason, (*j.via, j.status)) for j in jobs], now, host)


def _insert(
    conn: Connection,
    rows: list[dict[str, Any]],
    meta: Sequence[tuple[Sequence[FileSpec], str, tuple[JobStatus, ...]]],
    now: datetime,
    host: str,
) -> list[PandaID]:
    ids = jobs_db.insert_jobs(conn, rows)
    jobs_db.insert_files(
        conn, ((pid, f) for pid, (files, _, _) in zip(ids, meta, strict=True) for f in files)
    )
    entries: list[HistoryEntry] = []
    for pid, (_, reason, path) in zip(ids, meta, strict=True):
        entries.extend(
            HistoryEntry(
                pid, st.value, path[i - 1].value if i else "", now, host, reason if i == len(path) - 1 else ""
            )
            for i, st in enumerate(path)
        )
    jobs_db.insert_history(conn, entries)
    return ids


def _check_path(path: tuple[JobStatus, ...]) -> Rule:
    for a, b in itertools.pairwise(path):
        if not is_allowed(a, b):
            raise ValueError(f"invalid creation path {a.value} -> {b.value}")
    return rule_for(path[-2], path[-1]) if len(path) > 1 else NO_RULE


def plan_for(row: StatusRow, move: Move) -> Plan:
    """What ``move`` would do to the locked job (core.rules): its path and rule, or why not. Callers that must
    write something before the transition (the Adder's outputs) check this first."""
    kill_pending = row.command_to_pilot == PilotCommand.TOBEKILLED
    return plan_transition(
        row.status, move.target, move.via, kill_pending=kill_pending, only_from=move.only_from
    )


def transition(
    conn: Connection, panda_id: int, move: Move, now: datetime, *, locked: StatusRow | None = None
) -> TransitionResult:
    """Apply ``move`` to one job under core.rules; NotFound if there is no such job.

    Every step of current -> via... -> target must be in the table; the job is written once and each
    step gets its history row (a pilot's final update is running -> holding -> finished in one write).
    A pending kill redirects an ending to cancelled, and the rule's time stamps are added. ``locked`` is
    the row the caller already locked with ``db.jobs.lock_status`` in this transaction, or read without a
    lock (``db.jobs.read_status``): the write is a compare-and-set on its status either way, and a job that
    changed since is rejected with ``raced`` set and nothing written. A task's job
    reaching a final state updates its task files in the same transaction (lifecycle_taskfiles).
    """
    row = locked or jobs_db.lock_status(conn, panda_id)
    if row is None:
        raise NotFound(f"job {panda_id} not found")
    current = row.status

    def result(
        outcome: Outcome, status: JobStatus, why: str, retry: bool = False, raced: bool = False
    ) -> TransitionResult:
        return TransitionResult(
            outcome, status, current, why, row.attempt_nr, row.command_to_pilot, retry, raced
        )

    if current is move.target and not move.via:
        return result(Outcome.NOOP, current, f"job {panda_id} is already {current.value}")
    plan = plan_for(row, move)
    if plan.refusal:
        return result(Outcome.REJECTED, current, f"job {panda_id} {plan.refusal}")
    target = plan.target
    change = move.change.stamped(
        start=now if plan.rule.stamp_start else None, end=now if plan.rule.stamp_end else None
    )
    history = [
        HistoryEntry(PandaID(panda_id), b.value, a.value, now, move.host, move.reason if b is target else "")
        for a, b in itertools.pairwise(plan.path)
    ]
    if not jobs_db.write_status(conn, panda_id, current, target, now, change, history):
        return result(Outcome.REJECTED, current, f"job {panda_id} changed concurrently", raced=True)
    if row.task_id is not None and target in FINAL_STATES:  # flow step 4: the task's files follow
        lifecycle_taskfiles.job_ended(conn, panda_id, target, now)
    return result(Outcome.ACCEPTED, target, move.reason, plan.rule.retry and target is JobStatus.FAILED)


def update_job_fields(
    conn: Connection, panda_id: int, change: JobChange, now: datetime, expected: JobStatus | None = None
) -> bool:
    """Write a change without a status change (heartbeat, pending kill, brokerage diagnostics); with
    ``expected``, only while the job is in that status. True when written."""
    return jobs_db.update_fields(conn, panda_id, change, now, expected)


def update_many_job_fields(conn: Connection, changes: Sequence[tuple[int, JobChange]], now: datetime) -> None:
    """``update_job_fields`` for many jobs at once (a factory's bulk heartbeats)."""
    heartbeats_db.update_fields_many(conn, changes, now)


def set_file_states(conn: Connection, panda_id: int, files: Sequence[FileSpec]) -> None:
    """Write the status of a job's file rows as given (core.states.FileState: inputs ready/pending/missing,
    outputs transferring/ready/failed); rows with no status given are left as they are."""
    states = [(f.lfn, f.type.value, f.status) for f in files if f.status]
    reports_db.write_file_states(conn, panda_id, states)


def claim_for_dispatch(
    conn: Connection, criteria: ClaimCriteria, n_jobs: int, now: datetime, host: str, pilot_id: str = ""
) -> list[Job]:
    """activated -> sent for up to n matching jobs, atomically; each job is handed out at most once.
    Returns the claimed jobs (as written, with their files)."""
    assert is_allowed(JobStatus.ACTIVATED, JobStatus.SENT)
    return claims_db.claim_activated(conn, criteria, n_jobs, now, host, pilot_id, reason="dispatched")


# -- factory workers -----------------------------------------------------------------------------------


def create_workers(
    conn: Connection, harvester_id: str, queue: str, n: int, now: datetime, request_id: str | None = None
) -> list[int]:
    """New workers start as submitted."""
    return workers_db.insert_workers(conn, harvester_id, queue, n, now, request_id)


def transition_worker(
    conn: Connection,
    worker_id: int,
    target: WorkerStatus,
    now: datetime,
    change: WorkerChange = WorkerChange(),
) -> tuple[Outcome, WorkerStatus, str]:
    """Move one worker along WORKER_TRANSITIONS; NotFound if unknown. Returns (outcome, status, reason)."""
    row = workers_db.lock_worker(conn, worker_id)
    if row is None:
        raise NotFound(f"worker {worker_id} not found")
    if row.status is target:
        return Outcome.NOOP, target, f"worker {worker_id} is already {target.value}"
    if not worker_allowed(row.status, target):
        return (
            Outcome.REJECTED,
            row.status,
            f"worker {worker_id} cannot go from {row.status.value} to {target.value}",
        )
    stamps = worker_stamps(target)
    if not workers_db.write_status(conn, worker_id, row.status, target, now, change, stamps):
        return Outcome.REJECTED, row.status, f"worker {worker_id} changed concurrently"
    return Outcome.ACCEPTED, target, ""

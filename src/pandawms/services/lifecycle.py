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

from pandawms.core.dispatch import ClaimCriteria
from pandawms.core.errors import NotFound
from pandawms.core.ids import PandaID
from pandawms.core.specs import FileSpec
from pandawms.core.states import JobStatus, WorkerStatus, is_allowed, worker_allowed
from pandawms.db import jobs as jobs_db
from pandawms.db import workers as workers_db
from pandawms.db.jobs import HistoryEntry, StatusRow


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

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job row to create: its columns (from db.rows.spec_to_row plus lineage) and files."""

    status: JobStatus
    columns: Mapping[str, Any]
    files: Sequence[FileSpec] = ()
    reason: str = "submitted"
    via: tuple[JobStatus, ...] = ()  # states passed through on the way to ``status`` (e.g. defined)


def create_jobs(conn: Connection, new_jobs: Sequence[NewJob], now: datetime, host: str = "") -> list[PandaID]:
    """Insert jobs in their initial status, recording every state of ``via`` + status in the history.

    Creating a brokered job directly as activated (via defined) saves an UPDATE per job while keeping
    the history and the transition table honest.
    """
    for nj in new_jobs:
        _check_path((*nj.via, nj.status))
    rows = [
        {
            **nj.columns,
            "job_status": nj.status.value,
            "creation_time": now,
            "modification_time": now,
            "state_change_time": now,
        }
        for nj in new_jobs
    ]
    ids = jobs_db.insert_jobs(conn, rows)
    jobs_db.insert_files(conn, ((pid, f) for pid, nj in zip(ids, new_jobs, strict=True) for f in nj.files))
    entries: list[HistoryEntry] = []
    for pid, nj in zip(ids, new_jobs, strict=True):
        path = (*nj.via, nj.status)
        entries.extend(
            HistoryEntry(
                pid,
                st.value,
                path[i - 1].value if i else "",
                now,
                host,
                nj.reason if i == len(path) - 1 else "",
            )
            for i, st in enumerate(path)
        )
    jobs_db.insert_history(conn, entries)
    return ids


def _check_path(path: tuple[JobStatus, ...]) -> None:
    for a, b in itertools.pairwise(path):
        if not is_allowed(a, b):
            raise ValueError(f"invalid creation path {a.value} -> {b.value}")


def transition(
    conn: Connection,
    panda_id: int,
    target: JobStatus,
    now: datetime,
    *,
    reason: str = "",
    host: str = "",
    fields: Mapping[str, Any] | None = None,
    only_from: frozenset[JobStatus] | None = None,
    via: tuple[JobStatus, ...] = (),
    locked: StatusRow | None = None,
) -> TransitionResult:
    """Move one job to ``target`` (through the states in ``via``); NotFound if there is no such job.

    Every step of current -> via... -> target must be in the table; the job is written once and each
    step gets its history row (a pilot's final update is running -> holding -> finished in one write).
    ``only_from`` narrows the table for callers that act on a state they just read (watchdogs): a job
    that moved on in between is refused instead of being changed. ``locked`` is the row the caller
    already locked with ``db.jobs.lock_status`` in this transaction (saves reading it again).
    """
    row = locked or jobs_db.lock_status(conn, panda_id)
    if row is None:
        raise NotFound(f"job {panda_id} not found")
    current = row.status

    def result(outcome: Outcome, status: JobStatus, why: str) -> TransitionResult:
        return TransitionResult(outcome, status, current, why, row.attempt_nr, row.command_to_pilot)

    if current is target:
        return result(Outcome.NOOP, current, f"job {panda_id} is already {target.value}")
    path = (current, *via, target)
    if not all(is_allowed(a, b) for a, b in itertools.pairwise(path)) or (
        only_from is not None and current not in only_from
    ):
        steps = " -> ".join(s.value for s in path)
        return result(Outcome.REJECTED, current, f"job {panda_id} cannot go {steps}")
    if not jobs_db.write_status(conn, panda_id, current, target, now, fields or {}):
        return result(Outcome.REJECTED, current, f"job {panda_id} changed concurrently")
    history = [
        HistoryEntry(PandaID(panda_id), b.value, a.value, now, host, reason if b is target else "")
        for a, b in itertools.pairwise(path)
    ]
    jobs_db.insert_history(conn, history)
    return result(Outcome.ACCEPTED, target, reason)


def claim_for_dispatch(
    conn: Connection, criteria: ClaimCriteria, n_jobs: int, now: datetime, host: str
) -> list[PandaID]:
    """activated -> sent for up to n matching jobs, atomically; each job is handed out at most once."""
    assert is_allowed(JobStatus.ACTIVATED, JobStatus.SENT)
    ids = jobs_db.claim_activated(conn, criteria, n_jobs, now, host)
    jobs_db.insert_history(
        conn,
        [
            HistoryEntry(pid, JobStatus.SENT.value, JobStatus.ACTIVATED.value, now, host, "dispatched")
            for pid in ids
        ],
    )
    return ids


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
    fields: Mapping[str, Any] | None = None,
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
    values = {"modification_time": now, **(fields or {})}
    if not workers_db.write_status(conn, worker_id, row.status, target, values):
        return Outcome.REJECTED, row.status, f"worker {worker_id} changed concurrently"
    return Outcome.ACCEPTED, target, ""

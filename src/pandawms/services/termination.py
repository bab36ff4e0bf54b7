"""Ending jobs: the final step after a pilot's last update (the Adder's job), failures and their retries.

A failed job is retried as a new job (attempt + 1, parent linked, re-brokered unless its queue was
preset) in the same transaction, so no failure is ever left without its retry decision. Which endings
get a retry decision is the rule table's (core/rules.py); this module carries it out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.changes import Lineage
from pandawms.core.commands import PilotCommand
from pandawms.core.errors import NotFound
from pandawms.core.ids import PandaID, QueueName
from pandawms.core.retry import decide_retry, is_system_closure
from pandawms.core.specs import ErrorComponent, FileSpec, FileType, Job
from pandawms.db import jobs as jobs_db
from pandawms.db.jobs import StatusRow
from pandawms.services import lifecycle, placement
from pandawms.services.lifecycle import Move, TransitionResult
from pandawms.services.placement import BrokerSource


@dataclass(frozen=True, slots=True)
class JobRetryPolicy:
    """Which (component, code) failures are never retried (config ``non_retryable``)."""

    non_retryable: frozenset[tuple[ErrorComponent, int]] = frozenset()


def end_job(
    conn: Connection,
    panda_id: int,
    move: Move,
    now: datetime,
    policy: JobRetryPolicy,
    *,
    locked: StatusRow | None = None,
    brokers: BrokerSource | None = None,
) -> TransitionResult:
    """Apply ``move``; when its rule asks (a failure), the job then gets its retry decision.

    ``brokers`` shares one brokerage snapshot across a batch (a watchdog tick ending 1,000 jobs).
    """
    result = lifecycle.transition(conn, panda_id, move, now, locked=locked)
    if result.retry_due:
        retry_failed(conn, PandaID(panda_id), now, policy, brokers)
    return result


def retry_failed(
    conn: Connection,
    panda_id: PandaID,
    now: datetime,
    policy: JobRetryPolicy,
    brokers: BrokerSource | None = None,
) -> PandaID | None:
    """Create the next attempt of a failed job when the policy allows; returns its PandaID."""
    job = jobs_db.get_job(conn, panda_id, with_files=True)
    if job is None:
        raise NotFound(f"job {panda_id} not found")
    decision = decide_retry(
        job.attempt_nr,
        job.spec.max_attempt,
        job.errors,
        policy.non_retryable,
        killed=job.command_to_pilot == PilotCommand.TOBEKILLED,
        system_closures=earlier_system_closures(conn, job) if is_system_closure(job.errors) else 0,
    )
    # a task's job is never retried as a job: JEDI retries its files (lifecycle_taskfiles.job_ended)
    if not decision.retry or job.spec.task_id is not None or jobs_db.children(conn, panda_id):
        return None
    extra = 1 if decision.extra_attempt else 0
    return new_attempt(conn, job, now, relation="retry", brokers=brokers, extra_attempts=extra)


def earlier_system_closures(conn: Connection, job: Job) -> int:
    """How many of ``job``'s ancestors (parent, its parent ...) were system closures; the walk is
    bounded by the attempt number, so a broken chain cannot loop."""
    found, parent = 0, job.parent_id
    for _ in range(max(job.attempt_nr, 1)):
        ancestor = jobs_db.get_job(conn, parent) if parent is not None else None
        if ancestor is None:
            break
        found += is_system_closure(ancestor.errors)
        parent = ancestor.parent_id
    return found


def new_attempt(
    conn: Connection,
    job: Job,
    now: datetime,
    *,
    relation: str,
    exclude: str | None = None,
    site: str | None = None,
    keep_pin: bool = True,
    brokers: BrokerSource | None = None,
    extra_attempts: int = 0,
) -> PandaID:
    """A fresh job for the same work: attempt + 1, linked to ``job``; re-brokered unless pinned.

    ``site`` pins the new attempt to a queue; ``exclude`` keeps brokerage away from one; with
    ``keep_pin=False`` a job pinned at submission is re-brokered (reassignment moves it).
    ``extra_attempts`` raises maxAttempt (a system closure does not use up one of the user's attempts).
    """
    pinned = job.spec.computing_site if keep_pin else None
    excluded = job.spec.excluded_sites + (
        (exclude,) if exclude and exclude not in job.spec.excluded_sites else ()
    )
    spec = dataclasses.replace(
        job.spec,
        files=_fresh_files(job.files),
        excluded_sites=excluded,
        computing_site=QueueName(site) if site else pinned,
        max_attempt=max(job.spec.max_attempt + extra_attempts, job.attempt_nr + 1),
    )
    lineage = Lineage(attempt_nr=job.attempt_nr + 1, parent_id=job.panda_id, relation_type=relation)
    broker_ = (brokers or placement.load_once(conn))(spec.computing_site is None)
    placed = placement.create_and_place(
        conn, [(spec, lineage)], now, reason=f"{relation} of {job.panda_id}", broker_=broker_
    )
    return placed[0].panda_id


def _fresh_files(files: tuple[FileSpec, ...]) -> tuple[FileSpec, ...]:
    out = []
    for f in files:
        if f.type is FileType.INPUT:
            out.append(f)
        else:
            out.append(dataclasses.replace(f, guid="", fsize=0, checksum="", status="", surl=""))
    return tuple(out)

"""Ending jobs: the final step after a pilot's last update (the Adder's job), failures and their retries.

A failed job is retried as a new job (attempt + 1, parent linked, re-brokered unless its queue was
preset) in the same transaction, so no failure is ever left without its retry decision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pandawms.core.errors import NotFound
from pandawms.core.ids import PandaID, QueueName
from pandawms.core.retry import decide_retry
from pandawms.core.specs import ErrorComponent, FileSpec, FileType, Job
from pandawms.core.states import JobStatus
from pandawms.db import jobs as jobs_db
from pandawms.db.jobs import StatusRow
from pandawms.services import lifecycle, placement
from pandawms.services.lifecycle import TransitionResult

KILL_COMMAND = "tobekilled"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    non_retryable: frozenset[tuple[ErrorComponent, int]] = frozenset()


def end_job(
    conn: Connection,
    panda_id: int,
    target: JobStatus,
    now: datetime,
    policy: RetryPolicy,
    *,
    reason: str,
    fields: Mapping[str, Any] | None = None,
    only_from: frozenset[JobStatus] | None = None,
    host: str = "",
    via: tuple[JobStatus, ...] = (),
    locked: StatusRow | None = None,
) -> TransitionResult:
    """Move a job to a final state (stamping end_time); a failure then gets its retry decision."""
    values = {"end_time": now, **(fields or {})}
    result = lifecycle.transition(
        conn,
        panda_id,
        target,
        now,
        reason=reason,
        fields=values,
        only_from=only_from,
        host=host,
        via=via,
        locked=locked,
    )
    if result.accepted and target is JobStatus.FAILED:
        retry_failed(conn, PandaID(panda_id), now, policy)
    return result


def retry_failed(conn: Connection, panda_id: PandaID, now: datetime, policy: RetryPolicy) -> PandaID | None:
    """Create the next attempt of a failed job when the policy allows; returns its PandaID."""
    job = jobs_db.get_job(conn, panda_id, with_files=True)
    if job is None:
        raise NotFound(f"job {panda_id} not found")
    decision = decide_retry(
        job.attempt_nr,
        job.spec.max_attempt,
        job.errors,
        policy.non_retryable,
        killed=job.command_to_pilot == KILL_COMMAND,
    )
    if not decision.retry or jobs_db.children(conn, panda_id):
        return None
    return new_attempt(conn, job, now, relation="retry")


def new_attempt(
    conn: Connection,
    job: Job,
    now: datetime,
    *,
    relation: str,
    exclude: str | None = None,
    site: str | None = None,
    keep_pin: bool = True,
) -> PandaID:
    """A fresh job for the same work: attempt + 1, linked to ``job``; re-brokered unless pinned.

    ``site`` pins the new attempt to a queue; ``exclude`` keeps brokerage away from one; with
    ``keep_pin=False`` a job pinned at submission is re-brokered (reassignment moves it).
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
        max_attempt=max(job.spec.max_attempt, job.attempt_nr + 1),
    )
    lineage = placement.Lineage(attempt_nr=job.attempt_nr + 1, parent_id=job.panda_id, relation_type=relation)
    placed = placement.create_and_place(conn, [(spec, lineage)], now, reason=f"{relation} of {job.panda_id}")
    return placed[0].panda_id


def _fresh_files(files: tuple[FileSpec, ...]) -> tuple[FileSpec, ...]:
    out = []
    for f in files:
        if f.type is FileType.INPUT:
            out.append(f)
        else:
            out.append(dataclasses.replace(f, guid="", fsize=0, checksum="", status="", surl=""))
    return tuple(out)

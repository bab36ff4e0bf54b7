"""Repeated acquire_jobs calls (same claimant and request_id): the pilot lost the answer and asks again.

The repeat gets the jobs of the first call back, unchanged, while they are still sent (or starting) to
that claimant at that queue; nothing new is claimed and no history is written. Once they have moved on
(started and ended, timed out), the repeat is a new claim recorded under the same key. The claimant is the
pilot's worker id, else its pilot id and node: another pilot with the same request_id gets nothing of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pandawms.core.errors import InvalidInput
from pandawms.core.specs import Job
from pandawms.core.states import JobStatus
from pandawms.db import acquire_requests as requests_db
from pandawms.db import jobs as jobs_db

HANDED_OUT = frozenset({JobStatus.SENT, JobStatus.STARTING})


def claimant(worker_id: int | None, pilot_id: str, node: str) -> str:
    """Whose request it is; InvalidInput when the call names nobody (any pilot could then repeat it)."""
    if worker_id is not None:
        return f"worker:{worker_id}"
    if not pilot_id and not node:
        raise InvalidInput(
            "request_id: needs a worker_id, pilot_id or node saying whose request it is", "request_id"
        )
    return f"pilot:{pilot_id}|{node}"


def repeated(conn: Connection, who: str, request_id: str, queue: str, now: datetime) -> list[Job] | None:
    """The jobs an earlier call with this key claimed and still holds; None: claim (the key is reserved)."""
    if requests_db.reserve(conn, who, request_id, queue, now):
        return None
    earlier = requests_db.lock(conn, who, request_id)
    if earlier is None or earlier.queue != queue:
        return None
    jobs = jobs_db.get_jobs(conn, earlier.panda_ids, with_files=True)
    held = [j for j in jobs if j.status in HANDED_OUT and j.computing_site == queue]
    return held or None


def remember(
    conn: Connection, who: str, request_id: str, queue: str, jobs: Sequence[Job], now: datetime
) -> None:
    requests_db.record(conn, who, request_id, queue, [j.panda_id for j in jobs], now)


def clean(conn: Connection, now: datetime, keep: timedelta, limit: int) -> int:
    """Drop up to ``limit`` records older than ``keep`` (past the sent timeout: nothing left to repeat)."""
    return requests_db.delete_older(conn, now - keep, limit)

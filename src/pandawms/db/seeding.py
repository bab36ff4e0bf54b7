"""`panda seed` support: read the newest jobs and re-time a seeded range's history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select, update

from pandawms.core.states import FINAL_STATES
from pandawms.db.schema import job_status_history, jobs

# -- seeding support (non-status columns only) ---------------------------------------------------------


def newest_ids(conn: Connection, n: int) -> list[tuple[int, str | None, datetime]]:
    """(PandaID, queue, creation time) of the newest n jobs."""
    c = jobs.c
    stmt = select(c.panda_id, c.computing_site, c.creation_time).order_by(c.panda_id.desc()).limit(n)
    return [(int(p), s, t) for p, s, t in conn.execute(stmt)]


def running_count(conn: Connection, queue: str) -> int:
    stmt = select(func.count()).where(jobs.c.computing_site == queue, jobs.c.job_status == "running")
    return int(conn.execute(stmt).scalar_one())


def retime_history(conn: Connection, first_id: int, last_id: int) -> None:
    """Seeded jobs: move their history rows from the import instant to the job's own start and end.

    ``import_jobs`` stamps every history row with its ``now``; a seeded history needs start/end-based
    times (the jobs rows come with their own).
    """
    in_range = jobs.c.panda_id.between(first_id, last_id)
    h = job_status_history.c
    late = ("holding", "transferring", *(s.value for s in FINAL_STATES))
    for states, col in ((("starting", "running"), jobs.c.start_time), (late, jobs.c.end_time)):
        stmt = (
            update(job_status_history)
            # The range on both sides: PostgreSQL otherwise hashes all of jobs for every batch.
            .where(h.panda_id == jobs.c.panda_id, h.panda_id.between(first_id, last_id), in_range)
            .where(h.job_status.in_(states), col.is_not(None))
            .values(change_time=col)
        )
        conn.execute(stmt)

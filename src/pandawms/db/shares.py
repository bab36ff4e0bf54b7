"""Global-share reads (scheduling.md §8): what each share holds now, which shares wait at a queue, and
the generating tasks of a share.

``share_load`` is one GROUP BY over the pilot-held jobs only (sent, starting, running on
``ix_jobs_status_id``): a deep queue of activated jobs (1M at scale) is never counted, it cost 60 % of the
server's CPU when it was. ``shares_waiting_at`` says which shares have an activated job at one queue by one
index seek per share on ``ix_jobs_dispatch_share``. services/shares.py caches both per server process for
a few seconds (the dispatcher) or per generator cycle, so neither runs per pilot request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import CompoundSelect, Connection, case, exists, func, literal, select, union_all

from pandawms.core.states import PILOT_STATES, JobStatus
from pandawms.core.tasks import TaskStatus
from pandawms.db.schema import jobs, tasks

LOAD_STATES: tuple[str, ...] = tuple(sorted(s.value for s in PILOT_STATES))


@dataclass(frozen=True, slots=True)
class ShareLoad:
    """Jobs and cores of one (share, queue, status) group of the active jobs. Jobs stored before their
    share was recorded (gshare "", migration 0013) are grouped by label and user too, so the reader can
    place them in the leaf the share rules give them."""

    gshare: str
    queue: str
    status: str
    jobs: int
    cores: int
    label: str = ""  # only for gshare ""
    user: str = ""  # only for gshare ""


def share_load(conn: Connection) -> list[ShareLoad]:
    """Pilot-held (sent, starting, running) jobs and their cores by (gshare, queue, status) (and label,
    user for jobs without a share)."""
    j = jobs.c
    site = func.coalesce(j.computing_site, "")
    unset = func.coalesce(j.gshare, "") == ""
    label = case((unset, func.coalesce(j.prod_source_label, "")), else_="")
    user = case((unset, func.coalesce(j.prod_user_name, "")), else_="")
    gshare = func.coalesce(j.gshare, "")
    stmt = (
        select(
            gshare,
            site,
            j.job_status,
            func.count(),
            func.sum(func.coalesce(j.actual_core_count, j.core_count)),
            label,
            user,
        )
        .where(j.job_status.in_(LOAD_STATES))
        .group_by(gshare, site, j.job_status, label, user)
    )
    return [
        ShareLoad(str(g), str(q), str(s), int(n), int(c or 0), str(lb), str(u))
        for g, q, s, n, c, lb, u in conn.execute(stmt)
    ]


def shares_waiting_at(conn: Connection, queue: str, shares: Sequence[str]) -> frozenset[str]:
    """Which of ``shares`` have at least one activated job at ``queue``: one statement, an index seek per
    share on ix_jobs_dispatch_share (jobs without a share are not asked about: they are claimed after
    the shares)."""
    stmt = waiting_stmt(queue, shares)
    return frozenset() if stmt is None else frozenset(str(r[0]) for r in conn.execute(stmt))


def waiting_stmt(queue: str, shares: Sequence[str]) -> CompoundSelect[tuple[str]] | None:
    """``shares_waiting_at``'s statement (None when no share is asked about)."""
    j = jobs.c
    parts = [
        select(literal(share).label("share")).where(
            exists().where(
                j.job_status == JobStatus.ACTIVATED.value, j.computing_site == queue, j.gshare == share
            )
        )
        for share in dict.fromkeys(shares)
        if share
    ]
    return union_all(*parts) if parts else None


def task_ids_in_share(
    conn: Connection, statuses: Sequence[TaskStatus], share: str | None, known: Sequence[str], limit: int
) -> list[int]:
    """Tasks in ``statuses`` of one share (``share``) or of none of the ``known`` ones (``share`` None),
    highest current priority first, then by id."""
    t = tasks.c
    stmt = select(t.task_id).where(t.status.in_([s.value for s in statuses]))
    stmt = stmt.where(t.global_share == share if share is not None else t.global_share.not_in(list(known)))
    stmt = stmt.order_by(t.current_priority.desc(), t.task_id).limit(limit)
    return [int(r[0]) for r in conn.execute(stmt)]

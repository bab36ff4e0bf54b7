"""Global-share reads (scheduling.md §8): what each share holds now, and the generating tasks of a share.

``share_load`` is one GROUP BY over the active part of the jobs table (``job_status`` IN activated and
the pilot states, on ``ix_jobs_status_id``); services/shares.py caches it per server process for a few
seconds (the dispatcher) or per generator cycle, so it never runs per pilot request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, case, func, select

from pandawms.core.states import PILOT_STATES, JobStatus
from pandawms.core.tasks import TaskStatus
from pandawms.db.schema import jobs, tasks

LOAD_STATES: tuple[str, ...] = tuple(sorted(s.value for s in {*PILOT_STATES, JobStatus.ACTIVATED}))


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
    """Activated and pilot-held (sent, starting, running) jobs and their cores by (gshare, queue, status)
    (and label, user for jobs without a share)."""
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

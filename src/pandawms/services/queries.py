"""Read-only job queries: one job with its history, brokerage and retries; filtered listings."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.errors import NotFound
from pandawms.core.ids import PandaID
from pandawms.core.specs import Job, JobQuery, QueueSpec
from pandawms.db import brokerage as brokerage_db
from pandawms.db import job_reports as reports_db
from pandawms.db import jobs as jobs_db
from pandawms.db import monitor_queues as monitor_queues_db
from pandawms.db import queues as queues_db
from pandawms.db.brokerage import StoredDecision
from pandawms.db.job_reports import ReportTexts
from pandawms.db.jobs import HistoryEntry


@dataclass(frozen=True, slots=True)
class JobDetail:
    job: Job
    history: list[HistoryEntry]
    brokerage: StoredDecision | None
    retries: list[PandaID]
    report: ReportTexts | None = None  # the latest job report (metadata) and pilot-log tail from the pilot


def describe(conn: Connection, panda_id: int) -> JobDetail:
    job = jobs_db.get_job(conn, panda_id, with_files=True)
    if job is None:
        raise NotFound(f"job {panda_id} not found")
    return JobDetail(
        job,
        jobs_db.history(conn, panda_id),
        brokerage_db.get(conn, panda_id),
        jobs_db.children(conn, panda_id),
        reports_db.report_texts(conn, panda_id),
    )


def list_jobs(conn: Connection, query: JobQuery) -> tuple[list[Job], int | None]:
    """A page and the keyset cursor of the next one (None on the last page)."""
    rows = jobs_db.list_jobs(conn, dataclasses.replace(query, limit=query.limit + 1))
    page = rows[: query.limit]
    cursor = page[-1].panda_id if len(rows) > query.limit else None
    return page, cursor


QueueCounts = tuple[QueueSpec, dict[str, int], dict[str, int]]


def queue_overview(conn: Connection, since: datetime) -> list[QueueCounts]:
    """Each queue with its active job counts by status and its jobs ended since ``since`` by status."""
    loads = jobs_db.queue_loads(conn)
    ended = monitor_queues_db.ended_by_site(conn, since)
    out = []
    for q in queues_db.list_all(conn):
        load = loads.get(q.name)
        counts = dataclasses.asdict(load) if load is not None else {}
        out.append((q, counts, ended.get(q.name, {})))
    return out


def jobs_by_id(conn: Connection, ids: Sequence[int]) -> dict[int, Job]:
    """The jobs that exist among ``ids``, keyed by PandaID (unknown ids are simply absent)."""
    return {int(j.panda_id): j for j in jobs_db.get_jobs(conn, list(ids))}

"""The queue and user pages' counts per (queue or user, state) read the final jobs of whole hours from the
hourly aggregates and the partial hours from the jobs table: they equal a count over every job."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from pandawms.agents.job_stats import fold_all
from pandawms.core.states import FINAL_STATES
from pandawms.db import monitor_queues as mqdb
from pandawms.db.engine import Database
from pandawms.db.schema import jobs
from pandawms.monitor.seed import seed_jobs
from tests.conftest import FrozenClock

FINAL = frozenset(s.value for s in FINAL_STATES)


def _expected(
    db: Database, column: str, since: datetime, until: datetime | None, only: str | None
) -> dict[tuple[str, str], tuple[int, int]]:
    """Every job, counted here: active ones whatever their time, final ones inside [since, until)."""
    out: dict[tuple[str, str], list[int]] = {}
    with db.read() as conn:
        rows = conn.execute(
            select(jobs.c[column], jobs.c.job_status, jobs.c.modification_time, jobs.c.cpu_consumption_time)
        ).all()
    for value, state, when, cpu in rows:
        if only is not None and value != only:
            continue
        if state in FINAL and (when < since or (until is not None and when >= until)):
            continue
        acc = out.setdefault((value or "", state), [0, 0])
        acc[0] += 1
        acc[1] += cpu or 0
    return {k: (v[0], v[1]) for k, v in out.items()}


def _got(rows: list[mqdb.Count]) -> dict[tuple[str, str], tuple[int, int]]:
    jobs_n: Counter[tuple[str, str]] = Counter()
    cpu: Counter[tuple[str, str]] = Counter()
    for value, state, n, seconds in rows:
        jobs_n[(value or "", state)] += n
        cpu[(value or "", state)] += seconds
    return {k: (jobs_n[k], cpu[k]) for k in jobs_n if jobs_n[k]}


@pytest.mark.parametrize("column", ["computing_site", "prod_user_name"])
def test_counts_from_aggregates_equal_every_job(db: Database, clock: FrozenClock, column: str) -> None:
    # given four weeks of history, half of it folded into the aggregates and half still pending deltas
    seed_jobs(db, 300, now=clock(), seed=31)
    fold_all(db)
    seed_jobs(db, 300, now=clock(), seed=32)
    now = clock() + timedelta(minutes=37, seconds=12, microseconds=500)
    with db.read() as conn:
        values = sorted({str(v) for v in conn.execute(select(jobs.c[column]).distinct()) if v[0]})
        ended = sorted(
            t for (t,) in conn.execute(select(jobs.c.modification_time).where(jobs.c.job_status.in_(FINAL)))
        )
    early, late = ended[len(ended) // 4], ended[3 * len(ended) // 4]
    on_hour = ended[len(ended) // 2].replace(minute=0, second=0, microsecond=0)
    with db.write() as conn:  # an ended job exactly on an hour (the triggers move it in the aggregates)
        conn.execute(
            update(jobs)
            .where(jobs.c.modification_time == ended[len(ended) // 2], jobs.c.job_status.in_(FINAL))
            .values(modification_time=on_hour)
        )
    second = timedelta(seconds=1)
    windows: list[tuple[datetime, datetime | None]] = [
        (now - timedelta(days=7), None),  # cuts an hour at the start, the current hour open
        (now - timedelta(days=30), None),  # the whole history: whole days from the daily rollup
        (early - second, late + second),  # each partial hour holds an ended job at least
        (early - second, None),
        (on_hour + timedelta(microseconds=1), late),  # a microsecond past that hour: not that job
        (now - timedelta(minutes=20), None),  # no whole hour: every final job from the table
    ]
    assert early - second >= early.replace(minute=0, second=0, microsecond=0)  # still in early's hour
    assert (late + second).hour == late.hour
    for since, until in windows:
        for only in (None, values[0], "nobody"):
            # when
            with db.read() as conn:
                rows = mqdb.counts_by(conn, column, since, until, now, only=only)
            # then
            assert _got(rows) == _expected(db, column, since, until, only), (since, until, only)

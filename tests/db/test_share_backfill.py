"""Jobs stored before migration 0013 have no gshare (""): their cores still count in the leaf the share
rules give their label and user, and the dispatcher still serves them (after the shares)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from pandawms.core.shares import DEFAULT_TREE
from pandawms.core.updates import PilotReport
from pandawms.db.engine import Database
from pandawms.db.shares import ShareLoad
from pandawms.services import pilot, shares
from pandawms.services.pilot import AcquireQuery
from pandawms.services.termination import JobRetryPolicy
from tests.db import jedi_helpers as h

POLICY = JobRetryPolicy()

NOW = datetime(2026, 12, 2, 8, 0, 0)


def test_jobs_without_a_share_count_in_their_rules_leaf(db: Database) -> None:
    h.grid(db, NOW)
    h.dataset(db, "in", 4, NOW)
    task_id = h.submit(db, h.params(skipScout=True, nFilesPerJob=1), NOW)
    h.feed(db, task_id, NOW)
    h.generate(db, task_id, NOW)
    with db.write() as conn:
        got = pilot.acquire_jobs(conn, AcquireQuery(queue=h.QUEUE, n_jobs=2), NOW)
        for job in got.jobs:
            pilot.update_job(conn, PilotReport(job.panda_id, "running"), NOW, POLICY)
        conn.execute(text("UPDATE jobs SET gshare = ''"))  # as stored before 0013
    with db.read() as conn:
        snap = shares.usage(conn, DEFAULT_TREE, NOW)
    assert dict(snap.usage) == {"analysis": 2.0}  # a user task's jobs: the analysis leaf
    # the unshared activated ones are in no share's turn: they come after the shares
    assert shares.ShareCache(DEFAULT_TREE).dispatch_order(db.read, str(h.QUEUE), NOW) == ()
    with db.write() as conn:  # and they are still served
        assert len(pilot.acquire_jobs(conn, AcquireQuery(queue=h.QUEUE, n_jobs=5), NOW).jobs) == 2


def test_snapshot_places_unshared_rows_by_label() -> None:
    loads = [
        ShareLoad("", "Q", "running", 3, 24, label="managed", user="prod"),
        ShareLoad("", "Q", "running", 1, 1, label="user", user="alice"),
        ShareLoad("production", "Q", "running", 1, 8),
    ]
    assert dict(shares.snapshot(DEFAULT_TREE, loads, NOW).usage) == {"production": 32.0, "analysis": 1.0}

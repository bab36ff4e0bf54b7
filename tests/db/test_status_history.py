"""A status write and its history rows are written together (db/jobs.write_status,
db/claims.claim_activated): on PostgreSQL one statement (data-modifying CTEs), on SQLite two. Both back
ends: the rows, their order, and nothing written when the compare-and-set fails."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pandawms.core.changes import NO_CHANGE, NewJob
from pandawms.core.dispatch import ClaimCriteria
from pandawms.core.ids import PandaID, QueueName
from pandawms.core.specs import JobSpec, ProdSourceLabel
from pandawms.core.states import JobStatus
from pandawms.db import claims as claims_db
from pandawms.db import jobs as jobs_db
from pandawms.db.engine import Database
from pandawms.db.jobs import HistoryEntry
from pandawms.services import lifecycle
from pandawms.services.lifecycle import Move, Outcome

T0 = datetime(2026, 12, 7, 15, 0, 0, 250000)
LABELS = frozenset({ProdSourceLabel.USER})


def _create(db: Database, *specs: tuple[int, str]) -> list[PandaID]:
    """Activated jobs at Q, one per (priority, share)."""
    new = [
        NewJob(JobSpec("run.sh", current_priority=p, gshare=share), JobStatus.ACTIVATED, QueueName("Q"))
        for p, share in specs
    ]
    with db.write() as conn:
        return lifecycle.create_jobs(conn, new, T0, "submitter")


def test_claim_writes_each_job_sent_with_its_row_share_first_then_priority_then_age(db: Database) -> None:
    a_low, b_high, a_high, b_high2, spare = _create(
        db, (10, "A"), (900, "B"), (500, "A"), (900, "B"), (1, "B")
    )
    now = T0 + timedelta(seconds=5)
    with db.write() as conn:
        got = claims_db.claim_activated(
            conn, ClaimCriteria("Q", LABELS, shares=("A",)), 4, now, "wn1", "p-1", "why"
        )
    assert [j.panda_id for j in got] == [a_high, a_low, b_high, b_high2]
    assert all(j.status is JobStatus.SENT and j.pilot_id == "p-1" for j in got)
    with db.read() as conn:
        for pid in (a_low, b_high, a_high, b_high2):
            assert jobs_db.history(conn, pid)[-1] == HistoryEntry(pid, "sent", "activated", now, "wn1", "why")
        assert [e.status for e in jobs_db.history(conn, spare)] == ["activated"]
        assert jobs_db.lock_status(conn, spare).status is JobStatus.ACTIVATED  # type: ignore[union-attr]
    with db.write() as conn:  # the last one; then none are left, and no history row is added for none
        assert [
            j.panda_id for j in lifecycle.claim_for_dispatch(conn, ClaimCriteria("Q", LABELS), 3, now, "h")
        ] == [spare]
        assert lifecycle.claim_for_dispatch(conn, ClaimCriteria("Q", LABELS), 3, now, "h") == []
    with db.read() as conn:
        assert [e.reason for e in jobs_db.history(conn, spare)] == ["submitted", "dispatched"]


def test_a_transition_writes_each_step_of_its_path_once(db: Database) -> None:
    (pid,) = _create(db, (1, ""))
    with db.write() as conn:
        for status in (JobStatus.SENT, JobStatus.STARTING, JobStatus.RUNNING):
            assert lifecycle.transition(conn, pid, Move(status, host="wn"), T0).outcome is Outcome.ACCEPTED
        end = Move(JobStatus.FINISHED, "done", "wn2", via=(JobStatus.HOLDING,))
        assert lifecycle.transition(conn, pid, end, T0 + timedelta(seconds=9)).outcome is Outcome.ACCEPTED
    with db.read() as conn:
        got = jobs_db.history(conn, pid)
    later = T0 + timedelta(seconds=9)
    assert got[-2:] == [
        HistoryEntry(pid, "holding", "running", later, "wn2", ""),
        HistoryEntry(pid, "finished", "holding", later, "wn2", "done"),
    ]
    assert [e.status for e in got] == ["activated", "sent", "starting", "running", "holding", "finished"]


def test_a_failed_compare_and_set_writes_no_history(db: Database) -> None:
    (pid,) = _create(db, (1, ""))
    entry = HistoryEntry(pid, "sent", "running", T0, "wn", "stale")
    with db.write() as conn:  # the job is activated, not running: nothing is written
        assert not jobs_db.write_status(conn, pid, JobStatus.RUNNING, JobStatus.SENT, T0, NO_CHANGE, [entry])
        ghost = HistoryEntry(PandaID(pid + 1000), "sent", "activated", T0, "wn", "no such job")
        assert not jobs_db.write_status(
            conn, pid + 1000, JobStatus.ACTIVATED, JobStatus.SENT, T0, NO_CHANGE, [ghost]
        )
    with db.read() as conn:
        assert [e.status for e in jobs_db.history(conn, pid)] == ["activated"]
        assert jobs_db.history(conn, pid + 1000) == []
        assert jobs_db.lock_status(conn, pid).status is JobStatus.ACTIVATED  # type: ignore[union-attr]


def test_history_of_another_job_is_refused_before_anything_is_written(db: Database) -> None:
    (pid,) = _create(db, (1, ""))
    other = HistoryEntry(PandaID(pid + 1), "sent", "activated", T0, "wn", "")
    with db.write() as conn, pytest.raises(ValueError, match=f"another job than {pid}"):
        jobs_db.write_status(conn, pid, JobStatus.ACTIVATED, JobStatus.SENT, T0, NO_CHANGE, [other])
    with db.read() as conn:
        assert jobs_db.lock_status(conn, pid).status is JobStatus.ACTIVATED  # type: ignore[union-attr]

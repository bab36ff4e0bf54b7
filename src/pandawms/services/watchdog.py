"""Applying a timeout rule: end the stale jobs it names, through lifecycle, with its error code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.changes import JobChange, JobError
from pandawms.core.timeouts import TimeoutRule
from pandawms.db import jobs as jobs_db
from pandawms.services import placement
from pandawms.services.lifecycle import Move
from pandawms.services.termination import JobRetryPolicy, end_job


def apply_rule(conn: Connection, rule: TimeoutRule, now: datetime, policy: JobRetryPolicy, limit: int) -> int:
    """End up to ``limit`` jobs stale under ``rule``; returns how many were ended.

    Each job is re-checked under its row lock (``only_from`` and its clock), so a heartbeat that arrived
    after the scan wins. A job the user already asked to kill ends as cancelled (core/rules.py). The
    retries of the batch share one brokerage snapshot.
    """
    ended = 0
    statuses = frozenset(rule.statuses)
    change = JobChange(errors=(JobError(rule.component, rule.code, rule.diag),))
    move = Move(rule.target, rule.name, change=change, only_from=statuses)
    brokers = placement.load_once(conn)
    for pid in jobs_db.stale_ids(conn, rule.statuses, rule.cutoff(now), limit):
        row = jobs_db.lock_status(conn, pid)
        if row is None or row.status not in statuses:
            continue
        if jobs_db.modified_since(conn, pid, rule.cutoff(now)):
            continue
        result = end_job(conn, pid, move, now, policy, locked=row, brokers=brokers)
        ended += int(result.accepted)
    return ended

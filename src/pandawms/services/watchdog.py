"""Applying a timeout rule: end the stale jobs it names, through lifecycle, with its error code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.states import JobStatus
from pandawms.core.timeouts import TimeoutRule
from pandawms.db import jobs as jobs_db
from pandawms.services.termination import KILL_COMMAND, RetryPolicy, end_job


def apply_rule(conn: Connection, rule: TimeoutRule, now: datetime, policy: RetryPolicy, limit: int) -> int:
    """End up to ``limit`` jobs stale under ``rule``; returns how many were ended.

    Each job is re-checked under its row lock (``only_from``), so a heartbeat that arrived after the scan
    wins. A job the user already asked to kill ends as cancelled rather than failed.
    """
    ended = 0
    statuses = frozenset(rule.statuses)
    for pid in jobs_db.stale_ids(conn, rule.statuses, rule.cutoff(now), limit):
        row = jobs_db.lock_status(conn, pid)
        if row is None or row.status not in statuses:
            continue
        job = jobs_db.get_job(conn, pid)
        if job is None or job.modification_time >= rule.cutoff(now):
            continue
        target = rule.target
        if target is JobStatus.FAILED and row.command_to_pilot == KILL_COMMAND:
            target = JobStatus.CANCELLED
        fields = {
            f"{rule.component.value}_error_code": rule.code,
            f"{rule.component.value}_error_diag": rule.diag,
        }
        result = end_job(conn, pid, target, now, policy, reason=rule.name, fields=fields, only_from=statuses)
        ended += int(result.accepted)
    return ended

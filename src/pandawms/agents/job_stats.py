"""The job-stats agent: folds the triggers' deltas into the monitor's aggregates (db/job_stats_fold.py).

Readers add pending deltas themselves, so folding only keeps their number small: a page reads the
aggregate rows of its hours plus the deltas written since the last pass.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from pandawms.agents.runner import Agent
from pandawms.db import job_stats_fold
from pandawms.db.engine import Database

NAME = "job_stats"
PASS_ROWS = 200_000  # at most this many deltas per pass (a pass is writer turns of adaptive size)
INTERVAL_S = 5.0  # readers add the pending deltas: a short interval keeps them few


def fold_all(db: Database, total: int = PASS_ROWS) -> int:
    """Fold the deltas pending when the pass begins (at most ``total``) in short writer turns; returns
    how many.

    Deltas written during the pass wait for the next one: the agents run one after another, and a pass
    that chased a stream of final jobs would never end (it once ran for minutes while the watchdogs
    waited)."""
    with db.read() as conn:
        pending = job_stats_fold.pending(conn)

    def step(conn: Connection, limit: int) -> int:
        return job_stats_fold.fold(conn, limit)

    return db.write_until_short(step, min(total, pending)) if pending else 0


def job_stats_agent(db: Database, interval: float = INTERVAL_S) -> Agent:
    def run_once(now: datetime) -> int:
        return fold_all(db)

    return Agent(NAME, interval, run_once)

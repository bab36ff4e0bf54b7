"""The planner statistics agent: on PostgreSQL, every ``planner_stats_interval`` seconds, ANALYZE the
task-buffer tables that changed by ``MIN_CHANGES`` + ``FRACTION`` of their rows since their last
analysis: autovacuum's rule (its floor is 50 changes), looked at every few seconds instead of once a
minute, so a table filled in a burst (a fresh server's first big submit) has statistics before its
cached generic plans do harm (db/planner_stats.py says which). Not registered on SQLite or with an
interval of 0."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from pandawms.agents.runner import Agent
from pandawms.db import planner_stats as stats_db
from pandawms.db.engine import Database

log = logging.getLogger("pandawms.agents")
NAME = "planner_stats"
MIN_CHANGES = 1000
FRACTION = 0.1


def due(
    tables: Iterable[stats_db.TableActivity], min_changes: int = MIN_CHANGES, fraction: float = FRACTION
) -> list[str]:
    """The tables to ANALYZE now: changed by at least ``min_changes`` + ``fraction`` x their live rows
    since their last analysis (for one never analyzed: since it was created)."""
    return [t.name for t in tables if t.changed >= min_changes + fraction * t.live_rows]


def planner_stats_agent(db: Database, interval: float) -> Agent | None:
    """The agent, or None where it has nothing to do (SQLite) or is turned off (interval 0)."""
    if interval <= 0 or db.is_sqlite:
        return None

    def run_once(now: datetime) -> int:
        """One pass; counts the tables analyzed."""
        names = due(stats_db.activity(db))
        if names:
            stats_db.analyze(db, names)
            log.info("planner statistics refreshed: %s", ", ".join(names))
        return len(names)

    return Agent(NAME, interval, run_once)

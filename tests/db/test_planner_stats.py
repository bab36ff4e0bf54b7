"""The planner statistics agent (agents/planner_stats.py): on PostgreSQL a task-buffer table filled since
its last analysis is ANALYZEd at the agent's next pass, not at autovacuum's next minute; a table that
changed little is left alone. Registered on PostgreSQL only, and off at 0."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlalchemy import insert, text

from pandawms.agents.planner_stats import NAME, due, planner_stats_agent
from pandawms.config import ServerConfig, load_config
from pandawms.db import planner_stats as stats_db
from pandawms.db.engine import Database
from pandawms.db.schema import job_status_history
from pandawms.server.app import build_agents
from pandawms.services.termination import JobRetryPolicy

NOW = datetime(2026, 12, 6, 23, 0)


def table(name: str, live: int, changed: int) -> stats_db.TableActivity:
    return stats_db.TableActivity(name, live, changed)


def test_due_is_autovacuums_rule_a_thousand_changes_plus_a_tenth_of_the_rows() -> None:
    tables = [
        table("fresh", 0, 999),  # a new table: 1,000 changes before it is worth a pass
        table("filled", 0, 1000),
        table("big_quiet", 1_000_000, 100_999),
        table("big_busy", 1_000_000, 101_000),
        table("small", 5_000, 1_500),
    ]
    assert due(tables) == ["filled", "big_busy", "small"]
    assert due(tables, min_changes=0, fraction=0.0) == ["fresh", "filled", "big_quiet", "big_busy", "small"]


def history_rows(db: Database, n: int) -> None:
    rows = [{"panda_id": i, "job_status": "running", "change_time": NOW} for i in range(n)]
    with db.write() as conn:
        conn.execute(insert(job_status_history), rows)


def activity_of(url: str, name: str, changed_at_least: int) -> stats_db.TableActivity:
    """The table's activity once PostgreSQL's statistics show ``changed_at_least`` changes (a backend
    reports its counts when idle or at exit, not at commit); bounded wait."""
    db = Database(url)
    try:
        deadline = time.monotonic() + 15
        while True:
            found = {t.name: t for t in stats_db.activity(db)}[name]
            if found.changed >= changed_at_least or time.monotonic() > deadline:
                return found
            time.sleep(0.1)
    finally:
        db.dispose()


def reltuples(db: Database, name: str) -> float:
    with db.read() as conn:
        return float(
            conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :n"), {"n": name}).one()[0]
        )


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_table_filled_since_its_analysis_is_analyzed_at_the_next_pass(db: Database) -> None:
    history_rows(db, 1500)
    db.dispose()  # the backends exit and report their counts
    before = activity_of(db.url, "job_status_history", 1500)
    assert before.changed >= 1500
    assert reltuples(db, "job_status_history") < 0  # never analyzed: the planner guesses
    names = {t.name for t in stats_db.activity(db)}
    assert "job_status_history" in names and "alembic_version" not in names  # the schema's tables only

    agent = planner_stats_agent(db, 5.0)
    assert agent is not None and agent.name == NAME
    assert agent.run_once(NOW) >= 1
    assert reltuples(db, "job_status_history") == 1500
    after = {t.name: t for t in stats_db.activity(db)}["job_status_history"]
    assert after.changed < 1000  # so the next pass leaves it alone
    assert "job_status_history" not in due([after])

    history_rows(db, 200)  # a small change since: left to autovacuum
    db.dispose()
    small = activity_of(db.url, "job_status_history", 200)
    assert small.changed >= 200 and "job_status_history" not in due([small])


def test_analyze_takes_only_the_schemas_table_names(db: Database) -> None:
    with pytest.raises(ValueError, match="not task-buffer tables: 'jobs; DROP TABLE jobs'"):
        stats_db.analyze(db, ["jobs", "jobs; DROP TABLE jobs"])
    stats_db.analyze(db, [])  # nothing to do


def test_not_registered_on_sqlite_or_at_zero(sqlite_db: Database) -> None:
    assert planner_stats_agent(sqlite_db, 5.0) is None
    assert stats_db.activity(sqlite_db) == []
    policy = JobRetryPolicy()
    assert NAME not in {a.name for a in build_agents(sqlite_db, ServerConfig(), policy)}
    assert load_config(env={"PANDA_PLANNER_STATS_INTERVAL": "0"}).planner_stats_interval == 0
    with pytest.raises(ValueError, match="planner_stats_interval: must be >= 0"):
        load_config(env={"PANDA_PLANNER_STATS_INTERVAL": "-1"})


@pytest.mark.parametrize("backend", ["postgresql"])
def test_registered_on_postgresql_unless_off(db: Database) -> None:
    policy = JobRetryPolicy()
    assert NAME in {a.name for a in build_agents(db, ServerConfig(), policy)}
    off = ServerConfig(planner_stats_interval=0)
    assert NAME not in {a.name for a in build_agents(db, off, policy)}

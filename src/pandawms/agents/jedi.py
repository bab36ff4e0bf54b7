"""JEDI's ContentsFeeder and JobGenerator agents (scheduling.md §14.2), both every ``[jedi] interval``.

The feeder runs the generator on the tasks it has just made ready, in the same cycle, so a new task's
first jobs follow its definition at once. Each step is one short write transaction (SQLite: sized to the
writer budget by ``Database.write_until_short``; PostgreSQL: one bunch per transaction), each bounded by
the cycle's file and job budgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from pandawms.agents.runner import Agent
from pandawms.config import JediConfig
from pandawms.db.engine import Database
from pandawms.services import feeder, jobgen
from pandawms.services.feeder import FeedCursor, FeedSettings
from pandawms.services.jobgen import GenCycle, GenSettings

MAX_TASKS_PER_CYCLE = 50


def gen_settings(config: JediConfig) -> GenSettings:
    return GenSettings(bunch_size=config.bunch_size, queue_limit=config.queue_limit)


def feed_tasks(db: Database, config: JediConfig, ids: Sequence[int], now: datetime) -> list[int]:
    """Feed each task (up to the cycle's file budget); returns the tasks made ready."""
    settings = FeedSettings(n_scouts=config.n_scouts)
    budget = config.max_files_per_cycle
    ready: list[int] = []
    for task_id in ids:
        if budget <= 0:
            break
        cursor = FeedCursor()

        def step(conn: Connection, limit: int, task_id: int = task_id, cursor: FeedCursor = cursor) -> int:
            return feeder.feed_step(conn, task_id, now, limit, cursor, settings)

        budget -= db.write_until_short(step, budget)
        if cursor.outcome == "ready":
            ready.append(task_id)
    return ready


def generate(db: Database, config: JediConfig, ids: Sequence[int], now: datetime) -> int:
    """Make jobs for each task, up to the cycle's job budget; returns how many jobs were made."""
    settings = gen_settings(config)
    cycle = GenCycle()
    budget = config.max_jobs_per_cycle
    made = 0
    for task_id in ids:
        if budget <= 0:
            break

        def step(conn: Connection, limit: int, task_id: int = task_id) -> int:
            nonlocal made
            bunch = jobgen.generate_bunch(conn, task_id, now, limit, cycle, settings)
            made += bunch.jobs
            return limit if bunch.more else bunch.jobs

        budget -= db.write_until_short(step, budget)
    return made


def jedi_agents(db: Database, config: JediConfig) -> list[Agent]:
    """The ContentsFeeder and the JobGenerator."""

    def feed_once(now: datetime) -> int:
        with db.read() as conn:
            ids = feeder.tasks_to_feed(conn, MAX_TASKS_PER_CYCLE)
        ready = feed_tasks(db, config, ids, now)
        if ready:
            generate(db, config, ready, now)
        return len(ready)

    def generate_once(now: datetime) -> int:
        with db.read() as conn:
            ids = jobgen.tasks_to_generate(conn, MAX_TASKS_PER_CYCLE)
        return generate(db, config, ids, now)

    return [
        Agent("contents_feeder", config.interval, feed_once),
        Agent("job_generator", config.interval, generate_once),
    ]

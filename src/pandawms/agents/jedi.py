"""JEDI's ContentsFeeder and JobGenerator agents (scheduling.md §14.2), both every ``[jedi] interval``.

The feeder runs the generator on the tasks it has just made ready, in the same cycle, so a new task's
first jobs follow its definition at once. A feeding step (<= FEED_STEP files) and a generator bunch (<=
``bunch_size`` jobs) are one transaction each, bounded by the cycle's file and job budgets. The generator
also makes the merge jobs of mergeOutput tasks (services/merging.py), one transaction per task.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pandawms.agents.runner import Agent
from pandawms.config import JediConfig
from pandawms.core.shares import DEFAULT_TREE, Share
from pandawms.db.engine import Database
from pandawms.services import feeder, jobgen, merging
from pandawms.services.feeder import FeedCursor, FeedSettings
from pandawms.services.jobgen import GenCycle, GenSettings

MAX_TASKS_PER_CYCLE = 50
# Files per feeding transaction: ~50-100 ms of writer time on SQLite, like a generator bunch (smaller
# steps sized to the 10 ms writer budget spent most of their time on per-step fixed costs: 4k files/s).
FEED_STEP = 5000


def gen_settings(config: JediConfig) -> GenSettings:
    return GenSettings(bunch_size=config.bunch_size, queue_limit=config.queue_limit)


def feed_tasks(db: Database, config: JediConfig, ids: Sequence[int], now: datetime) -> list[int]:
    """Feed each task (up to the cycle's file budget); returns the tasks made ready."""
    settings = FeedSettings(n_scouts=config.n_scouts, first_chunk=config.feed_first_chunk)
    budget = config.max_files_per_cycle
    ready: list[int] = []
    for task_id in ids:
        if budget <= 0:
            break
        cursor = FeedCursor()
        for _ in range(budget // FEED_STEP + 2):  # bounded by the budget; a short step ends the task
            with db.write() as conn:
                read = feeder.feed_step(conn, task_id, now, min(FEED_STEP, budget), cursor, settings)
            budget -= read
            if cursor.done or budget <= 0:
                break
        if cursor.outcome == "ready":
            ready.append(task_id)
    return ready


def generate(db: Database, config: JediConfig, ids: Sequence[int], now: datetime) -> int:
    """Make jobs for each task in bunches of ``bunch_size`` (one transaction each: a bunch's jobs and
    rows are stored together or not at all), up to the cycle's job budget; returns how many were made."""
    settings = gen_settings(config)
    cycle = GenCycle()
    budget = config.max_jobs_per_cycle
    for task_id in ids:
        for _ in range(budget // max(1, settings.bunch_size) + 1):  # bounded by the budget
            if budget <= 0:
                break
            with db.write() as conn:
                bunch = jobgen.generate_bunch(
                    conn, task_id, now, min(budget, settings.bunch_size), cycle, settings
                )
            budget -= bunch.jobs
            if not bunch.more:
                break
    return config.max_jobs_per_cycle - budget


def merge(db: Database, config: JediConfig, now: datetime) -> int:
    """Merge jobs for the tasks with prepared pre-merge pieces (one transaction per task), throttled like
    the task's other jobs (jobgen.headroom); returns how many were made."""
    with db.read() as conn:
        ids = merging.tasks_to_merge(conn, MAX_TASKS_PER_CYCLE)
    made = 0
    for task_id in ids:
        with db.write() as conn:
            room = min(merging.MAX_MERGE_JOBS, jobgen.headroom(conn, task_id, config.queue_limit))
            if room > 0:
                made += merging.merge_bunch(conn, task_id, now, limit=room).jobs
    return made


def jedi_agents(db: Database, config: JediConfig, shares: Share = DEFAULT_TREE) -> list[Agent]:
    """The ContentsFeeder and the JobGenerator (tasks of the most under-served share of ``shares``
    first)."""

    def feed_once(now: datetime) -> int:
        with db.read() as conn:
            ids = feeder.tasks_to_feed(conn, MAX_TASKS_PER_CYCLE)
        ready = feed_tasks(db, config, ids, now)
        if ready:
            generate(db, config, ready, now)
        return len(ready)

    def generate_once(now: datetime) -> int:
        with db.read() as conn:
            ids = jobgen.tasks_to_generate(conn, MAX_TASKS_PER_CYCLE, shares)
        return generate(db, config, ids, now) + merge(db, config, now)

    return [
        Agent("contents_feeder", config.interval, feed_once),
        Agent("job_generator", config.interval, generate_once),
    ]

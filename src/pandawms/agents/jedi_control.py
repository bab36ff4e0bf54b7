"""JEDI's control agents: the TaskCommando (queued task commands), the PostProcessor (final task
status), the scout evaluator and the task WatchDog. Each pass walks its tasks by id in short write
transactions (db.write_until_short), so a long list never holds the writer for long."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pandawms.agents.data import batch_pass
from pandawms.agents.runner import Agent
from pandawms.config import JediConfig
from pandawms.db.engine import Database
from pandawms.services import postprocessor, scouting, task_commands, task_watchdog
from pandawms.services.activator import Batch
from pandawms.services.scouting import ScoutPolicy
from pandawms.services.task_watchdog import WatchdogTimes

RESCUE_PER_PASS = 10_000


@dataclass(frozen=True, slots=True)
class JediControlSettings:
    """Intervals (s) and batch sizes of the control agents (JEDI's cycles are 60/20/300 s; commands run
    within seconds here)."""

    commando_interval: float = 5.0
    postprocessor_interval: float = 20.0
    scout_interval: float = 20.0
    watchdog_interval: float = 300.0
    batch_size: int = 100
    scouts: ScoutPolicy = field(default_factory=ScoutPolicy)
    times: WatchdogTimes = field(default_factory=WatchdogTimes)


def task_commando(db: Database, settings: JediControlSettings) -> Agent:
    def run_once(now: datetime) -> int:
        """Carry out queued commands, oldest first, up to one batch."""
        return db.write_until_short(
            lambda conn, limit: task_commands.execute_pending(conn, now, limit), settings.batch_size
        )

    return Agent("task_commando", settings.commando_interval, run_once)


def jedi_control_agents(db: Database, settings: JediControlSettings | None = None) -> list[Agent]:
    """The TaskCommando, PostProcessor, scout evaluator and task WatchDog."""
    s = settings or JediControlSettings()

    def scouts(conn: Connection, now: datetime, limit: int, after: int) -> Batch:
        return scouting.evaluate_scouts(conn, now, s.scouts, limit, after)

    def pending(conn: Connection, now: datetime, limit: int, after: int) -> Batch:
        return task_watchdog.watch_pending(conn, now, s.times, limit, after)

    watch_pending = batch_pass(db, "task_watchdog", s.watchdog_interval, s.batch_size, pending).run_once

    def watchdog(now: datetime) -> int:
        """Pending tasks restored or exhausted, then rows stuck picked returned to ready."""
        rescued = db.write_until_short(
            lambda conn, limit: task_watchdog.rescue_picked(conn, now, s.times, limit), RESCUE_PER_PASS
        )
        return watch_pending(now) + rescued

    return [
        task_commando(db, s),
        batch_pass(db, "post_processor", s.postprocessor_interval, s.batch_size, postprocessor.postprocess),
        batch_pass(db, "scout_evaluator", s.scout_interval, s.batch_size, scouts),
        Agent("task_watchdog", s.watchdog_interval, watchdog),
    ]


def control_settings(config: JediConfig) -> JediControlSettings:
    """The control agents' settings from the ``[jedi]`` section."""
    times = WatchdogTimes(
        pending_wait=timedelta(seconds=config.pending_wait),
        pending_timeout=timedelta(seconds=config.pending_timeout),
        picked_timeout=timedelta(seconds=config.picked_rescue),
    )
    return JediControlSettings(
        commando_interval=config.command_interval,
        postprocessor_interval=config.postprocessor_interval,
        scout_interval=config.scout_interval,
        watchdog_interval=config.watchdog_interval,
        times=times,
    )

"""Watchdog agents: one per timeout rule (lost heartbeat, sent/holding/transferring timeouts, expiry),
one ending the workers of silent factories as missed, and one dropping old acquire request records.
A batch runs as short write transactions (``Database.write_until_short``) so pilot calls never queue
behind a thousand-job batch on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Connection

from pandawms.agents.runner import Agent
from pandawms.config import WatchdogConfig
from pandawms.core.timeouts import TimeoutRule, default_rules
from pandawms.db.engine import Database
from pandawms.services import acquire_repeat, watchdog, workers
from pandawms.services.termination import JobRetryPolicy


def rules_from_config(cfg: WatchdogConfig) -> tuple[TimeoutRule, ...]:
    return default_rules(
        lost_heartbeat=cfg.lost_heartbeat,
        sent_timeout=cfg.sent_timeout,
        holding_timeout=cfg.holding_timeout,
        transferring_timeout=cfg.transferring_timeout,
        activated_expiry=cfg.activated_expiry,
        defined_timeout=cfg.defined_timeout,
        assigned_timeout=cfg.assigned_timeout,
        waiting_timeout=cfg.waiting_timeout,
    )


def _apply(conn: Connection, limit: int, *, rule: TimeoutRule, now: datetime, policy: JobRetryPolicy) -> int:
    return watchdog.apply_rule(conn, rule, now, policy, limit)


def watchdog_agents(db: Database, cfg: WatchdogConfig, policy: JobRetryPolicy) -> list[Agent]:
    def make(rule: TimeoutRule) -> Agent:
        def run_once(now: datetime) -> int:
            step = partial(_apply, rule=rule, now=now, policy=policy)
            return db.write_until_short(step, cfg.batch_size)

        return Agent(rule.name, cfg.interval, run_once)

    return [make(rule) for rule in rules_from_config(cfg)]


def missed_workers_agent(db: Database, cfg: WatchdogConfig) -> Agent:
    """Workers of a factory silent for ``factory_silence`` s end as missed (they would block grants)."""

    def run_once(now: datetime) -> int:
        def step(conn: Connection, limit: int) -> int:
            return workers.mark_missed(conn, now, cfg.factory_silence, limit)

        return db.write_until_short(step, cfg.batch_size)

    return Agent("missed_workers", cfg.interval, run_once)


def acquire_requests_agent(db: Database, cfg: WatchdogConfig) -> Agent:
    """Records of acquire calls older than ``sent_timeout`` go: their jobs are no longer sent to anyone."""
    keep = timedelta(seconds=cfg.sent_timeout)

    def run_once(now: datetime) -> int:
        def step(conn: Connection, limit: int) -> int:
            return acquire_repeat.clean(conn, now, keep, limit)

        return db.write_until_short(step, cfg.batch_size)

    return Agent("acquire_requests", cfg.interval, run_once)

"""Watchdog agents: one per timeout rule (lost heartbeat, sent/holding/transferring timeouts, expiry),
and one ending the workers of silent factories as missed."""

from __future__ import annotations

from datetime import datetime

from pandawms.agents.runner import Agent
from pandawms.config import WatchdogConfig
from pandawms.core.timeouts import TimeoutRule, default_rules
from pandawms.db.engine import Database
from pandawms.services import watchdog, workers
from pandawms.services.termination import JobRetryPolicy


def rules_from_config(cfg: WatchdogConfig) -> tuple[TimeoutRule, ...]:
    return default_rules(
        lost_heartbeat=cfg.lost_heartbeat,
        sent_timeout=cfg.sent_timeout,
        holding_timeout=cfg.holding_timeout,
        transferring_timeout=cfg.transferring_timeout,
        activated_expiry=cfg.activated_expiry,
        defined_timeout=cfg.defined_timeout,
    )


def watchdog_agents(db: Database, cfg: WatchdogConfig, policy: JobRetryPolicy) -> list[Agent]:
    def make(rule: TimeoutRule) -> Agent:
        def run_once(now: datetime) -> int:
            with db.write() as conn:
                return watchdog.apply_rule(conn, rule, now, policy, cfg.batch_size)

        return Agent(rule.name, cfg.interval, run_once)

    return [make(rule) for rule in rules_from_config(cfg)]


def missed_workers_agent(db: Database, cfg: WatchdogConfig) -> Agent:
    """Workers of a factory silent for ``factory_silence`` s end as missed (they would block grants)."""

    def run_once(now: datetime) -> int:
        with db.write() as conn:
            return workers.mark_missed(conn, now, cfg.factory_silence, cfg.batch_size)

    return Agent("missed_workers", cfg.interval, run_once)

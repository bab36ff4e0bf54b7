"""Brokerage agent: re-brokers defined jobs that found no queue at submission (all were full or off)."""

from __future__ import annotations

from datetime import datetime

from pandawms.agents.runner import Agent
from pandawms.db.engine import Database
from pandawms.services import placement


def brokerage_agent(db: Database, interval: float, batch_size: int) -> Agent:
    def run_once(now: datetime) -> int:
        with db.write() as conn:
            return placement.rebroker_pending(conn, now, batch_size)

    return Agent("brokerage", interval, run_once)

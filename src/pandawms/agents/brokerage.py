"""Brokerage agent: re-brokers defined jobs that found no queue at submission (all were full or off)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from pandawms.agents.runner import Agent
from pandawms.db.engine import Database
from pandawms.services import placement


def brokerage_agent(db: Database, interval: float, batch_size: int) -> Agent:
    def run_once(now: datetime) -> int:
        """One pass over the waiting jobs in short batches; returns how many left the defined state."""
        after, moved = 0, 0

        def step(conn: Connection, limit: int) -> int:
            nonlocal after, moved
            batch = placement.rebroker_pending(conn, now, limit, after)
            after, moved = batch.last_id, moved + batch.moved
            return batch.examined

        db.write_until_short(step, batch_size)
        return moved

    return Agent("brokerage", interval, run_once)

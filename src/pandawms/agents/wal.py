"""The WAL checkpoint agent: on SQLite, a TRUNCATE checkpoint every ``wal_checkpoint_interval`` seconds
(db/wal.py says why), its result logged and kept for /api/v1/health. Not registered on PostgreSQL or
with an interval of 0."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from pandawms.agents.runner import Agent
from pandawms.db import wal as wal_db
from pandawms.db.engine import Database

log = logging.getLogger("pandawms.agents")
NAME = "wal_checkpoint"


@dataclass(frozen=True, slots=True)
class CheckpointPass:
    at: datetime
    result: wal_db.WalCheckpoint


class WalCheckpointer:
    """``run_once`` of the agent (an object, so health can read the last pass)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.last: CheckpointPass | None = None

    def __call__(self, now: datetime) -> int:
        """One pass; counts 1 when it truncated a non-empty log."""
        result = wal_db.checkpoint_truncate(self.db)
        if result is None:
            return 0
        self.last = CheckpointPass(now, result)
        log.info(  # busy is no fault: a reader still on an old snapshot, the next pass tries again
            "wal checkpoint: busy=%d log=%d checkpointed=%d wal_bytes=%d",
            result.busy,
            result.log_frames,
            result.checkpointed_frames,
            result.wal_bytes,
        )
        return int(not result.busy and result.log_frames > 0)


def wal_checkpoint_agent(db: Database, interval: float) -> Agent | None:
    """The agent, or None where it has nothing to do (PostgreSQL) or is turned off (interval 0)."""
    if interval <= 0 or not db.is_sqlite:
        return None
    return Agent(NAME, interval, WalCheckpointer(db))


def last_pass(agents: list[Agent]) -> CheckpointPass | None:
    """The last pass of the WAL checkpoint agent among ``agents`` (None: none registered or run yet)."""
    for agent in agents:
        if isinstance(agent.run_once, WalCheckpointer):
            return agent.run_once.last
    return None

"""Queue file agent: re-reads the queue file when it changes, so edits apply without a restart."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from pandawms.agents.runner import Agent
from pandawms.db.engine import Database
from pandawms.protocol.queues import parse_queue_file
from pandawms.services import queues as queue_service

log = logging.getLogger("pandawms.agents.queue_file")


class QueueFileSync:
    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path
        self.mtime: float | None = None

    def run_once(self, now: datetime) -> int:
        mtime = self.path.stat().st_mtime
        if mtime == self.mtime:
            return 0
        specs = parse_queue_file(self.path)  # a bad edit raises and is logged; the old config stays
        with self.db.write() as conn:
            count = queue_service.sync(conn, specs, now)
        self.mtime = mtime
        log.info("queue file %s: %d queue(s) synced", self.path, count)
        return count


def queue_file_agent(db: Database, path: Path, interval: float = 5.0) -> Agent:
    return Agent("queue_file", interval, QueueFileSync(db, path).run_once)

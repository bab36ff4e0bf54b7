"""Config file agents: re-read the queue file and the RSE file when they change, so edits apply without a
restart. A bad edit raises (logged by the runner) and the old configuration stays until the file is fixed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection

from pandawms.agents.runner import Agent
from pandawms.db.engine import Database
from pandawms.protocol.queues import parse_queue_file
from pandawms.protocol.rses import parse_rse_file
from pandawms.services import queues as queue_service
from pandawms.services import rses as rse_service

log = logging.getLogger("pandawms.agents.queue_file")
Load = Callable[[Connection, Path, datetime], int]


class FileSync:
    """Calls ``load`` (parse + sync, one transaction) when the file's mtime changed since the last success."""

    def __init__(self, db: Database, path: Path, load: Load, what: str) -> None:
        self.db = db
        self.path = path
        self.load = load
        self.what = what
        self.mtime: float | None = None

    def run_once(self, now: datetime) -> int:
        mtime = self.path.stat().st_mtime
        if mtime == self.mtime:
            return 0
        with self.db.write() as conn:
            count = self.load(conn, self.path, now)
        self.mtime = mtime
        log.info("%s file %s: %d synced", self.what, self.path, count)
        return count


def load_queues(conn: Connection, path: Path, now: datetime) -> int:
    return queue_service.sync(conn, parse_queue_file(path), now)


def load_rses(conn: Connection, path: Path, now: datetime) -> int:
    parsed = parse_rse_file(path)
    return rse_service.sync(conn, parsed.rses, parsed.distances, now)


class QueueFileSync(FileSync):
    def __init__(self, db: Database, path: Path) -> None:
        super().__init__(db, path, load_queues, "queue")


class RseFileSync(FileSync):
    def __init__(self, db: Database, path: Path) -> None:
        super().__init__(db, path, load_rses, "RSE")


def queue_file_agent(db: Database, path: Path, interval: float = 5.0) -> Agent:
    return Agent("queue_file", interval, QueueFileSync(db, path).run_once)


def rse_file_agent(db: Database, path: Path, interval: float = 5.0) -> Agent:
    return Agent("rse_file", interval, RseFileSync(db, path).run_once)

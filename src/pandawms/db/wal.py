"""The SQLite WAL's TRUNCATE checkpoint (issue 12, point 6). A commit's automatic checkpoint cannot reset
the log while a reader holds an old snapshot, so under readers that never all let go at once the WAL
only grows; a ``wal_checkpoint(TRUNCATE)`` run once they have copies the log back and cuts the file to
0 bytes. No-op on PostgreSQL.

The pass waits its turn among this process's writers and gives up after ``BUSY_TIMEOUT_S`` on anyone
else (a reader on an old snapshot, another process's writer): a TRUNCATE checkpoint blocks new writers
while it waits, so it must not wait long; the next pass tries again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from pandawms.db.engine import Database

BUSY_TIMEOUT_S = 0.1


@dataclass(frozen=True, slots=True)
class WalCheckpoint:
    busy: bool  # a reader or another writer kept the checkpoint from completing (the log is as it was)
    log_frames: int  # frames in the log when the pass ran (-1: the database is not in WAL mode)
    checkpointed_frames: int  # of them, copied back into the database
    wal_bytes: int  # the WAL file's size after the pass (0 once truncated)


def wal_path(db: Database) -> Path:
    return Path(f"{make_url(db.url).database}-wal")


def checkpoint_truncate(db: Database) -> WalCheckpoint | None:
    """A PASSIVE checkpoint (it counts the log's frames and copies back what no reader still needs), then
    a TRUNCATE one, on its own short-timeout connection; None on PostgreSQL. A completed TRUNCATE reports
    an empty log, so the frame counts come from the PASSIVE pass."""
    if not db.is_sqlite:
        return None
    with db.writer_turn():
        conn = sqlite3.connect(str(make_url(db.url).database), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            _, log_frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            conn.close()
    wal = wal_path(db)
    size = wal.stat().st_size if wal.exists() else 0
    return WalCheckpoint(bool(busy), int(log_frames), int(copied if busy else log_frames), size)

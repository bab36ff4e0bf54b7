"""The SQLite WAL does not stay at its high-water mark (issue 12, finding 6): after a burst of writes and
a checkpoint that resets the log, the next write cuts the WAL file back to ``WAL_SIZE_LIMIT_BYTES``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from pandawms.db import engine as engine_mod
from pandawms.db.engine import Database


def test_the_wal_is_cut_back_after_a_burst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "WAL_SIZE_LIMIT_BYTES", 64 * 1024)
    path = tmp_path / "panda.db"
    db = Database(f"sqlite:///{path}")
    wal = Path(f"{path}-wal")
    try:
        with db.write() as conn:
            conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)"))
            conn.execute(text("CREATE TABLE marks (id INTEGER PRIMARY KEY)"))
        with db.write() as conn:  # a burst: about 8 MB in one transaction
            for i in range(200):
                conn.execute(text("INSERT INTO blobs (id, body) VALUES (:i, randomblob(40000))"), {"i": i})
        burst = wal.stat().st_size
        assert burst > 4 * 2**20, burst
        # no reader held a snapshot, so the commit's automatic checkpoint copied the whole log back; the
        # next writer starts the log over and cuts the file back to the limit
        with db.write() as conn:
            conn.execute(text("INSERT INTO marks (id) VALUES (1)"))  # a write of a page or two
        assert wal.stat().st_size <= 64 * 1024, (burst, wal.stat().st_size)
        with db.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM blobs")).scalar_one() == 200
    finally:
        db.dispose()

"""Two clients adding the same new scope or RSE at the same moment both succeed (one creates it): on
PostgreSQL the second insert waits for the first and then finds the row, instead of an IntegrityError."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.data import RSESpec
from pandawms.db import catalog as catalog_db
from pandawms.db import rses as rses_db
from pandawms.db.engine import Database

NOW = datetime(2026, 1, 1, 12)


Write = Callable[[Connection], object]


def _race(db: Database, first_write: Write, second_write: Write) -> list[object]:
    """Run ``second_write`` in another thread while ``first_write``'s transaction is still open."""
    results: list[object] = []
    errors: list[BaseException] = []
    with db.writer.connect() as conn, conn.begin():
        results.append(first_write(conn))

        def other() -> None:
            try:
                with db.write() as conn2:
                    results.append(second_write(conn2))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(0.3)  # on PostgreSQL it waits for our row lock; on SQLite for the writer
    thread.join(30)
    assert not thread.is_alive()
    assert errors == []
    return results


def test_concurrent_adds_of_one_new_scope(db: Database) -> None:
    def add(conn: Connection) -> object:
        return catalog_db.insert_scope(conn, "user.race", "alice", NOW)

    results = _race(db, add, add)
    assert sorted(map(bool, results)) == [False, True]
    with db.read() as conn:
        assert ("user.race", "alice") in catalog_db.list_scopes(conn)


def test_concurrent_upserts_of_one_new_rse(db: Database) -> None:
    a = RSESpec(name="RACE_DISK", site="S1", prefix="file:///a")
    b = RSESpec(name="RACE_DISK", site="S1", prefix="file:///b")
    _race(db, lambda conn: rses_db.upsert(conn, a, NOW), lambda conn: rses_db.upsert(conn, b, NOW))
    with db.read() as conn:
        got = rses_db.get(conn, "RACE_DISK")
    assert got is not None and got.prefix == "file:///b"  # the later upsert wins, nothing lost

"""Engines and transactions for SQLite (WAL, the embedded default) and PostgreSQL (psycopg 3).

Every write runs in ``Database.write()``: on SQLite that is ``BEGIN IMMEDIATE`` (the writer lock is
taken up front, so two writers never deadlock on a lock upgrade); on PostgreSQL a READ COMMITTED
transaction where rows are locked explicitly (``FOR UPDATE [SKIP LOCKED]``). Reads use ``read()``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError

from pandawms.core.errors import Transient

SQLITE_BUSY_TIMEOUT_MS = 30_000


class Database:
    """A task buffer connection: the dialect, a writer engine and a reader engine."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        # SQLite has one writer at a time. Threads of this process queue on a mutex instead of on
        # SQLite's busy handler, which sleeps in growing steps (ms to 100 ms) and wrecks tail latency;
        # other processes still wait through busy_timeout.
        self._write_lock: AbstractContextManager[object] = nullcontext()
        if self.dialect == "sqlite":
            _ensure_parent_dir(parsed.database)
            self.writer = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self.reader = _sqlite_engine(url, "BEGIN")
            self._write_lock = threading.Lock()
        elif self.dialect == "postgresql":
            # No pool_pre_ping: it costs a round trip per transaction; stale connections are recycled
            # instead, and a dropped one surfaces as an OperationalError the caller retries.
            self.writer = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size * 2, pool_recycle=1800
            )
            self.reader = self.writer
        else:
            raise ValueError(
                f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql+psycopg://..."
            )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction; commits on success, rolls back on error. Lock timeouts become Transient."""
        try:
            with self._write_lock, self.writer.begin() as conn:
                yield conn
        except OperationalError as exc:
            if _is_lock_error(exc):
                raise Transient(f"database busy: {exc.orig}") from exc
            raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def _ensure_parent_dir(database: str | None) -> None:
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, begin_sql: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin_sql)

    return engine


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "lock timeout" in text or "deadlock" in text

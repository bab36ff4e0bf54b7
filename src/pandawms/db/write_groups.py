"""Group commit on SQLite: one write transaction that several calls share, each isolated by a savepoint.

``Database.group()`` (db/engine.py) opens the transaction and hands out a ``WriteGroup``; the server's
batcher (server/groupcommit.py) runs each pilot call through ``WriteGroup.call``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, StatementError

T = TypeVar("T")


@dataclass
class GroupStats:
    """Group commit so far in this process: transactions committed and the calls they carried."""

    transactions: int = 0
    calls: int = 0


class GroupAborted(Exception):
    """The shared transaction of a ``WriteGroup`` cannot go on (SQLite rolled it back after an I/O or
    disk-full error): none of its calls is stored. ``error`` is the driver's error as SQLAlchemy's (an
    OperationalError answers 503)."""

    def __init__(self, error: StatementError) -> None:
        super().__init__(str(error))
        self.error = error


class WriteGroup:
    """One SQLite write transaction that several callers share (``Database.group()``).

    ``call(fn)`` isolates ``fn`` with a savepoint, taken by its first ``write()`` (a call that writes
    nothing costs none): when ``fn`` raises, its writes and the ``after_commit`` callbacks it registered
    are undone and the other calls' are kept. A ``write()`` block that raises is undone alone, as a
    transaction of its own would be. Nothing is stored until the group commits, so answers go out only
    after that.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.calls = 0
        self.after: list[Callable[[], None]] = []
        self._dbapi: Any = conn.connection.dbapi_connection
        self._saved = False  # the running call's savepoint is taken

    def call(self, fn: Callable[[], T]) -> T:
        self.calls += 1
        mark = len(self.after)
        self._saved = False
        try:
            out = fn()
        except BaseException:
            del self.after[mark:]
            if self._saved:
                self._sql("ROLLBACK TO grouped_call")
                self._sql("RELEASE grouped_call")
            raise
        finally:
            saved, self._saved = self._saved, False
        if saved:
            self._sql("RELEASE grouped_call")
        return out

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write block of the running call: the call's savepoint if it is its first, else a nested one."""
        if self._saved:
            self._sql("SAVEPOINT grouped_write")
            try:
                yield self.conn
            except BaseException:
                self._sql("ROLLBACK TO grouped_write")
                self._sql("RELEASE grouped_write")
                raise
            self._sql("RELEASE grouped_write")
            return
        self._sql("SAVEPOINT grouped_call")
        self._saved = True
        try:
            yield self.conn
        except BaseException:
            self._sql("ROLLBACK TO grouped_call")  # kept: the call may go on writing
            raise

    def _sql(self, sql: str) -> None:
        """A savepoint statement on the DBAPI connection (SQLAlchemy's begin_nested names each savepoint
        anew, so compiles every time). If SQLite has rolled the whole transaction back meanwhile (an I/O
        or disk-full error), the savepoint is gone: GroupAborted."""
        try:
            self._dbapi.execute(sql)
        except sqlite3.Error as exc:
            raise GroupAborted(DBAPIError.instance(sql, (), exc, sqlite3.Error)) from exc

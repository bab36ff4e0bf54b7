"""Engines and transactions for SQLite (WAL, the embedded default) and PostgreSQL (psycopg 3).

Every write runs in ``Database.write()``: on SQLite that is ``BEGIN IMMEDIATE`` (the writer lock is
taken up front, so two writers never deadlock on a lock upgrade); on PostgreSQL a READ COMMITTED
transaction where rows are locked explicitly (``FOR UPDATE [SKIP LOCKED]``). Reads use ``read()``
(on PostgreSQL each statement commits on its own, as do the one-statement writes of ``autocommit()``).

SQLite has one writer, so a long transaction stalls every pilot call behind it. Writers of this process
queue first come, first served (``WriterLock``), and long batches run as a series of short
transactions (``write_chunks``) that each stay within ``CHUNK_BUDGET_S``. Short calls that arrive
together can share one transaction (``group()``, group commit): each runs in its own savepoint, so a
failing one is undone alone, and they commit together.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from pandawms.core.errors import Fatal, Transient
from pandawms.db.write_groups import GroupStats, WriteGroup

SQLITE_BUSY_TIMEOUT_MS = 30_000
CHUNK_BUDGET_S = 0.01  # a chunked batch aims at transactions this long (pilot calls wait at most that)
MIN_FREE_DISK_BYTES = 4 * 2**20  # below this the SQLite folder counts as full (a WAL checkpoint needs room)
# SQLite keeps a WAL file at its high-water mark (a burst of writes while readers held old snapshots left
# it at 2.4x the database); past a checkpoint that resets it, the file is cut back to this size
WAL_SIZE_LIMIT_BYTES = 64 * 2**20
T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


class WriterLock:
    """A reentrant lock granted in arrival order (threading.Lock lets a releasing thread barge back in,
    so a loop of short writers could starve a waiting one). ``try_acquire`` fails when the lock is held
    or anyone is queued, so a caller that must not block can go elsewhere instead of jumping the queue.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[int] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            self._queue.append(me)
            while self._owner is not None or self._queue[0] != me:
                self._cond.wait()
            self._queue.popleft()
            self._owner, self._depth = me, 1

    def try_acquire(self) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is not None or self._queue:
                return False
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("WriterLock released by a thread that does not hold it")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._owner is not None or bool(self._queue)


class Database:
    """A task buffer connection: the dialect, a writer engine and a reader engine."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        # SQLite has one writer at a time. Threads of this process queue on a FIFO lock instead of on
        # SQLite's busy handler, which sleeps in growing steps (ms to 100 ms) and wrecks tail latency;
        # other processes still wait through busy_timeout.
        self._write_lock: WriterLock | None = None
        self._group: tuple[int, WriteGroup] | None = None  # (thread, group) while a group is open
        self.group_stats = GroupStats()
        if self.dialect == "sqlite":
            _ensure_parent_dir(parsed.database)
            self.writer = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self.reader = _sqlite_engine(url, "BEGIN")
            self._write_lock = WriterLock()
        elif self.dialect == "postgresql":
            # No pool_pre_ping: it costs a round trip per transaction; stale connections are recycled
            # instead, and a dropped one surfaces as an OperationalError the caller retries.
            self.writer = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size * 2, pool_recycle=1800
            )
            # Reads, and the one-statement writes of ``autocommit()``, commit each statement: under READ
            # COMMITTED every statement takes its own snapshot anyway, so wrapping them in a transaction
            # only added BEGIN and ROLLBACK (or COMMIT), two round trips. Same pool as the writer.
            self.reader = self.writer.execution_options(isolation_level="AUTOCOMMIT")
        else:
            raise ValueError(
                f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql+psycopg://..."
            )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction; commits on success, rolls back on error. Lock timeouts become Transient.

        Inside ``group()`` on the same thread: a savepoint of the group's transaction instead (an error
        undoes this block's writes only; the group commits them later).
        """
        group = self._group
        if group is not None and group[0] == threading.get_ident():
            with group[1].write() as conn:
                yield conn
            return
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with _BUSY_AS_TRANSIENT, self.writer.begin() as conn:
                yield conn
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """PostgreSQL: a connection on which each statement commits on its own, for a write that is one
        statement (a compare-and-set such as ``db.jobs.write_status``): no BEGIN, no COMMIT, two round
        trips fewer than ``write()``. A block of several writes belongs in ``write()``, where they
        commit together. SQLite has no use for it (its writes share group commits): RuntimeError."""
        if self.is_sqlite:
            raise RuntimeError("autocommit() is for PostgreSQL; SQLite writes go through write()")
        with self.reader.connect() as conn:
            yield conn

    @contextmanager
    def group(self) -> Iterator[WriteGroup]:
        """SQLite: one write transaction for several calls (group commit), in this process's writer turn.

        Run each call through ``WriteGroup.call``; ``write()`` on this thread joins the group. Commits
        when the block ends, then runs the ``after_commit`` callbacks; an error out of the block rolls
        every call back. Lock timeouts become Transient, as in ``write()``.
        """
        lock = self._write_lock
        if lock is None:
            raise RuntimeError("group commit is for SQLite's single writer")
        lock.acquire()
        try:
            with _BUSY_AS_TRANSIENT, self.writer.begin() as conn:
                group = WriteGroup(conn)
                self._group = (threading.get_ident(), group)
                try:
                    yield group
                finally:
                    self._group = None
            self.group_stats.transactions += 1  # committed; still in the writer turn
            self.group_stats.calls += group.calls
        finally:
            lock.release()
        for callback in group.after:
            try:
                callback()
            except Exception:  # the calls are stored: a failing in-memory update must not un-answer them
                log.exception("after-commit callback failed")

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the caller's writes are committed: now, or when this thread's open
        ``group()`` commits (never, if its call or the group is rolled back). For in-memory facts that
        must not run ahead of the database."""
        group = self._group
        if group is not None and group[0] == threading.get_ident():
            group[1].after.append(callback)
        else:
            callback()

    @contextmanager
    def writer_turn(self) -> Iterator[None]:
        """Hold this process's SQLite writer turn without a transaction (a checkpoint runs outside one);
        a no-op on PostgreSQL."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            yield
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def writer_if_free(self) -> Iterator[bool]:
        """Hold this process's SQLite writer turn if it is free right now (yields True), else yield False.

        While held, ``write()`` on this thread does not wait: the event loop uses this to run a short
        write inline when nobody is writing, and hands the call to a thread otherwise. Always False on
        PostgreSQL, where writers do not share one lock.
        """
        lock = self._write_lock
        held = lock is not None and lock.try_acquire()
        try:
            yield held
        finally:
            if held and lock is not None:
                lock.release()

    def write_chunks(self, items: Sequence[T], step: Callable[[Connection, Sequence[T]], list[R]]) -> list[R]:
        """Apply ``step`` to ``items``: on SQLite in write transactions of about ``CHUNK_BUDGET_S`` each
        (so other writers wait that long at most), on PostgreSQL in one transaction.

        Each SQLite chunk commits on its own: use this only where a chunk stored alone is acceptable.
        A failure after the first chunk is a Fatal error saying how many items were stored, so the
        caller does not blindly repeat the whole batch.
        """
        out: list[R] = []
        sizer = _ChunkSizer(len(items) if self._write_lock is None else 1)
        while sizer.done < len(items):
            chunk = items[sizer.done : sizer.done + sizer.size]
            try:
                with self._chunk(sizer, len(chunk)) as conn:
                    out.extend(step(conn, chunk))
            except Exception as exc:
                if not sizer.done:
                    raise
                raise Fatal(f"stored {sizer.done} of {len(items)} before this error: {exc}") from exc
        return out

    def write_until_short(self, step: Callable[[Connection, int], int], total: int) -> int:
        """Run ``step(conn, limit) -> acted`` until it acts on fewer than ``limit`` or on ``total`` in all:
        an agent batch that, on SQLite, never holds the writer much longer than ``CHUNK_BUDGET_S``."""
        sizer = _ChunkSizer(total if self._write_lock is None else 1)
        while sizer.done < total:
            limit = min(sizer.size, total - sizer.done)
            with self._chunk(sizer, limit) as conn:
                acted = step(conn, limit)
            if acted < limit:
                return sizer.done - limit + acted
        return sizer.done

    @contextmanager
    def _chunk(self, sizer: _ChunkSizer, n: int) -> Iterator[Connection]:
        """``write()`` for one chunk of ``n`` items of a batch. The sizer learns how long this process's
        writer turn was held (from the turn's start to the commit; not the wait for the turn, which under
        load is other writers' time and once shrank the job-stats agent's chunks to one delta each), and
        counts the items once committed."""
        with self.writer_turn():
            started = time.perf_counter()
            with self.write() as conn:  # the writer lock is reentrant: no second wait
                yield conn
            sizer.record(n, time.perf_counter() - started)

    def ping(self) -> bool:
        """True when the database answers a trivial query (for health checks; never raises)."""
        try:
            with self.reader.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception:  # health must answer even when the database is down
            return False
        return True

    def write_problem(self) -> str | None:
        """Why no write can succeed now (a nearly full disk, a read-only or immutable database), or None.

        A real write probe, for health checks: on SQLite it rewrites the header's ``user_version`` in a
        write transaction (so an immutable file or a full disk fails it), on PostgreSQL it takes a
        transaction id (which a read-only server refuses). Never raises.
        """
        if self.is_sqlite:
            folder = Path(str(make_url(self.url).database)).parent
            try:
                free = shutil.disk_usage(folder).free
            except OSError as exc:
                return f"database folder {folder}: {exc.strerror}"
            if free < MIN_FREE_DISK_BYTES:
                return f"disk nearly full: {free // 2**20} MB free under {folder}"
        try:
            with self.write() as conn:
                if self.is_sqlite:
                    version = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
                    conn.exec_driver_sql(f"PRAGMA user_version = {version}")
                else:
                    conn.exec_driver_sql("SELECT txid_current()")
        except Exception as exc:  # health must answer whatever the database does
            reason = unavailable_reason(exc) or str(exc).strip().splitlines()[0]
            return f"database not writable: {reason}"
        return None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.writer.dispose()
        if self.is_sqlite:  # PostgreSQL's reader shares the writer's pool
            self.reader.dispose()


class _ChunkSizer:
    """Sizes the next chunk from how long the last one took, aiming at ``CHUNK_BUDGET_S``; at most
    doubling or halving per step, because chunks also carry fixed costs that do not scale with size."""

    def __init__(self, first: int) -> None:
        self.size = max(1, first)
        self.done = 0

    def record(self, n: int, elapsed: float) -> None:
        """``n`` items were stored (committed) in a transaction of ``elapsed`` seconds."""
        self.done += n
        wanted = int(n * CHUNK_BUDGET_S / elapsed) if elapsed > 0 else 2 * n
        self.size = min(max(wanted, n // 2, 1), 2 * n)


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
        cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # on the DBAPI connection: every pilot call begins one, and exec_driver_sql's execution context
        # cost more than the BEGIN itself; a driver error still surfaces as SQLAlchemy's (lock -> 503)
        try:
            conn.connection.dbapi_connection.execute(begin_sql)  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            raise DBAPIError.instance(begin_sql, (), exc, sqlite3.Error) from exc

    return engine


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "lock timeout" in text or "deadlock" in text


class _BusyAsTransient:
    """A lock timeout or deadlock out of the block becomes Transient (the client backs off and resends);
    other errors pass unchanged. Stateless: one instance serves every thread."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, OperationalError) and _is_lock_error(exc):
            raise Transient(f"database busy: {exc.orig}") from exc


_BUSY_AS_TRANSIENT = _BusyAsTransient()


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the database cannot answer now (down, dropped, locked, full, read-only), or None when ``exc``
    is not such an error: the server answers those 503 so that clients back off and resend."""
    if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        orig = exc.orig
        lines = str(orig).strip().splitlines() if orig is not None else []
        return lines[0] if lines else type(exc).__name__
    return None

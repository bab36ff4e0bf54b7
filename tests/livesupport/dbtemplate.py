"""Migrated empty task buffers without running the Alembic chain for every test.

Running ``migrate.upgrade`` on a fresh database costs 100-250 ms on SQLite and more on PostgreSQL, and
most tests need exactly that database. So the chain runs once per process into a *template*, and each
test gets a copy: on SQLite a file copy of a template file (WAL checkpointed, the engine disposed, so the
main file holds everything), on PostgreSQL ``CREATE DATABASE ... TEMPLATE`` of a database migrated once
(its engine disposed: PostgreSQL refuses to copy a database somebody is connected to, after waiting 5 s).

The template itself is built by the real chain from empty, so every session still runs it once; the
``db`` fixture's ``migrate_from_empty`` marker runs it on the test's own database
(tests/db/test_schema.py).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

from pandawms.bench.pgserver import PostgresServer
from pandawms.db import migrate
from pandawms.db.engine import Database

PG_TEMPLATE = "panda_template"

_lock = threading.Lock()
_sqlite_template: list[Path] = []  # at most one: the template file of this process


def sqlite_template() -> Path:
    """This process's migrated empty SQLite template file (built on first use, removed at exit)."""
    with _lock:
        if not _sqlite_template:
            root = Path(tempfile.mkdtemp(prefix="panda-template-"))
            atexit.register(shutil.rmtree, root, True)
            path = root / "template.db"
            db = Database(f"sqlite:///{path}")
            try:
                migrate.upgrade(db)
                raw = db.writer.raw_connection()  # outside a transaction (a SQLAlchemy one would BEGIN)
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    raw.close()
            finally:
                db.dispose()
            _sqlite_template.append(path)
        return _sqlite_template[0]


def migrated_sqlite_url(path: Path) -> str:
    """Copy the template to ``path`` (which must not exist yet) and return its SQLAlchemy URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(f"{path} exists: a migrated copy only goes to a new path")
    shutil.copyfile(sqlite_template(), path)
    return f"sqlite:///{path}"


def build_pg_template(server: PostgresServer, name: str = PG_TEMPLATE) -> str:
    """Create database ``name`` on ``server``, migrate it, disconnect; returns ``name`` for
    ``server.create_database(..., template=name)``."""
    db = Database(server.create_database(name))
    try:
        migrate.upgrade(db)
    finally:
        db.dispose()
    return name

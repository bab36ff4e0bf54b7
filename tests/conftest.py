"""Shared fixtures: every db/api test runs on SQLite and on a real PostgreSQL started by the suite."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import fastapi.dependencies.models
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from pandawms.bench.pgserver import PostgresServer
from pandawms.config import ServerConfig
from pandawms.core.ids import QueueName
from pandawms.core.specs import QueueSpec
from pandawms.db import migrate
from pandawms.db.engine import Database
from pandawms.server.app import create_app
from pandawms.services import queues as queue_service
from tests.livesupport.dbtemplate import build_pg_template, migrated_sqlite_url
from tests.storageservers import s3_server, xrootd_server  # noqa: F401 (session fixtures: ddm, pilot)

BACKENDS = ("sqlite", "postgresql")
_db_counter = itertools.count()
_FASTAPI_CALL_CACHES = (
    "_is_gen_callable_cached",
    "_is_async_gen_callable_cached",
    "_is_coroutine_callable_cached",
)


class FrozenClock:
    """A clock tests move by hand; never sleeps."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, 12, 0, 0)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="panda-pg-"))
    server = PostgresServer(base)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    """A database on ``pg_server`` migrated once (no connections left) that test databases copy."""
    return build_pg_template(pg_server)


def make_db_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, *, migrated: bool = True
) -> str:
    """A new database for one test: a copy of the migrated empty template (``migrated=False``: empty)."""
    if backend == "sqlite":
        path = tmp_path / "panda.db"
        return migrated_sqlite_url(path) if migrated else f"sqlite:///{path}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    template = str(request.getfixturevalue("pg_template")) if migrated else None
    return server.create_database(f"t{next(_db_counter)}", template=template)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "migrate_from_empty: the db fixture runs the Alembic chain on an empty database"
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated empty task buffer on ``backend``, disposed (PostgreSQL: dropped) after the test. It is
    a copy of a template migrated once per session; ``@pytest.mark.migrate_from_empty`` runs the real
    Alembic chain on an empty database instead."""
    from_empty = request.node.get_closest_marker("migrate_from_empty") is not None
    database = Database(make_db_url(backend, tmp_path, request, migrated=not from_empty))
    if from_empty:
        migrate.upgrade(database)
    try:
        yield database
    finally:
        database.dispose()
        if not database.is_sqlite:  # its pages leave the buffer pool unwritten; no GBs to flush and delete
            server: PostgresServer = request.getfixturevalue("pg_server")
            server.drop_database(str(make_url(database.url).database))


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(migrated_sqlite_url(tmp_path / "panda.db"))
    yield database
    database.dispose()


@pytest.fixture(autouse=True)
def _forget_fastapi_call_classification() -> Iterator[None]:
    """FastAPI memoises, per endpoint function, whether it is a coroutine/generator (lru_cache of 4096).
    The monitor's endpoints are closures over each app's ServerContext, so every app a test builds stays
    alive through those caches, with its Database, engines and compiled statements: the heap grows to
    ~1.5 M objects and every full GC pass (one in each server's startup) takes over a second. Pure
    memoisation, so forgetting it after each test changes nothing but the heap."""
    yield
    for name in _FASTAPI_CALL_CACHES:  # private names: a FastAPI without them just has nothing to forget
        cache_clear = getattr(getattr(fastapi.dependencies.models, name, None), "cache_clear", None)
        if cache_clear is not None:
            cache_clear()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


DEFAULT_QUEUES = (
    QueueSpec(name=QueueName("SMALL"), cores=1, max_memory_per_core=2000, max_walltime=3600),
    QueueSpec(name=QueueName("BIG"), cores=8, max_memory_per_core=4000, max_walltime=86400),
)


def add_queues(database: Database, specs: tuple[QueueSpec, ...], now: datetime) -> None:
    with database.write() as conn:
        queue_service.sync(conn, specs, now)


@pytest.fixture
def client(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[TestClient]:
    add_queues(db, DEFAULT_QUEUES, clock())
    app = create_app(ServerConfig(agents=False, db_url=db.url, data_dir=tmp_path / "data"), db, clock=clock)
    with TestClient(app) as c:
        yield c

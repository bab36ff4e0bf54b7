"""Shared fixtures: every db/api test runs on SQLite and on a real PostgreSQL started by the suite."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pandawms.bench.pgserver import PostgresServer
from pandawms.config import ServerConfig
from pandawms.core.ids import QueueName
from pandawms.core.specs import QueueSpec
from pandawms.db import migrate
from pandawms.db.engine import Database
from pandawms.server.app import create_app
from pandawms.services import queues as queue_service
from tests.storageservers import s3_server, xrootd_server  # noqa: F401 (session fixtures: ddm, pilot)

BACKENDS = ("sqlite", "postgresql")
_db_counter = itertools.count()


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


def make_db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'panda.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database(f"t{next(_db_counter)}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    database = Database(make_db_url(backend, tmp_path, request))
    migrate.upgrade(database)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'panda.db'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


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

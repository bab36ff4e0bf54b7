"""Monitor fixtures: the server app with the monitor mounted, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pandawms.config import ServerConfig
from pandawms.db.engine import Database
from pandawms.server.app import create_app
from tests.conftest import DEFAULT_QUEUES, FrozenClock, add_queues


@pytest.fixture
def mon(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[TestClient]:
    add_queues(db, DEFAULT_QUEUES, clock())
    # no page cache: these tests change the data between two reads of a page (tests/monitor/test_cache.py
    # covers the cache)
    config = ServerConfig(agents=False, db_url=db.url, data_dir=tmp_path / "data", monitor_cache_seconds=0)
    with TestClient(create_app(config, db, clock=clock)) as client:
        yield client

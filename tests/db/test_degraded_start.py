"""A server whose database takes no write at all (issue 12, finding 6: a full disk, a read-only file)
starts degraded when its schema is current: it serves reads, answers writes 503, says why in its health,
and leaves the queue file for its agent to load once writes succeed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pandawms.config import ServerConfig
from pandawms.db.engine import Database
from pandawms.server.app import create_app
from tests.db.helpers import API, ok
from tests.livesupport.dbtemplate import migrated_sqlite_url

QUEUE = '[[queue]]\nname = "{name}"\ncores = 1\nmax_memory_per_core = 1000\n'


def start(db: Database, tmp_path: Path, queues: Path) -> TestClient:
    config = ServerConfig(agents=False, db_url=db.url, data_dir=tmp_path / "data", queues_file=queues)
    return TestClient(create_app(config, db))


def test_a_database_that_takes_no_write_starts_degraded(tmp_path: Path) -> None:
    path = tmp_path / "panda.db"
    queues = tmp_path / "queues.toml"
    queues.write_text(QUEUE.format(name="OLD"))
    writable = Database(migrated_sqlite_url(path))
    with start(writable, tmp_path, queues) as c:  # a server that ran once: queues, signing key
        ok(
            c.post(
                f"{API}/job/submit", json={"jobs": [{"transformation": "/bin/true", "computingSite": "OLD"}]}
            )
        )
    writable.dispose()
    queues.write_text(QUEUE.format(name="OLD") + QUEUE.format(name="NEW"))  # edited while it was down
    read_only = Database(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with start(read_only, tmp_path, queues) as c:
            health = c.get(f"{API}/health")
            assert health.status_code == 503 and health.json()["data"]["status"] == "degraded"
            assert "not writable" in " ".join(health.json()["data"]["problems"])
            assert [q["name"] for q in ok(c.get(f"{API}/queue/list"))] == ["OLD"]
            assert len(ok(c.get(f"{API}/job/list"))["jobs"]) == 1
            refused = c.post(
                f"{API}/job/submit", json={"jobs": [{"transformation": "x", "computingSite": "OLD"}]}
            )
            assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit(), refused.text
    finally:
        read_only.dispose()


def test_a_schema_that_needs_migrating_still_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    with sqlite3.connect(path) as conn:  # a database with nothing migrated
        conn.execute("CREATE TABLE unrelated (a INTEGER)")
    read_only = Database(f"sqlite:///file:{path}?mode=ro&uri=true")
    queues = tmp_path / "queues.toml"
    queues.write_text(QUEUE.format(name="Q"))
    try:
        with pytest.raises(Exception, match=r"readonly|read-only"), start(read_only, tmp_path, queues):
            pass
    finally:
        read_only.dispose()

"""The WAL checkpoint agent (issue 12, point 6): a WAL that a reader kept from resetting grows; once the
reader lets go, the agent's pass truncates the file to 0 bytes. Registered on SQLite only, and off at 0."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from pandawms.agents.runner import AgentRunner
from pandawms.agents.wal import NAME, WalCheckpointer, wal_checkpoint_agent
from pandawms.config import ServerConfig, load_config
from pandawms.db import wal as wal_db
from pandawms.db.engine import Database
from pandawms.server.app import build_agents, create_app
from pandawms.services.termination import JobRetryPolicy

NOW = datetime(2026, 12, 3, 8, 0)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'panda.db'}")
    with db.write() as conn:
        conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)"))
    yield db
    db.dispose()


def write_blobs(db: Database, first: int, n: int) -> None:
    for i in range(first, first + n):  # one transaction each: every commit tries its own checkpoint
        with db.write() as conn:
            conn.execute(text("INSERT INTO blobs (id, body) VALUES (:i, randomblob(8000))"), {"i": i})


def test_a_pass_truncates_the_wal_once_the_reader_lets_go(sqlite_db: Database) -> None:
    wal = wal_db.wal_path(sqlite_db)
    write_blobs(sqlite_db, 0, 5)
    # given a reader holding a read transaction open (its own connection, as another process's would)
    reader = sqlite3.connect(str(wal.with_name("panda.db")), isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM blobs").fetchone() == (5,)
    try:
        # when writers go on: no commit can reset the log, so it grows
        before = wal.stat().st_size
        write_blobs(sqlite_db, 5, 100)
        grown = wal.stat().st_size
        assert grown > before + 100 * 8000, (before, grown)
        # then a pass meanwhile is busy and leaves the file as it is
        agent = WalCheckpointer(sqlite_db)
        assert agent(NOW) == 0
        assert agent.last is not None and agent.last.result.busy
        assert agent.last.result.log_frames > 0 and agent.last.result.wal_bytes == grown
    finally:
        reader.execute("COMMIT")  # the reader lets go
        reader.close()
    # and once the reader has let go the next pass copies the log back and truncates the file
    assert agent(NOW) == 1
    assert agent.last is not None and agent.last.at == NOW
    result = agent.last.result
    assert not result.busy and result.log_frames == result.checkpointed_frames > 100
    assert result.wal_bytes == 0 and wal.stat().st_size == 0
    with sqlite_db.read() as conn:  # nothing lost
        assert conn.execute(text("SELECT count(*) FROM blobs")).scalar_one() == 105


def test_the_agent_is_registered_on_sqlite_and_off_at_zero(sqlite_db: Database, tmp_path: Path) -> None:
    # given the server's agents on SQLite with the default config, then the agent is one of them
    policy = JobRetryPolicy()
    config = ServerConfig(db_url=sqlite_db.url, data_dir=tmp_path)
    [agent] = [a for a in build_agents(sqlite_db, config, policy) if a.name == NAME]
    assert agent.interval == 60.0 and isinstance(agent.run_once, WalCheckpointer)
    # and with an interval of 0 (from the config file) it is not
    (tmp_path / "server.toml").write_text("[server]\nwal_checkpoint_interval = 0\n")
    off = load_config(tmp_path / "server.toml", env={})
    assert off.wal_checkpoint_interval == 0
    assert NAME not in {a.name for a in build_agents(sqlite_db, off, policy)}
    with pytest.raises(ValueError, match="wal_checkpoint_interval: must be >= 0"):
        load_config(env={"PANDA_WAL_CHECKPOINT_INTERVAL": "-1"})


def test_health_shows_the_last_pass(sqlite_db: Database, tmp_path: Path) -> None:
    # given a server whose runner ran the agent once
    config = ServerConfig(agents=False, db_url=sqlite_db.url, data_dir=tmp_path / "data")
    app = create_app(config, sqlite_db, clock=lambda: NOW)
    with TestClient(app) as client:
        agent = wal_checkpoint_agent(sqlite_db, 30.0)
        assert agent is not None
        app.state.ctx.runner = runner = AgentRunner([agent], clock=lambda: NOW)
        assert client.get("/api/v1/health").json()["data"]["wal_checkpoint"] is None  # none yet
        runner.run_due(monotonic_now=0.0)
        health = client.get("/api/v1/health").json()["data"]
    # then health carries its result
    assert health["agents"][NAME]["runs"] == 1
    shown = health["wal_checkpoint"]
    assert (shown["at"], shown["busy"], shown["wal_bytes"]) == ("2026-12-03T08:00:00Z", False, 0)
    assert shown["log_frames"] == shown["checkpointed_frames"] > 0  # the health probes' own writes


@pytest.mark.parametrize("backend", ["postgresql"])
def test_no_agent_and_no_checkpoint_on_postgresql(db: Database) -> None:
    assert not db.is_sqlite
    assert wal_db.checkpoint_truncate(db) is None
    assert wal_checkpoint_agent(db, 60.0) is None

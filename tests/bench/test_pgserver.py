"""The private PostgreSQL harness, against a real server (no mocks)."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from pandawms.bench.pgserver import PostgresServer, PostgresServerError, find_pg_bindir

pytestmark = pytest.mark.postgres


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone too
    except OSError:
        return False


def test_start_query_and_stop(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path, keep_files=True).start()
    try:
        pid = server.pid
        assert pid is not None and _alive(pid)
        assert server.pg_ctl_status()
        assert server.url == (
            f"postgresql+psycopg://{server.user}@/postgres?host={server.socket_dir}&port={server.port}"
        )
        if os.geteuid() == 0:
            assert server.user == "postgres"
            assert pwd.getpwuid(server.data_dir.stat().st_uid).pw_name == "postgres"

        url = server.create_database("harness_check")
        assert url == server.url_for("harness_check")
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
                assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == "harness_check"
                conn.execute(sa.text("CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL)"))
                conn.execute(sa.text("INSERT INTO t VALUES (1, 'a'), (2, 'ü')"))
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT id, name FROM t ORDER BY id")).all()
                assert [tuple(r) for r in rows] == [(1, "a"), (2, "ü")]
                assert conn.execute(sa.text("SHOW fsync")).scalar_one() == "off"
                assert conn.execute(sa.text("SHOW max_connections")).scalar_one() == "200"
                assert conn.execute(sa.text("SHOW listen_addresses")).scalar_one() == ""
        finally:
            engine.dispose()

        server.drop_database("harness_check")
        server.stop()
        assert not server.running
        assert not _alive(pid)
        assert not server.pg_ctl_status()
        assert not (server.data_dir / "postmaster.pid").exists()
        assert not (server.socket_dir / f".s.PGSQL.{server.port}").exists()
        server.stop()  # a second stop is a no-op
    finally:
        server.stop()
        shutil.rmtree(server.run_dir, ignore_errors=True)  # keep_files=True: we clean up


def test_context_manager_removes_files(tmp_path: Path) -> None:
    with PostgresServer(tmp_path / "does-not-exist-yet") as server:
        pid = server.pid
        run_dir = server.run_dir
        engine = sa.create_engine(server.url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        engine.dispose()
    assert pid is not None and not _alive(pid)
    assert not run_dir.exists()
    server.stop()


def test_failed_start_reports_log_and_leaves_nothing_running(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path, settings={"shared_buffers": "not-a-size"})
    with pytest.raises(PostgresServerError, match="not-a-size") as info:
        server.start()
    assert "server log" in str(info.value)
    assert not server.running
    pid_file = server.data_dir / "postmaster.pid"
    assert not pid_file.exists()
    shutil.rmtree(server.run_dir, ignore_errors=True)


def test_find_pg_bindir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PANDA_PG_BINDIR", raising=False)
    assert (find_pg_bindir() / "initdb").exists()
    with pytest.raises(RuntimeError, match=r"initdb.*scripts/test-deps\.sh"):
        find_pg_bindir(tmp_path)

"""``panda server --workers`` refuses what cannot work; ``panda agents`` runs the agents under the lease."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from pandawms.agents.runner import utcnow
from pandawms.cli.main import app
from pandawms.db.engine import Database
from pandawms.services import leases
from tests.livesupport.dbtemplate import migrated_sqlite_url


def test_several_workers_on_sqlite_are_refused_with_the_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["server", "--workers", "2", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--workers > 1 needs PostgreSQL" in result.output
    assert not (tmp_path / "panda.db").exists()  # refused before anything was created
    result = CliRunner().invoke(app, ["server", "--workers", "0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--workers" in result.output


def test_panda_agents_takes_the_lease_runs_and_releases_it_on_sigterm(tmp_path: Path) -> None:
    # given a task buffer and `panda agents` on it (no API)
    url = migrated_sqlite_url(tmp_path / "panda.db")
    cmd = [sys.executable, "-m", "pandawms.cli.main", "agents", "--db", url, "--log-level", "info"]
    log = (tmp_path / "agents.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    db = Database(url)
    try:
        # when it has started, it holds the agents' lease
        deadline = time.monotonic() + 120
        lease = None
        while lease is None and time.monotonic() < deadline and proc.poll() is None:
            with db.read() as conn:
                lease = leases.current(conn, "agents")
            time.sleep(0.2)
        assert lease is not None, (tmp_path / "agents.log").read_text()
        assert lease.holder.split(":")[1] == str(proc.pid)
        # then SIGTERM stops it cleanly and the lease is released for the next holder
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, (tmp_path / "agents.log").read_text()
        with db.read() as conn:
            after = leases.current(conn, "agents")
        assert after is not None and after.version > lease.version
        assert after.expires_at <= utcnow()  # released: a held lease expires 45 s past its renewal
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
        db.dispose()


def test_a_public_url_that_is_not_one_is_refused_naming_the_setting(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["server", "--public-url", "ftp://x.org", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "public_url (PANDA_PUBLIC_URL)" in result.output, result.output
    assert not (tmp_path / "panda.db").exists()

"""``panda seed`` builds a history the monitor can show; ``panda factory`` rejects bad configs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from pandawms.cli.main import app


def test_seed_creates_the_history_in_the_data_dir(tmp_path: Path) -> None:
    # when
    result = CliRunner().invoke(app, ["seed", "--jobs", "400", "--data-dir", str(tmp_path)])
    # then
    assert result.exit_code == 0, result.output
    assert "seeded 400 jobs" in result.output
    with sqlite3.connect(tmp_path / "panda.db") as db:
        total = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
        states = {s for (s,) in db.execute("SELECT DISTINCT job_status FROM jobs")}
        retries = db.execute("SELECT count(*) FROM jobs WHERE parent_id IS NOT NULL").fetchone()[0]
        queues = db.execute("SELECT count(*) FROM queues").fetchone()[0]
    assert total == 400
    assert {"finished", "failed", "running"} <= states
    assert retries > 0
    assert queues >= 10


def test_seed_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        result = CliRunner().invoke(app, ["seed", "--jobs", "150", "--data-dir", str(folder), "--seed", "7"])
        assert result.exit_code == 0, result.output
        with sqlite3.connect(folder / "panda.db") as db:
            runs.append(db.execute("SELECT job_status, computing_site, prod_user_name FROM jobs").fetchall())
    assert runs[0] == runs[1]


def test_seed_rejects_a_bad_job_count(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["seed", "--jobs", "0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--jobs" in result.output


def test_factory_with_a_bad_config_names_the_field(tmp_path: Path) -> None:
    # given a queue with a mistyped limit
    config = tmp_path / "factory.toml"
    config.write_text('[[queue]]\nname = "Q1"\nmax_workers = "many"\n')
    # when
    result = CliRunner().invoke(app, ["factory", "--config", str(config), "--server", "http://127.0.0.1:9"])
    # then
    assert result.exit_code == 2
    assert "max_workers" in result.output and "Q1" in result.output


def test_factory_with_a_missing_config_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = CliRunner().invoke(app, ["factory", "--config", str(missing), "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "nope.toml" in result.output

"""The operator's factory status: live workers per native batch state and the last batch errors, written
atomically by the factory each cycle and printed by `panda factory --status`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pandawms.cli.main import app
from pandawms.factory.status import queue_view, read_status, render_status, write_status


def test_queue_view_counts_live_workers_by_native_state() -> None:
    view = queue_view(
        ["1", "2_0", "2_1", "3"],
        {"1": "RUNNING", "2_0": "PENDING", "2_1": "RUNNING", "9": "COMPLETED"},
        [f"squeue: error {i}" for i in range(8)],
        {"failed": 1, "finished": 4},
    )
    assert view["alive"] == 4
    assert view["batch_states"] == {"PENDING": 1, "RUNNING": 2, "unpolled": 1}
    assert view["last_errors"] == [f"squeue: error {i}" for i in range(3, 8)]  # the newest five


def test_panda_factory_status_prints_the_last_snapshot(tmp_path: Path) -> None:
    # given a factory config and the snapshot its factory wrote in its workdir
    workdir = tmp_path / "fw"
    view = queue_view(
        ["7"], {"7": "RUNNING"}, ["sbatch: Unable to contact slurm controller"], {"finished": 3}
    )
    write_status(
        workdir,
        {"harvester_id": "h1", "cycle": 4, "time": "t", "queues": {"Q": {**view, "backend": "slurm"}}},
    )
    toml = tmp_path / "f.toml"
    toml.write_text(
        f'[factory]\nserver_url = "http://127.0.0.1:9"\nworkdir = "{workdir}"\n[[queue]]\nname = "Q"\n'
    )
    # when the operator asks for it
    result = CliRunner().invoke(app, ["factory", "--config", str(toml), "--status"])
    # then it shows the workers per batch state and the batch system's last error
    assert result.exit_code == 0, result.output
    assert "Q (slurm): 1 alive by batch state: RUNNING 1" in result.output
    assert "ended since start: finished 3" in result.output
    assert "batch error: sbatch: Unable to contact slurm controller" in result.output
    assert render_status(read_status(workdir)) in result.output


def test_status_of_a_factory_that_never_ran_is_a_clear_error(tmp_path: Path) -> None:
    toml = tmp_path / "f.toml"
    toml.write_text(
        f'[factory]\nserver_url = "http://127.0.0.1:9"\nworkdir = "{tmp_path}"\n[[queue]]\nname = "Q"\n'
    )
    result = CliRunner().invoke(app, ["factory", "--config", str(toml), "--status"])
    assert result.exit_code == 1
    assert "no factory status in" in result.output

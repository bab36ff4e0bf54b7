"""The payload runner: command building, its own process group, exit statuses, and kill of the whole tree."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from pandawms.pilot.payload import CommandError, Payload, build_command


def test_build_command_splits_like_a_shell() -> None:
    assert build_command("python3", "-c 'print(1)' --x \"a b\"") == [
        "python3",
        "-c",
        "print(1)",
        "--x",
        "a b",
    ]
    assert build_command("/bin/run.sh --fast", "") == ["/bin/run.sh", "--fast"]


@pytest.mark.parametrize(
    ("trf", "pars", "field"), [("", "x", "transformation"), ("python3", "'open", "jobPars")]
)
def test_build_command_names_the_bad_field(trf: str, pars: str, field: str) -> None:
    with pytest.raises(CommandError, match=field):
        build_command(trf, pars)


def _payload(tmp_path: Path, code: str) -> Payload:
    return Payload([sys.executable, "-c", code], tmp_path, tmp_path / "out", tmp_path / "err")


def test_exit_code_and_output_files(tmp_path: Path) -> None:
    # given a payload that prints and exits 3
    p = _payload(tmp_path, "import sys; print('hello'); print('oops', file=sys.stderr); sys.exit(3)")
    # when it runs to the end
    p.start()
    result = p.wait(10)
    # then its exit, CPU use and output are recorded, and it ran in its own session
    assert result is not None and result.returncode == 3 and result.trans_exit_code == 3
    assert (tmp_path / "out").read_text() == "hello\n" and (tmp_path / "err").read_text() == "oops\n"
    assert result.cpu_time_s > 0


def test_runs_in_its_own_process_group(tmp_path: Path) -> None:
    p = _payload(tmp_path, "import os; print(os.getpgid(0), os.getsid(0))")
    pid = p.start()
    p.wait(10)
    assert (tmp_path / "out").read_text().split() == [str(pid), str(pid)]
    assert os.getpgid(0) != pid


def test_kill_takes_down_the_whole_tree_after_the_grace_period(tmp_path: Path) -> None:
    # given a payload that ignores SIGTERM and has a child, which itself has a grandchild
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "c = subprocess.Popen([sys.executable, '-c', "
        '\'import subprocess,sys,time; subprocess.Popen([sys.executable,"-c","import time; time.sleep(60)"]);'
        " time.sleep(60)'])\n"
        "print(c.pid, flush=True); time.sleep(60)\n"
    )
    p = _payload(tmp_path, code)
    pid = p.start()
    deadline = time.monotonic() + 10
    while len(psutil.Process(pid).children(recursive=True)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    assert len(tree) == 3
    # when the pilot kills it with a short grace period
    start = time.monotonic()
    result = p.kill(grace=0.5)
    # then SIGKILL ended it after the grace period and no process of the tree is left
    assert result is not None and result.signal == signal.SIGKILL
    assert 0.4 < time.monotonic() - start < 5
    _, alive = psutil.wait_procs(tree, timeout=5)
    assert alive == []


def test_sigterm_is_enough_for_a_well_behaved_payload(tmp_path: Path) -> None:
    p = _payload(tmp_path, "import time; time.sleep(60)")
    p.start()
    time.sleep(0.2)
    result = p.kill(grace=10)
    assert result is not None and result.signal == signal.SIGTERM and result.trans_exit_code == 143


def test_on_exit_callback_runs(tmp_path: Path) -> None:
    called: list[bool] = []
    p = _payload(tmp_path, "pass")
    p.start(on_exit=lambda: called.append(True))
    p.wait(10)
    time.sleep(0.05)
    assert called == [True]


def test_missing_executable_raises_oserror(tmp_path: Path) -> None:
    p = Payload(["/nonexistent/trf"], tmp_path, tmp_path / "out", tmp_path / "err")
    with pytest.raises(FileNotFoundError):
        p.start()

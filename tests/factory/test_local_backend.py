"""The local-process backend with real subprocesses: exit statuses to WorkerState, cancel with SIGTERM then
SIGKILL (also for a child that left the process group), unknown ids, and a command that cannot start."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from pandawms.factory.backends import BatchStatus, LocalBackend, SubmitError, WorkerSpec, WorkerState
from pandawms.factory.backends.local import EXIT_STATES, exited_status, shell_exit_code


def _spec(tmp_path: Path, code: str, worker_id: int = 1) -> WorkerSpec:
    workdir = tmp_path / f"w{worker_id}"
    return WorkerSpec(worker_id, "Q", (sys.executable, "-c", code), workdir, workdir / "pilot.out")


def _wait_final(backend: LocalBackend, batch_id: str, timeout: float = 15.0) -> BatchStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = backend.status([batch_id])[batch_id]
        if status.final or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("returncode", "cancelled", "state", "code", "words"),
    [
        (0, False, WorkerState.FINISHED, 0, "success"),
        (82, False, WorkerState.FINISHED, 82, "no jobs"),
        (3, False, WorkerState.FAILED, 3, "unknown exit code 3"),
        (79, False, WorkerState.FAILED, 79, "server"),
        (-9, False, WorkerState.FAILED, 137, "SIGKILL"),
        (143, False, WorkerState.FAILED, 143, "SIGTERM"),
        (-15, True, WorkerState.CANCELLED, 143, "cancelled by the factory"),
        (0, True, WorkerState.CANCELLED, 0, "cancelled"),
    ],
)
def test_exit_status_table(
    returncode: int, cancelled: bool, state: WorkerState, code: int, words: str
) -> None:
    status = exited_status(returncode, cancelled=cancelled)
    assert (status.state, status.exit_code) == (state, code)
    assert words.lower() in status.diag.lower(), status.diag


def test_table_and_shell_convention() -> None:
    assert dict(EXIT_STATES) == {0: WorkerState.FINISHED, 82: WorkerState.FINISHED}
    assert (shell_exit_code(-15), shell_exit_code(0), shell_exit_code(82)) == (143, 0, 82)


def test_exit_3_is_failed_with_its_code_and_output_in_the_log(tmp_path: Path) -> None:
    backend = LocalBackend()
    spec = _spec(tmp_path, "import sys; print('hello from worker'); sys.exit(3)")
    batch_id = backend.submit(spec)
    assert batch_id.startswith("local-")
    status = _wait_final(backend, batch_id)
    assert (status.state, status.exit_code) == (WorkerState.FAILED, 3)
    assert "hello from worker" in spec.log_path.read_text()
    backend.sweep(batch_id)
    assert backend.status([batch_id])[batch_id].state is WorkerState.MISSED


def test_exit_0_is_finished_and_running_before(tmp_path: Path) -> None:
    backend = LocalBackend()
    batch_id = backend.submit(_spec(tmp_path, "import time; time.sleep(0.5)"))
    assert backend.status([batch_id])[batch_id] == BatchStatus(WorkerState.RUNNING)
    assert _wait_final(backend, batch_id) == BatchStatus(WorkerState.FINISHED, 0, "exit 0: success")


def test_cancel_sends_sigterm_to_the_group(tmp_path: Path) -> None:
    # given a sleeping worker that exits 143 on SIGTERM
    backend = LocalBackend(cancel_grace=30)
    batch_id = backend.submit(_spec(tmp_path, "import time; time.sleep(60)"))
    time.sleep(0.3)
    # when it is cancelled
    started = time.monotonic()
    backend.cancel(batch_id)
    backend.cancel(batch_id)  # idempotent
    status = _wait_final(backend, batch_id)
    # then it ended quickly and is cancelled with the SIGTERM status
    assert time.monotonic() - started < 5
    assert (status.state, status.exit_code) == (WorkerState.CANCELLED, 143)


def test_cancel_escalates_to_sigkill_for_the_group_and_escaped_children(tmp_path: Path) -> None:
    # given a worker that ignores SIGTERM and has a child in a session of its own (like a payload)
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'], start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    backend = LocalBackend(cancel_grace=0.5)
    spec = _spec(tmp_path, code)
    batch_id = backend.submit(spec)
    deadline = time.monotonic() + 10
    while not spec.log_path.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child_pid = int(spec.log_path.read_text().split()[0])
    # when it is cancelled and polled past the grace
    backend.cancel(batch_id)
    assert backend.status([batch_id])[batch_id].state is WorkerState.RUNNING
    status = _wait_final(backend, batch_id)
    # then the worker was killed and so was its escaped child
    assert (status.state, status.exit_code) == (WorkerState.CANCELLED, 137)
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child_pid) and psutil.Process(child_pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "escaped child still alive"
        time.sleep(0.05)


def test_cancel_after_a_normal_exit_keeps_the_real_status(tmp_path: Path) -> None:
    backend = LocalBackend()
    batch_id = backend.submit(_spec(tmp_path, "raise SystemExit(82)"))
    while backend.status([batch_id])[batch_id].state is WorkerState.RUNNING:
        time.sleep(0.05)
    backend.cancel(batch_id)
    assert backend.status([batch_id])[batch_id].state is WorkerState.FINISHED


def test_unknown_id_is_missed_and_unstartable_command_raises(tmp_path: Path) -> None:
    backend = LocalBackend()
    assert backend.status(["local-1"])["local-1"].state is WorkerState.MISSED
    backend.cancel("local-1")  # no error
    spec = WorkerSpec(1, "Q", (str(tmp_path / "no-such-binary"),), tmp_path / "w", tmp_path / "w" / "out")
    with pytest.raises(SubmitError, match="cannot start worker 1"):
        backend.submit(spec)

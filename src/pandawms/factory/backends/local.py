"""Local-process backend: each worker is a subprocess in its own session (process group) on this machine.

Status comes from poll(); cancel sends SIGTERM to the group and, once ``cancel_grace`` has passed, a later
status poll sends SIGKILL to the group and to every descendant that left it (a payload in its own session).
Its ``[queue.backend]`` table is LocalBackendConfig (``type = "local"``, the default for every queue).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import psutil

from pandawms.factory.backends.base import BatchStatus, SubmitError, WorkerSpec, WorkerState
from pandawms.protocol import errorcodes as ec

log = logging.getLogger(__name__)

# Native state of a local process -> WorkerState. Alive: running (a process has no queue to wait in).
# Exited: this table by shell exit status, anything else failed; a process the factory cancelled is
# cancelled whatever its exit status; an id this backend never started (or already swept) is missed.
EXIT_STATES: Mapping[int, WorkerState] = MappingProxyType(
    {
        ec.PilotExit.OK: WorkerState.FINISHED,
        ec.PilotExit.NO_JOBS: WorkerState.FINISHED,  # an empty pilot ended normally
    }
)


def shell_exit_code(returncode: int) -> int:
    """Popen's returncode in the shell convention: -N (killed by signal N) becomes 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def exited_status(returncode: int, *, cancelled: bool) -> BatchStatus:
    """Translate an ended process into a BatchStatus (the table above)."""
    code = shell_exit_code(returncode)
    meaning = ec.exit_meaning(code)
    if cancelled:
        return BatchStatus(WorkerState.CANCELLED, code, f"cancelled by the factory; exit {code}: {meaning}")
    state = EXIT_STATES.get(code, WorkerState.FAILED)
    return BatchStatus(state, code, f"exit {code}: {meaning}")


@dataclass(frozen=True, slots=True)
class LocalBackendConfig:
    """``[queue.backend] type = "local"``: workers are processes on the factory's machine.

    Field metadata ``min`` is the smallest accepted value (checked by factory/config.py on load).
    """

    type: Literal["local"] = "local"
    # SIGTERM -> SIGKILL for cancelled pilots; above the pilot's kill_grace + its final update
    cancel_grace: float = field(default=60.0, metadata={"min": 0.0})

    def build(self) -> LocalBackend:
        return LocalBackend(cancel_grace=self.cancel_grace)


@dataclass(slots=True)
class _Process:
    popen: subprocess.Popen[bytes]
    kill_at: float | None = None  # set by cancel(): SIGKILL the group from then on


class LocalBackend:
    """Runs workers as local subprocesses; batch ids are ``local-<pid>``."""

    name = "local"

    def __init__(self, *, cancel_grace: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cancel_grace = cancel_grace
        self._clock = clock
        self._procs: dict[str, _Process] = {}

    def submit(self, spec: WorkerSpec) -> str:
        try:
            spec.workdir.mkdir(parents=True, exist_ok=True)
            with open(spec.log_path, "ab") as out:
                popen = subprocess.Popen(
                    spec.argv,
                    cwd=spec.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=dict(spec.env) if spec.env is not None else None,
                )
        except (OSError, ValueError) as exc:
            raise SubmitError(f"cannot start worker {spec.worker_id}: {exc}") from exc
        batch_id = f"local-{popen.pid}"
        self._procs[batch_id] = _Process(popen)
        return batch_id

    def status(self, batch_ids: Sequence[str]) -> dict[str, BatchStatus]:
        return {batch_id: self._status_one(batch_id) for batch_id in batch_ids}

    def _status_one(self, batch_id: str) -> BatchStatus:
        proc = self._procs.get(batch_id)
        if proc is None:
            return BatchStatus(WorkerState.MISSED, None, f"{batch_id} is unknown to the local backend")
        returncode = proc.popen.poll()
        if returncode is None and proc.kill_at is not None and self._clock() >= proc.kill_at:
            self._kill(batch_id, proc)
            returncode = proc.popen.poll()
        if returncode is None:
            return BatchStatus(WorkerState.RUNNING)
        return exited_status(returncode, cancelled=proc.kill_at is not None)

    def cancel(self, batch_id: str) -> None:
        proc = self._procs.get(batch_id)
        if proc is None or proc.kill_at is not None or proc.popen.poll() is not None:
            return  # unknown, already cancelled, or ended by itself (its own exit status stands)
        proc.kill_at = self._clock() + self.cancel_grace
        _signal_group(proc.popen.pid, signal.SIGTERM)

    def sweep(self, batch_id: str) -> None:
        proc = self._procs.pop(batch_id, None)
        if proc is not None and proc.popen.poll() is None:
            log.warning("sweeping %s while it still runs: killing it", batch_id)
            self._kill(batch_id, proc)

    def _kill(self, batch_id: str, proc: _Process) -> None:
        """SIGKILL the group and any descendant that moved out of it; reap the leader."""
        descendants: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            descendants = psutil.Process(proc.popen.pid).children(recursive=True)
        log.warning("%s did not stop within %.0f s: SIGKILL", batch_id, self.cancel_grace)
        _signal_group(proc.popen.pid, signal.SIGKILL)
        for child in descendants:
            with contextlib.suppress(psutil.Error):
                child.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=5)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)

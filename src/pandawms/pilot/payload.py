"""Runs one payload: ``shlex.split(transformation) + shlex.split(jobPars)`` in the job's work dir, in its
own session and process group, stdout/stderr to files. Kill = SIGTERM to the group, SIGKILL after the
grace period (also to descendants that left the group). Exit status and CPU time come from wait4.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from pandawms.pilot.monitor import process_tree

log = logging.getLogger(__name__)


class CommandError(ValueError):
    """The job's transformation / jobPars cannot be turned into a command line."""


def build_command(transformation: str, job_pars: str) -> list[str]:
    """The argv of the payload; raises CommandError naming the field that cannot be parsed."""
    try:
        argv = shlex.split(transformation)
    except ValueError as exc:
        raise CommandError(f"transformation: {exc}") from None
    if not argv:
        raise CommandError("transformation: empty")
    try:
        return argv + shlex.split(job_pars)
    except ValueError as exc:
        raise CommandError(f"jobPars: {exc}") from None


@dataclass(frozen=True, slots=True)
class PayloadExit:
    """How the payload ended: ``returncode`` follows subprocess (-N = killed by signal N)."""

    returncode: int
    cpu_time_s: float  # of the payload and every descendant it waited for (rusage)

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None

    @property
    def trans_exit_code(self) -> int:
        """The shell convention: 128 + signal for a signal death."""
        return 128 - self.returncode if self.returncode < 0 else self.returncode


class Payload:
    """One payload process group. ``start`` once, then ``wait`` / ``kill``; ``on_exit`` runs when it ends."""

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        stdout_path: Path,
        stderr_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = argv
        self.cwd = cwd
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.env = dict(env) if env is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._exit: PayloadExit | None = None
        self._done = threading.Event()

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("payload not started")
        return self._proc.pid

    def start(self, on_exit: Callable[[], None] | None = None) -> int:
        """Start the process (OSError when it cannot be executed) and a thread that reaps it."""
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self._proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.env,
                start_new_session=True,
            )
        name = f"{threading.current_thread().name}/reap-{self.pid}"  # the job's log keeps its lines
        threading.Thread(target=self._reap, args=(on_exit,), name=name, daemon=True).start()
        log.info("payload started, pid %d: %s", self.pid, shlex.join(self.argv))
        return self.pid

    def _reap(self, on_exit: Callable[[], None] | None) -> None:
        assert self._proc is not None
        started = time.monotonic()
        _pid, status, usage = os.wait4(self._proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self._proc.returncode = code  # keep Popen from waiting a second time
        # rusage's ru_maxrss is not used: it counts the pilot's own pages the child had before exec
        self._exit = PayloadExit(code, usage.ru_utime + usage.ru_stime)
        log.info("payload pid %d ended with %d after %.1f s", _pid, code, time.monotonic() - started)
        self._done.set()
        if on_exit is not None:
            on_exit()

    @property
    def exit(self) -> PayloadExit | None:
        return self._exit

    def wait(self, timeout: float | None = None) -> PayloadExit | None:
        self._done.wait(timeout)
        return self._exit

    def kill(self, grace: float) -> PayloadExit | None:
        """SIGTERM the group (and strays), SIGKILL whatever is left after ``grace`` seconds."""
        if self._proc is None:
            return None
        strays = process_tree(self.pid)
        self._signal_all(signal.SIGTERM, strays)
        if not self._done.wait(grace):
            log.warning("payload pid %d still alive %.1f s after SIGTERM: SIGKILL", self.pid, grace)
        self._signal_all(signal.SIGKILL, strays)
        self._done.wait(max(grace, 5.0))
        return self._exit

    def cleanup(self) -> None:
        """Kill processes the payload left behind in its group after it ended."""
        if self._proc is not None:
            _killpg(self.pid, signal.SIGKILL)

    def _signal_all(self, sig: signal.Signals, procs: list[psutil.Process]) -> None:
        _killpg(self.pid, sig)
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                proc.send_signal(sig)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)

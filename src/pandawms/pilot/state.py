"""One job's state inside the pilot: a phase machine with checked transitions (the table is data), the
errors met so far (the first one becomes pilotErrorCode) and the kill request. Thread-safe, because the
heartbeat thread and the signal handler ask for kills while the job thread advances phases.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum


class JobPhase(StrEnum):
    RECEIVED = "received"  # taken from the server, not yet checked
    SETUP = "setup"  # validated; creating the work dir
    STAGEIN = "stagein"
    RUNNING = "running"  # the payload runs
    STAGEOUT = "stageout"
    LOGGING = "logging"  # building and uploading the log tarball
    REPORTING = "reporting"  # sending the final update
    DONE = "done"


P = JobPhase

# Every phase before the log may jump straight to LOGGING when the job fails or is killed.
PHASE_TRANSITIONS: dict[JobPhase, frozenset[JobPhase]] = {
    P.RECEIVED: frozenset({P.SETUP, P.LOGGING}),
    P.SETUP: frozenset({P.STAGEIN, P.LOGGING}),
    P.STAGEIN: frozenset({P.RUNNING, P.LOGGING}),
    P.RUNNING: frozenset({P.STAGEOUT, P.LOGGING}),
    P.STAGEOUT: frozenset({P.LOGGING}),
    P.LOGGING: frozenset({P.REPORTING}),
    P.REPORTING: frozenset({P.DONE}),
    P.DONE: frozenset(),
}
# Phases in which the job is active on the server and heartbeats ('running') are sent.
HEARTBEAT_PHASES: frozenset[JobPhase] = frozenset({P.SETUP, P.STAGEIN, P.RUNNING, P.STAGEOUT})


class InvalidPhaseTransition(RuntimeError):
    def __init__(self, current: JobPhase, target: JobPhase) -> None:
        super().__init__(f"job phase {current.value} -> {target.value} is not allowed")
        self.current = current
        self.target = target


@dataclass(frozen=True, slots=True)
class PilotError:
    code: int
    diag: str


class StepError(Exception):
    """A workflow step failed with a pilot error code; the job goes on to its log and final update."""

    def __init__(self, code: int, diag: str) -> None:
        super().__init__(diag)
        self.code = code
        self.diag = diag


class JobState:
    """Phase, errors and kill request of one job; every change goes through a method."""

    def __init__(self, panda_id: int) -> None:
        self.panda_id = panda_id
        self._phase = JobPhase.RECEIVED
        self._errors: list[PilotError] = []
        self._lock = threading.RLock()
        self.kill_requested = threading.Event()
        self.wakeup = threading.Event()  # set on a kill request; the payload's exit sets it too
        self.trans_exit_code: int | None = None

    @property
    def phase(self) -> JobPhase:
        return self._phase

    def advance(self, target: JobPhase) -> None:
        with self._lock:
            if target not in PHASE_TRANSITIONS[self._phase]:
                raise InvalidPhaseTransition(self._phase, target)
            self._phase = target

    def record_error(self, code: int, diag: str) -> None:
        with self._lock:
            self._errors.append(PilotError(code, diag[:500]))

    def request_kill(self, code: int, diag: str) -> bool:
        """Ask for the payload to be killed with this error; only the first request counts."""
        with self._lock:
            if self.kill_requested.is_set():
                return False
            self._errors.append(PilotError(code, diag[:500]))
            self.kill_requested.set()
        self.wakeup.set()
        return True

    @property
    def errors(self) -> tuple[PilotError, ...]:
        with self._lock:
            return tuple(self._errors)

    @property
    def first_error(self) -> PilotError | None:
        with self._lock:
            return self._errors[0] if self._errors else None

    @property
    def failed(self) -> bool:
        return self.first_error is not None

    @property
    def final_status(self) -> str:
        return "failed" if self.failed else "finished"

    @property
    def sends_heartbeats(self) -> bool:
        """Late 'running' updates are suppressed once the job is complete (protocol.md §4.1)."""
        return self._phase in HEARTBEAT_PHASES

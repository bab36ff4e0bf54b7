"""Progress updates of one job ('starting', then 'running' every heartbeat interval) and the server's
answer: ``tobekilled`` becomes a kill request (1144 PANDAKILL); no accepted update for
``max_update_silence`` seconds becomes 1317. Heartbeats stop once the job is complete.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pandawms.pilot.client import Cancelled, ServerClient, ServerError, ServerRejected
from pandawms.pilot.report import Identity, Usage, progress_update
from pandawms.pilot.state import JobState
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.commands import PilotCommand
from pandawms.protocol.pilot import PilotJob, UpdateResponse

log = logging.getLogger(__name__)


def commands_of(answer: UpdateResponse) -> set[str]:
    """Several commands may arrive comma-joined, e.g. ``debug,tobekilled``."""
    return {c.strip() for c in answer.command.split(",") if c.strip() and c.strip() != PilotCommand.NONE}


class Heartbeat:
    """Sends progress updates for one job: ``send`` one now (blocking), ``start`` the periodic thread."""

    def __init__(
        self,
        client: ServerClient,
        job: PilotJob,
        state: JobState,
        who: Identity,
        *,
        interval: float,
        retry_budget: float,
        max_silence: float,
        usage: Callable[[], Usage | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.job = job
        self.state = state
        self.who = who
        self.interval = interval
        self.retry_budget = retry_budget
        self.max_silence = max_silence
        self.usage = usage
        self.started_at: float | None = None  # epoch s of the payload start, once known
        self._clock = clock
        self._last_ok = clock()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None

    def send(self, status: str) -> bool:
        """One update; True when the server accepted it. Commands in the answer are obeyed."""
        req = progress_update(self.job, status, self.who, self.started_at, self.usage())
        try:
            answer = self.client.update_job(req, budget=self.retry_budget, cancel=self._stop)
        except Cancelled:
            return False
        except ServerRejected as exc:
            log.error("job %d: %s update rejected: %s", self.job.panda_id, status, exc)
            return False
        except ServerError as exc:
            log.warning("job %d: %s update failed: %s", self.job.panda_id, status, exc)
            self._check_silence()
            return False
        self._last_ok = self._clock()
        self.obey(answer)
        return True

    def obey(self, answer: UpdateResponse) -> None:
        commands = commands_of(answer)
        if PilotCommand.TOBEKILLED in commands:
            log.warning("job %d: server says tobekilled (%s)", self.job.panda_id, answer.message)
            self.state.request_kill(ec.PilotCode.PANDAKILL, "job killed by the server (tobekilled)")
        elif PilotCommand.ALREADYDONE in commands:
            self.state.request_kill(
                ec.PilotCode.PANDAKILL, f"server says job is already done: {answer.message}"
            )
        elif commands:
            log.info("job %d: ignoring server commands %s", self.job.panda_id, sorted(commands))

    def _check_silence(self) -> None:
        silent = self._clock() - self._last_ok
        if silent > self.max_silence:
            self.state.request_kill(
                ec.PilotCode.EXCEEDEDMAXWAITTIME, f"no successful server update for {silent:.0f} s"
            )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.job.panda_id}", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Send the next 'running' update now (from the heartbeat thread, so the caller never blocks)."""
        self._kick.set()

    def _run(self) -> None:
        while True:
            self._kick.wait(self.interval)
            self._kick.clear()
            if self._stop.is_set() or not self.state.sends_heartbeats:
                return
            self.send("running")

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=max(self.retry_budget, 1.0) + 30.0)

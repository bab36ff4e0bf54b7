"""What the server learns of the batch system beyond final worker states (the monitor's site page): the
native state of each live worker, sent with the heartbeat when it changed, and the backends' failed batch
commands. Both stay pending until a heartbeat carrying them is answered, so an unreachable server loses
nothing but the intermediate states that were replaced meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pandawms.factory.backends import BatchBackend
from pandawms.factory.status import ReportsBatchStates
from pandawms.protocol.factory import BatchError, WorkerBatchState

MAX_STATES = 5000  # per heartbeat; the rest go with the next one
MAX_ERRORS = 100  # waiting for the server: older ones are dropped first
LOCAL_STATE = "RUNNING"  # a backend without native states: a worker it still follows runs


@dataclass(frozen=True, slots=True)
class Followed:
    """A live worker as the factory follows it."""

    worker_id: int
    queue: str
    batch_id: str


def native_state(backend: BatchBackend, batch_id: str) -> str | None:
    """The worker's native batch state as last polled; None before its first poll."""
    if isinstance(backend, ReportsBatchStates):
        return backend.states.get(batch_id)
    return LOCAL_STATE


class BatchView:
    """Native states already delivered per worker, and the batch errors not yet delivered."""

    def __init__(self) -> None:
        self.delivered: dict[int, str] = {}
        self.errors: list[BatchError] = []
        self._noted: dict[int, int] = {}  # id(backend) -> its errors_noted when last collected

    def changed_states(
        self, workers: Iterable[Followed], backends: Mapping[str, BatchBackend]
    ) -> list[WorkerBatchState]:
        """The live workers whose native state differs from the one the server has."""
        out = []
        for w in workers:
            state = native_state(backends[w.queue], w.batch_id)
            if state is not None and self.delivered.get(w.worker_id) != state:
                out.append(WorkerBatchState(worker_id=w.worker_id, batch_state=state[:32]))
                if len(out) >= MAX_STATES:
                    break
        return out

    def collect_errors(self, backends: Mapping[str, BatchBackend], now: float) -> None:
        """Queue the backends' new command errors, one report per queue the backend serves."""
        queues: dict[int, list[str]] = {}
        for queue, backend in backends.items():
            queues.setdefault(id(backend), []).append(queue)
        when = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
        for queue, backend in backends.items():
            if not isinstance(backend, ReportsBatchStates) or queues[id(backend)][0] != queue:
                continue
            new = backend.errors_noted - self._noted.get(id(backend), 0)
            self._noted[id(backend)] = backend.errors_noted
            recent = backend.last_errors[-new:] if new > 0 else []
            for reason in recent:
                for name in queues[id(backend)]:
                    self.errors.append(
                        BatchError(report_id=uuid.uuid4().hex, queue=name, time=when, reason=reason[:500])
                    )
        del self.errors[:-MAX_ERRORS]

    def delivered_ok(self, states: list[WorkerBatchState], errors: list[BatchError]) -> None:
        """The server took this heartbeat's states and errors."""
        self.delivered.update((s.worker_id, s.batch_state) for s in states)
        sent = {e.report_id for e in errors}
        self.errors = [e for e in self.errors if e.report_id not in sent]

    def forget(self, worker_id: int) -> None:
        """The worker ended (its final report carries its last native state)."""
        self.delivered.pop(worker_id, None)

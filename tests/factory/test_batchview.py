"""The factory tells the server its workers' native batch states and its batch errors (factory/batchview.py):
with the heartbeat, only what changed since the last delivered one, kept while the server is down; the final
report carries the last native state."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from pandawms.core.specs import QueueStatus
from pandawms.factory import FactoryConfig, FactoryQueue
from pandawms.factory.backends import BatchStatus, WorkerSpec, WorkerState
from pandawms.factory.factory import Factory
from pandawms.factory.status import ReportsBatchStates
from tests.factory.test_factory_cycle import FakeServer


class NativeBackend:
    """A batch system with native state names and command errors, as Slurm reports them."""

    name = "native"
    cancel_grace = 0.1

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.last_errors: list[str] = []
        self.errors_noted = 0
        self.status_of: dict[str, BatchStatus] = {}

    def submit(self, spec: WorkerSpec) -> str:
        batch_id = str(100 + spec.worker_id)
        self.status_of[batch_id] = BatchStatus(WorkerState.SUBMITTED)
        return batch_id

    def status(self, batch_ids: Sequence[str]) -> dict[str, BatchStatus]:
        return {b: self.status_of[b] for b in batch_ids}

    def cancel(self, batch_id: str) -> None:
        self.status_of[batch_id] = BatchStatus(WorkerState.CANCELLED)

    def sweep(self, batch_id: str) -> None:
        self.states.pop(batch_id, None)

    def note(self, error: str) -> None:
        self.last_errors = [*self.last_errors[-9:], error]
        self.errors_noted += 1


def _factory(tmp_path: Path, server: FakeServer) -> tuple[Factory, NativeBackend]:
    config = FactoryConfig(
        server_url="http://fake",
        queues=(FactoryQueue("Q", max_workers=2),),
        harvester_id="h",
        workdir=tmp_path,
    )
    backend = NativeBackend()
    assert isinstance(backend, ReportsBatchStates)
    return Factory(config, server, {"Q": backend}, stop=threading.Event()), backend


def test_heartbeats_carry_the_batch_states_that_changed_and_new_errors(tmp_path: Path) -> None:
    # given two workers started in the first cycle, then seen by the batch system
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 2})
    factory, backend = _factory(tmp_path, server)
    factory.cycle()
    server.grant["Q"] = 0
    backend.states.update({"101": "PENDING", "102": "RUNNING"})
    # when the next cycles run
    factory.cycle()
    factory.cycle()
    # then the first heartbeat after the poll carries both states, the next one nothing
    sent = [{(s.worker_id, s.batch_state) for s in h.batch_states} for h in server.heartbeats]
    assert sent == [set(), {(1, "PENDING"), (2, "RUNNING")}, set()]
    # when worker 1 starts and an squeue fails while the server is down
    backend.states["101"] = "RUNNING"
    backend.note("squeue: Unable to contact slurm controller")
    server.down = True
    factory.cycle()
    factory.cycle()
    server.down = False
    factory.cycle()
    factory.cycle()
    # then the first heartbeat delivered after the outage brings them, once
    last, after = server.heartbeats[-2:]
    assert [(s.worker_id, s.batch_state) for s in last.batch_states] == [(1, "RUNNING")]
    assert [(e.queue, e.reason) for e in last.batch_errors] == [
        ("Q", "squeue: Unable to contact slurm controller")
    ]
    assert after.batch_states == [] and after.batch_errors == []


def test_the_final_report_carries_the_last_native_state(tmp_path: Path) -> None:
    # given a running worker that Slurm then kills at its time limit
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 1})
    factory, backend = _factory(tmp_path, server)
    factory.cycle()
    server.grant["Q"] = 0
    backend.states["101"] = "TIMEOUT"
    backend.status_of["101"] = BatchStatus(WorkerState.FAILED, 143, "slurm TIMEOUT exit 143")
    # when the factory polls it
    factory.cycle()
    # then the report says failed with the native state, and the worker is forgotten
    assert [(r.worker_id, r.status, r.batch_state, r.exit_code) for r in server.reports] == [
        (1, "failed", "TIMEOUT", 143)
    ]
    assert factory.workers == {} and factory.batch.delivered == {}

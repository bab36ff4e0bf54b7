"""Multi-job sizing (the jobs one worker runs at once) and the batch view (factory/batchview.py): the factory
tells the server its workers' native batch states and its batch errors with the heartbeat, only what changed
since the last delivered one, kept while the server is down; the final report carries the last native state.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from pandawms.core.specs import QueueStatus
from pandawms.factory import FactoryConfig, FactoryQueue, PilotOptions
from pandawms.factory.backends import BatchStatus, WorkerSpec, WorkerState
from pandawms.factory.factory import Factory, jobs_per_worker, worker_resources
from pandawms.factory.status import ReportsBatchStates
from pandawms.protocol.queues import QueueConfig
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


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (PilotOptions(), 1),  # one job at a time
        (PilotOptions(max_jobs=0), 4),  # the queue's 4 cores
        (PilotOptions(max_jobs=0, cores=16), 16),  # [queue.pilot] cores per worker
        (PilotOptions(max_jobs=0, cores=16, memory_mb=10_000), 5),  # memory per slot: 10 GB / 2 GB
        (PilotOptions(max_jobs=3, cores=16), 3),  # the job cap
        (PilotOptions(max_jobs=0, memory_mb=1000), 1),  # never below one
    ],
)
def test_jobs_per_worker_follows_cores_memory_and_the_cap(options: PilotOptions, expected: int) -> None:
    qconfig = QueueConfig(name="Q", cores=4, max_memory_per_core=2000)
    assert jobs_per_worker(options, qconfig) == expected
    assert worker_resources(options, qconfig)[0] == (options.cores or 4)


def test_the_factory_asks_for_workers_by_their_slots(tmp_path: Path) -> None:
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 1})
    config = FactoryConfig(
        server_url="http://fake",
        queues=(FactoryQueue("Q", max_workers=2, pilot=PilotOptions(max_jobs=0, cores=8)),),
        harvester_id="h",
        workdir=tmp_path,
    )
    backend = NativeBackend()
    factory = Factory(config, server, {"Q": backend}, stop=threading.Event())
    factory.cycle()
    assert [a.jobs_per_worker for a in server.asks] == [8]

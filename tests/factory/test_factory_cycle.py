"""The factory cycle with an in-memory server and batch backend: it starts exactly the granted workers,
never asks with max_new=0, shares the global cap over queues, skips offline and unknown queues, reports
ended and unstartable workers, and cancels live ones at shutdown."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from pandawms.core.specs import QueueStatus
from pandawms.factory import FactoryConfig, FactoryQueue
from pandawms.factory.backends import BatchStatus, SubmitError, WorkerSpec, WorkerState
from pandawms.factory.client import ServerRejected, ServerUnreachable
from pandawms.factory.factory import Factory
from pandawms.protocol.factory import (
    AddWorkersRequest,
    AddWorkersResponse,
    GrantedWorker,
    HeartbeatRequest,
    HeartbeatResponse,
    WorkerUpdate,
    WorkerUpdateResult,
)
from pandawms.protocol.queues import QueueConfig


class FakeServer:
    """Grants what it is told to (``grant`` per queue), records every request."""

    def __init__(self, statuses: dict[str, QueueStatus], grant: dict[str, int]) -> None:
        self.statuses = statuses
        self.grant = grant
        self.ids = itertools.count(1)
        self.asks: list[AddWorkersRequest] = []
        self.reports: list[WorkerUpdate] = []
        self.stats: dict[str, dict[str, int]] = {}
        self.down = False
        self.heartbeats: list[HeartbeatRequest] = []

    def get_queue(self, name: str, *, cancel: threading.Event | None = None) -> QueueConfig:
        if name not in self.statuses:
            raise ServerRejected(404, f"queue {name!r} not found")
        return QueueConfig(name=name, status=self.statuses[name])

    def add_workers(
        self, req: AddWorkersRequest, *, cancel: threading.Event | None = None
    ) -> AddWorkersResponse:
        self.asks.append(req)
        n = min(self.grant.get(req.queue, 0), req.max_new)
        workers = [GrantedWorker(worker_id=next(self.ids)) for _ in range(n)]
        return AddWorkersResponse(workers=workers, granted=n, reason="fake", activated=9, queued=0, running=0)

    def update_workers(
        self,
        harvester_id: str,
        updates: list[WorkerUpdate],
        *,
        budget: float | None = None,
        cancel: threading.Event | None = None,
    ) -> list[WorkerUpdateResult]:
        if self.down:
            raise ServerUnreachable("down")
        self.reports.extend(updates)
        return [
            WorkerUpdateResult(worker_id=u.worker_id, outcome="accepted", status=u.status) for u in updates
        ]

    def get_worker_stats(
        self, queue: str | None = None, *, cancel: threading.Event | None = None
    ) -> dict[str, dict[str, int]]:
        return self.stats

    def heartbeat(self, req: HeartbeatRequest, *, cancel: threading.Event | None = None) -> HeartbeatResponse:
        if self.down:
            raise ServerUnreachable("down")
        self.heartbeats.append(req)
        return HeartbeatResponse(harvester_id=req.harvester_id, last_seen="2026-11-30T06:00:00")


class FakeBackend:
    """Workers run until the test ends them; ``broken`` makes submit fail."""

    name = "local"
    cancel_grace = 0.1

    def __init__(self) -> None:
        self.specs: dict[str, WorkerSpec] = {}
        self.states: dict[str, BatchStatus] = {}
        self.cancelled: list[str] = []
        self.broken = False

    def submit(self, spec: WorkerSpec) -> str:
        if self.broken:
            raise SubmitError("batch system down")
        batch_id = f"fake-{spec.worker_id}"
        self.specs[batch_id] = spec
        self.states[batch_id] = BatchStatus(WorkerState.RUNNING)
        return batch_id

    def status(self, batch_ids: Sequence[str]) -> dict[str, BatchStatus]:
        return {b: self.states[b] for b in batch_ids}

    def cancel(self, batch_id: str) -> None:
        self.cancelled.append(batch_id)
        self.states[batch_id] = BatchStatus(WorkerState.CANCELLED, 143, "cancelled")

    def sweep(self, batch_id: str) -> None:
        self.states.pop(batch_id)


def _factory(
    tmp_path: Path, server: FakeServer, queues: list[FactoryQueue], max_new_workers: int = 100
) -> tuple[Factory, FakeBackend]:
    config = FactoryConfig(
        server_url="http://fake",
        queues=tuple(queues),
        harvester_id="h",
        workdir=tmp_path,
        max_new_workers=max_new_workers,
    )
    backend = FakeBackend()
    return Factory(config, server, {q.name: backend for q in queues}, stop=threading.Event()), backend


def test_starts_exactly_the_granted_workers(tmp_path: Path) -> None:
    # given a queue the server grants 2 workers of the 5 asked for
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 2})
    factory, backend = _factory(tmp_path, server, [FactoryQueue("Q", max_workers=5)])
    # when a cycle runs
    summary = factory.cycle()
    # then it asked with the queue's limits and started one pilot per granted id, with that id
    assert [(a.max_workers, a.max_queued, a.max_new) for a in server.asks] == [(5, 5, 5)]
    assert sorted(factory.workers) == [1, 2]
    assert sorted(s.worker_id for s in backend.specs.values()) == [1, 2]
    spec = backend.specs["fake-1"]
    assert spec.argv[spec.argv.index("--worker-id") + 1] == "1"
    assert spec.workdir == tmp_path / "Q" / "worker-1" and spec.log_path == spec.workdir / "pilot.out"
    assert (summary.queues["Q"].granted, summary.queues["Q"].started) == (2, 2)


def test_never_asks_when_sizing_says_zero(tmp_path: Path) -> None:
    # given a queue whose max_workers are all in use on the server (by any factory)
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 5})
    server.stats = {"Q": {"submitted": 1, "running": 2}}
    factory, _ = _factory(tmp_path, server, [FactoryQueue("Q", max_workers=3)])
    # when a cycle runs, then add_workers is not called at all (max_new=0 would mean "no cap")
    summary = factory.cycle()
    assert server.asks == [] and factory.workers == {}
    assert "capped by max_workers 3" in summary.queues["Q"].note


def test_global_cap_is_shared_over_queues_in_turn(tmp_path: Path) -> None:
    server = FakeServer({"A": QueueStatus.ONLINE, "B": QueueStatus.ONLINE}, {"A": 10, "B": 10})
    queues = [FactoryQueue("A", max_workers=10), FactoryQueue("B", max_workers=10)]
    factory, _ = _factory(tmp_path, server, queues, max_new_workers=4)
    factory.cycle()  # A picks first
    server.stats = {"A": {"submitted": 4}}
    factory.cycle()  # B picks first
    assert [(a.queue, a.max_new) for a in server.asks] == [("A", 4), ("B", 4)]
    assert len(factory.workers) == 8


def test_offline_and_unknown_queues_are_skipped(tmp_path: Path) -> None:
    server = FakeServer({"OFF": QueueStatus.OFFLINE, "ON": QueueStatus.BROKEROFF}, {"OFF": 3, "ON": 1})
    queues = [FactoryQueue("OFF"), FactoryQueue("GONE"), FactoryQueue("ON")]
    factory, _ = _factory(tmp_path, server, queues)
    summary = factory.cycle()
    assert [a.queue for a in server.asks] == ["ON"]  # brokeroff still dispatches
    assert summary.queues["OFF"].note == "queue is offline"
    assert "not found" in summary.queues["GONE"].note


def test_ended_workers_are_reported_and_kept_while_the_server_is_down(tmp_path: Path) -> None:
    # given two running workers
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 2})
    factory, backend = _factory(tmp_path, server, [FactoryQueue("Q", max_workers=2)])
    factory.cycle()
    server.grant["Q"] = 0
    # when one ends with 82 and one with 65 while the server is down
    backend.states["fake-1"] = BatchStatus(WorkerState.FINISHED, 82, "exit 82: no jobs")
    backend.states["fake-2"] = BatchStatus(WorkerState.FAILED, 65, "exit 65: general error")
    server.down = True
    summary = factory.cycle()
    assert server.reports == [] and len(factory.reports) == 2
    assert summary.queues["Q"].ended == {"finished": 1, "failed": 1, "empty": 1}
    # then the next cycle delivers both reports with batch id, exit code and diag
    server.down = False
    factory.cycle()
    got = {(r.worker_id, r.status, r.batch_id, r.exit_code, r.diag) for r in server.reports}
    assert got == {
        (1, "finished", "fake-1", 82, "exit 82: no jobs"),
        (2, "failed", "fake-2", 65, "exit 65: general error"),
    }
    assert factory.workers == {} and len(factory.reports) == 0


def test_a_worker_that_cannot_start_is_reported_missed(tmp_path: Path) -> None:
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 1})
    factory, backend = _factory(tmp_path, server, [FactoryQueue("Q")])
    backend.broken = True
    factory.cycle()
    assert factory.workers == {}
    factory.cycle()
    assert [(r.worker_id, r.status, r.diag) for r in server.reports] == [(1, "missed", "batch system down")]


def test_shutdown_cancels_live_workers_and_reports_them(tmp_path: Path) -> None:
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 2})
    factory, backend = _factory(tmp_path, server, [FactoryQueue("Q")])
    factory.cycle()
    factory.stop.set()
    factory.shutdown()
    assert sorted(backend.cancelled) == ["fake-1", "fake-2"]
    assert sorted((r.worker_id, r.status) for r in server.reports) == [(1, "cancelled"), (2, "cancelled")]
    assert factory.workers == {}


def test_every_cycle_sends_a_heartbeat_with_the_live_worker_count(tmp_path: Path) -> None:
    # given a factory whose queue is granted 3 workers
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 3})
    factory, _ = _factory(tmp_path, server, [FactoryQueue("Q", max_workers=3)])
    # when two cycles run
    factory.cycle()
    factory.cycle()
    # then each said the factory is alive, the second with the workers started by the first
    assert [(h.harvester_id, h.alive_workers) for h in server.heartbeats] == [("h", 0), ("h", 3)]


def test_a_lost_heartbeat_does_not_stop_the_cycle(tmp_path: Path) -> None:
    # given a server that cannot take heartbeats or reports right now
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 1})
    server.down = True
    factory, _ = _factory(tmp_path, server, [FactoryQueue("Q", max_workers=1)])
    # when a cycle runs, then it still provisions
    summary = factory.cycle()
    assert summary.queues["Q"].started == 1


def test_only_eventful_cycles_are_logged_at_info(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # given a queue granted one worker on the first cycle and nothing after
    server = FakeServer({"Q": QueueStatus.ONLINE}, {"Q": 1})
    factory, _ = _factory(tmp_path, server, [FactoryQueue("Q", max_workers=1)])
    caplog.set_level(logging.DEBUG, logger="pandawms.factory.factory")
    # when two cycles run
    first = factory.cycle()
    server.grant["Q"] = 0
    second = factory.cycle()
    # then the start is news, the idle cycle is not
    assert first.eventful and not second.eventful
    levels = [r.levelno for r in caplog.records if r.getMessage().startswith("cycle")]
    assert levels == [logging.INFO, logging.DEBUG]

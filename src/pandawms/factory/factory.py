"""The factory cycle: poll workers -> heartbeat (with the native batch states that changed and new batch
errors) -> report ended ones -> per queue: skip offline, size, add_workers, start one pilot per granted
worker id. The server grants workers atomically over every factory of a
queue, so a factory starts exactly the workers it was granted and never more. State lives in memory only.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pandawms.core.factory import WorkerLimits
from pandawms.core.specs import QueueStatus
from pandawms.factory.backends import (
    BatchBackend,
    BatchStatus,
    LimitsLifetime,
    SubmitError,
    WorkerSpec,
    WorkerState,
    submit_all,
)
from pandawms.factory.batchview import BatchView, Followed
from pandawms.factory.client import FactoryClientError, ServerRejected, Stopped
from pandawms.factory.config import FactoryConfig, FactoryQueue
from pandawms.factory.reports import PendingReports
from pandawms.factory.sizing import WorkerLoad, plan_ask, rotate
from pandawms.factory.status import ReportsBatchStates, queue_view, write_status
from pandawms.factory.workdirs import collect_parked, hand_over_parked, spool_dir, sweep_old, worker_dir
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.factory import (
    AddWorkersRequest,
    AddWorkersResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    WorkerUpdate,
    WorkerUpdateResult,
)
from pandawms.protocol.pilot_options import PilotOptions
from pandawms.protocol.queues import QueueConfig

log = logging.getLogger(__name__)

_DIAG_MAX = 2000
_HOST = socket.gethostname()[:128]


class FactoryServer(Protocol):
    """The server calls a factory makes (FactoryClient; an in-memory fake in unit tests)."""

    def get_queue(self, name: str, *, cancel: threading.Event | None = None) -> QueueConfig: ...

    def add_workers(
        self, req: AddWorkersRequest, *, cancel: threading.Event | None = None
    ) -> AddWorkersResponse: ...

    def update_workers(
        self,
        harvester_id: str,
        updates: list[WorkerUpdate],
        *,
        budget: float | None = None,
        cancel: threading.Event | None = None,
    ) -> list[WorkerUpdateResult]: ...

    def get_worker_stats(
        self, queue: str | None = None, *, cancel: threading.Event | None = None
    ) -> dict[str, dict[str, int]]: ...

    def heartbeat(
        self, req: HeartbeatRequest, *, cancel: threading.Event | None = None
    ) -> HeartbeatResponse: ...


@dataclass(frozen=True, slots=True)
class Worker:
    """A pilot this factory started: where it runs and where its output goes."""

    worker_id: int
    queue: str
    batch_id: str
    workdir: Path
    log_path: Path


@dataclass(slots=True)
class QueueCycle:
    """What happened to one queue in one cycle (for the log line and for tests)."""

    asked: int = 0
    granted: int = 0
    started: int = 0
    note: str = ""
    ended: Counter[str] = field(default_factory=Counter)  # final state, and "empty" for exit 82 -> count


@dataclass(slots=True)
class CycleSummary:
    number: int
    queues: dict[str, QueueCycle] = field(default_factory=dict)
    alive: int = 0
    pending_reports: int = 0

    @property
    def ended(self) -> Counter[str]:
        return sum((q.ended for q in self.queues.values()), Counter[str]())

    @property
    def eventful(self) -> bool:
        """Whether anything changed this cycle (workers started or ended, reports still pending)."""
        return self.pending_reports > 0 or any(q.started or q.ended for q in self.queues.values())

    def line(self) -> str:
        parts = [
            f"{name}: asked {q.asked} granted {q.granted} started {q.started}, ended {_counts(q.ended)}"
            f" ({q.note})"
            for name, q in self.queues.items()
        ]
        tail = f"alive {self.alive} | reports pending {self.pending_reports}"
        return f"cycle {self.number}: {'; '.join(parts)} | {tail}"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def pilot_argv(
    config: FactoryConfig,
    queue: FactoryQueue,
    worker_id: int,
    workdir: Path,
    *,
    max_lifetime: float | None = None,
) -> tuple[str, ...]:
    """The ``panda pilot`` command line of one worker (its lifetime capped at ``max_lifetime``)."""
    options = config.pilot_options(queue)
    if max_lifetime is not None and max_lifetime < options.lifetime:
        options = replace(options, lifetime=max_lifetime)
    return (
        sys.executable,
        *("-m", "pandawms.cli.main", "pilot"),
        *("--server", config.server_url),
        *("--queue", queue.name),
        *("--worker-id", str(worker_id)),
        *("--workdir", str(workdir)),
        *options.argv(),
    )


def worker_resources(options: PilotOptions, qconfig: QueueConfig) -> tuple[int, int]:
    """(cores, MB) one worker asks its batch system for: the pilot's ``cores``/``memory`` options (a
    multi-core or whole-node worker, [queue.pilot]) or else the queue's resource type."""
    cores = options.cores or qconfig.cores
    return cores, options.memory_mb or cores * qconfig.max_memory_per_core


def jobs_per_worker(options: PilotOptions, qconfig: QueueConfig) -> int:
    """Single-core jobs one worker runs at once: 1, or in multi-job mode its cores, capped by its memory at
    the queue's memory per core and by ``max_jobs`` (what the server sizes the queue's workers on)."""
    if options.max_jobs == 1:
        return 1
    cores, memory_mb = worker_resources(options, qconfig)
    slots = cores
    if qconfig.max_memory_per_core > 0:
        slots = min(slots, memory_mb // qconfig.max_memory_per_core)
    if options.max_jobs > 1:
        slots = min(slots, options.max_jobs)
    return max(1, slots)


def report_for(worker: Worker, status: BatchStatus, batch_state: str | None = None) -> WorkerUpdate:
    """The server report of an ended worker (missed stays missed; every other state is sent as is), with
    its last native batch state when the backend has them (Slurm's TIMEOUT, OUT_OF_MEMORY ...)."""
    return WorkerUpdate(
        worker_id=worker.worker_id,
        status=status.state.value,
        batch_id=worker.batch_id[:80],
        exit_code=status.exit_code,
        diag=status.diag[:_DIAG_MAX],
        batch_state=batch_state[:32] if batch_state else None,
    )


class Factory:
    """One factory instance: its queues, backends, live workers and pending reports."""

    def __init__(
        self,
        config: FactoryConfig,
        client: FactoryServer,
        backends: Mapping[str, BatchBackend],  # by queue name (run.build_backends)
        *,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.client = client
        self.backends = backends
        self.stop = stop
        self.clock = clock
        self.wall_clock = wall_clock
        self.workers: dict[int, Worker] = {}
        self.reports = PendingReports(config.harvester_id)
        self.cycles = 0
        self.ended_total: dict[str, Counter[str]] = {}  # queue -> final state -> workers since start
        self.batch = BatchView()  # native batch states and batch errors for the server

    # -- one cycle -------------------------------------------------------------------------------------

    def cycle(self) -> CycleSummary:
        """Run one cycle; server trouble in one step never blocks the others."""
        summary = CycleSummary(self.cycles)
        self.cycles += 1
        self._poll(summary)
        self._heartbeat()
        self.reports.flush(self.client, cancel=self.stop)
        stats = self._stats()
        budget = self.config.max_new_workers
        for queue in rotate(self.config.queues, summary.number):
            if self.stop.is_set():
                break
            q = summary.queues.setdefault(queue.name, QueueCycle())
            if stats is None:
                q.note = "no worker statistics from the server"
                continue
            budget -= self._provision(queue, stats.get(queue.name, {}), budget, q)
        self._sweep_dirs()
        summary.alive = len(self.workers)
        summary.pending_reports = len(self.reports)
        self._write_status(summary)
        # an idle factory cycles every minute: its unchanged state goes to debug, changes to info
        log.log(logging.INFO if summary.eventful else logging.DEBUG, "%s", summary.line())
        return summary

    def _poll(self, summary: CycleSummary) -> None:
        by_backend: dict[int, tuple[BatchBackend, list[Worker]]] = {}  # one status call per backend
        for worker in self.workers.values():
            backend = self.backends[worker.queue]
            by_backend.setdefault(id(backend), (backend, []))[1].append(worker)
        for backend, workers in by_backend.values():
            statuses = backend.status([w.batch_id for w in workers])
            for worker in workers:
                status = statuses.get(worker.batch_id)
                if status is not None and status.final:
                    self._ended(worker, status, summary)

    def _ended(self, worker: Worker, status: BatchStatus, summary: CycleSummary) -> None:
        log.info("worker %d (%s, %s) ended: %s", worker.worker_id, worker.queue, worker.batch_id, status.diag)
        backend = self.backends[worker.queue]
        native = backend.states.get(worker.batch_id) if isinstance(backend, ReportsBatchStates) else None
        self.reports.add(report_for(worker, status, native))
        self.batch.forget(worker.worker_id)
        backend.sweep(worker.batch_id)
        parked = collect_parked(worker.workdir, spool_dir(self.config.workdir, worker.queue))
        if parked:
            log.warning("worker %d left %d undelivered final update(s): spooled", worker.worker_id, parked)
        del self.workers[worker.worker_id]
        ended = summary.queues.setdefault(worker.queue, QueueCycle()).ended
        ended[status.state.value] += 1
        self.ended_total.setdefault(worker.queue, Counter())[status.state.value] += 1
        if status.exit_code == ec.PilotExit.NO_JOBS:
            ended["empty"] += 1  # pilots that found no job (factory.md §8 #1)

    def _write_status(self, summary: CycleSummary) -> None:
        """The operator's snapshot (factory/status.py): live workers per batch state, last batch errors."""
        queues = {}
        for queue in self.config.queues:
            backend = self.backends[queue.name]
            ids = [w.batch_id for w in self.workers.values() if w.queue == queue.name]
            if isinstance(backend, ReportsBatchStates):
                states, errors = backend.states, backend.last_errors
            else:  # a local process that is still known is running
                states, errors = dict.fromkeys(ids, "RUNNING"), []
            view = queue_view(ids, states, errors, self.ended_total.get(queue.name, Counter()))
            queues[queue.name] = {**view, "backend": backend.name}
        when = datetime.fromtimestamp(self.wall_clock(), UTC).isoformat(timespec="seconds")
        snapshot = {"harvester_id": self.config.harvester_id, "cycle": summary.number, "time": when}
        try:
            write_status(self.config.workdir, {**snapshot, "queues": queues})
        except OSError as exc:
            log.warning("cannot write the factory status file: %s", exc)

    def _heartbeat(self) -> None:
        """Tell the server this factory is alive; a silent factory's workers end as missed there."""
        self.batch.collect_errors(self.backends, self.wall_clock())
        followed = (Followed(w.worker_id, w.queue, w.batch_id) for w in self.workers.values())
        states, errors = self.batch.changed_states(followed, self.backends), list(self.batch.errors)
        req = HeartbeatRequest(
            harvester_id=self.config.harvester_id,
            host=_HOST,
            alive_workers=len(self.workers),
            batch_states=states,
            batch_errors=errors,
        )
        try:
            self.client.heartbeat(req, cancel=self.stop)
        except Stopped:
            return
        except FactoryClientError as exc:
            log.warning(
                "heartbeat not delivered (the server ends our workers as missed if this lasts): %s", exc
            )
        else:
            self.batch.delivered_ok(states, errors)

    def _stats(self) -> dict[str, dict[str, int]] | None:
        try:
            return self.client.get_worker_stats(cancel=self.stop)
        except Stopped:
            return None
        except FactoryClientError as exc:
            log.warning("no worker statistics, no submission this cycle: %s", exc)
            return None

    def _provision(self, queue: FactoryQueue, counts: Mapping[str, int], budget: int, q: QueueCycle) -> int:
        """Ask for and start workers for one queue; returns how many were granted."""
        try:
            qconfig = self.client.get_queue(queue.name, cancel=self.stop)
        except ServerRejected as exc:
            q.note = f"queue rejected by the server: {exc.message}"
            log.error("queue %s: %s", queue.name, q.note)
            return 0
        except FactoryClientError as exc:
            q.note = f"queue config unavailable: {exc}"
            return 0
        if qconfig.status is QueueStatus.OFFLINE:
            q.note = "queue is offline"
            return 0
        limits = WorkerLimits(queue.max_workers, queue.queued_limit, queue.max_new)
        load = WorkerLoad(None, counts.get("submitted", 0), counts.get("running", 0))
        ask = plan_ask(load, limits, budget)
        per_worker = jobs_per_worker(self.config.pilot_options(queue), qconfig)
        q.asked, q.note = ask.n, ask.reason
        if ask.n <= 0:  # never send max_new=0: on the wire it means "no cap"
            return 0
        req = AddWorkersRequest(
            harvester_id=self.config.harvester_id,
            queue=queue.name,
            max_workers=queue.max_workers,
            max_queued=queue.queued_limit,
            max_new=ask.n,
            jobs_per_worker=per_worker,
            request_id=uuid.uuid4().hex,  # retried with the same id if the answer is lost
        )
        try:
            grant = self.client.add_workers(req, cancel=self.stop)
        except FactoryClientError as exc:
            q.note = f"add_workers failed: {exc}"
            log.warning("queue %s: %s", queue.name, q.note)
            return 0
        q.granted, q.note = grant.granted, grant.reason
        q.started += self._start(queue, qconfig, [g.worker_id for g in grant.workers])
        return len(grant.workers)

    def _start(self, queue: FactoryQueue, qconfig: QueueConfig, worker_ids: list[int]) -> int:
        """Submit the granted workers in one go (one array job where the backend has them)."""
        specs = []
        for worker_id in dict.fromkeys(worker_ids):
            if worker_id in self.workers:
                log.error("worker %d granted twice: ignored", worker_id)
                continue
            specs.append(self._spec(queue, qconfig, worker_id))
        if not specs:
            return 0
        started = 0
        for spec, result in zip(specs, submit_all(self.backends[queue.name], specs), strict=True):
            if isinstance(result, SubmitError):
                log.error("worker %d (%s) not started: %s", spec.worker_id, queue.name, result)
                collect_parked(spec.workdir, spool_dir(self.config.workdir, queue.name))  # for the next one
                diag = str(result)[:_DIAG_MAX]
                self.reports.add(WorkerUpdate(worker_id=spec.worker_id, status="missed", diag=diag))
                continue
            self.workers[spec.worker_id] = Worker(
                spec.worker_id, queue.name, result, spec.workdir, spec.log_path
            )
            log.info(
                "worker %d (%s) started as %s, log %s", spec.worker_id, queue.name, result, spec.log_path
            )
            started += 1
        return started

    def _spec(self, queue: FactoryQueue, qconfig: QueueConfig, worker_id: int) -> WorkerSpec:
        workdir = worker_dir(self.config.workdir, queue.name, worker_id)
        handed = hand_over_parked(spool_dir(self.config.workdir, queue.name), workdir)
        if handed:
            log.info("worker %d gets %d parked final update(s) to re-send", worker_id, handed)
        backend = self.backends[queue.name]
        limit = backend.pilot_lifetime(qconfig.max_walltime) if isinstance(backend, LimitsLifetime) else None
        cores, memory_mb = worker_resources(self.config.pilot_options(queue), qconfig)
        return WorkerSpec(
            worker_id=worker_id,
            queue=queue.name,
            argv=pilot_argv(self.config, queue, worker_id, workdir, max_lifetime=limit),
            workdir=workdir,
            log_path=workdir / "pilot.out",
            cores=cores,
            memory_mb=memory_mb,
            walltime=float(qconfig.max_walltime),
        )

    def _sweep_dirs(self) -> None:
        live = {w.workdir for w in self.workers.values()}
        now = self.wall_clock()
        for queue in self.config.queues:
            queue_dir = self.config.workdir / queue.name
            removed = sweep_old(queue_dir, self.config.worker_dir_retention, now, live)
            if removed:
                log.info("removed %d old worker dir(s) of %s", removed, queue.name)

    # -- shutdown --------------------------------------------------------------------------------------

    def shutdown(self, *, poll_interval: float = 0.2) -> None:
        """Cancel every live pilot (SIGTERM, then SIGKILL after the grace), report them, deliver reports."""
        summary = CycleSummary(self.cycles)
        for worker in self.workers.values():
            self.backends[worker.queue].cancel(worker.batch_id)
        grace = max((self.backends[w.queue].cancel_grace for w in self.workers.values()), default=0.0)
        deadline = self.clock() + grace + 10.0
        while self.workers and self.clock() < deadline:
            self._poll(summary)
            if self.workers:
                time.sleep(poll_interval)
        for worker in list(self.workers.values()):  # did not even die from SIGKILL: report it anyway
            lost = BatchStatus(WorkerState.CANCELLED, None, "cancelled; the process did not end in time")
            self._ended(worker, lost, summary)
        if len(self.reports):
            self.reports.flush(self.client, budget=self.config.stop_report_budget)
        if len(self.reports):
            log.error("%d worker report(s) could not be delivered before exit", len(self.reports))
        log.info(
            "factory %s stopped; workers ended at stop: %s", self.config.harvester_id, _counts(summary.ended)
        )

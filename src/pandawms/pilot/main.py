"""The pilot's entry point (pilot.md §1-§2): check the queue, re-send parked final updates, then take jobs
until the server has none left (after ``max_empty_acquires`` empty answers with backoff), the lifetime is
used up or a signal arrives: one at a time, or in multi-job mode as many at once as the worker's cores and
memory hold (pilot/slots.py), each job in its own thread. The job loop runs in a worker thread; the main
thread only waits and handles signals (kill every payload, report the signal's code in each job's final
update, exit 128+signal).
"""

from __future__ import annotations

import logging
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from pandawms.core.backoff import compute_backoff
from pandawms.core.errors import InvalidInput
from pandawms.core.specs import QueueStatus
from pandawms.ddm.config import load_storage_config
from pandawms.ddm.registry import BackendRegistry, StorageConfig, build_registry
from pandawms.pilot.client import (
    Cancelled,
    HttpRetry,
    ServerClient,
    ServerError,
    ServerRejected,
    ServerUnreachable,
)
from pandawms.pilot.codes import PilotOutcome, StopReason, exit_code, signal_code
from pandawms.pilot.config import PilotConfig
from pandawms.pilot.job import JobContext, JobResult, JobRun
from pandawms.pilot.report import Identity, PendingUpdates
from pandawms.pilot.slots import Ask, Capacity, Footprint, footprint, next_ask, worker_capacity
from pandawms.pilot.state import JobState
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.http import Failure, FileToken
from pandawms.protocol.pilot import AcquireRequest, PilotJob
from pandawms.protocol.queues import QueueConfig

log = logging.getLogger(__name__)

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGXCPU)
_USABLE = frozenset({QueueStatus.ONLINE, QueueStatus.BROKEROFF, QueueStatus.TEST})


def queue_refusal(status: QueueStatus) -> StopReason | None:
    """Whether a pilot may take jobs from a queue in this status (brokeroff still dispatches)."""
    if status is QueueStatus.OFFLINE:
        return StopReason.QUEUE_OFFLINE
    return None if status in _USABLE else StopReason.QUEUE_NOT_ACTIVE


@dataclass(slots=True)
class _Running:
    """A job running in its own thread, with what it holds of the worker."""

    thread: threading.Thread
    state: JobState
    holds: Footprint
    result: list[JobResult] = field(default_factory=list)


class Pilot:
    """One pilot process: the job loop and the signal state it shares with the main thread.

    Each job runs in its own thread (``job-<PandaID>``) with its own work dir, heartbeat and final update;
    the loop takes a new job whenever slots.next_ask says one fits (one at a time unless ``max_jobs``).
    """

    def __init__(
        self,
        config: PilotConfig,
        client: ServerClient,
        clock: Callable[[], float] = time.time,
        storage: BackendRegistry | None = None,
    ) -> None:
        self.cfg = config
        self.client = client
        self.storage = storage or build_registry(StorageConfig())
        self.clock = clock
        self.started = clock()
        self.deadline = self.started + config.lifetime
        self.stop = threading.Event()
        self.signum: int | None = None
        self.running: dict[int, _Running] = {}
        self._lock = threading.Lock()  # running is read by the signal handler in the main thread
        self._slot_freed = threading.Event()
        self.jobs_run = 0
        self.lost_updates = 0
        self.hit_lifetime = False
        self.most_at_once = 0  # the largest number of jobs that ran at the same time
        self._rng = random.Random()

    # -- signals (called in the main thread) ---------------------------------------------------------------
    def handle_signal(self, signum: int, _frame: FrameType | None = None) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            log.warning("received %s again; already stopping", name)
            return
        log.warning("received %s: stopping", name)
        self.signum = signum
        self.stop.set()
        self._slot_freed.set()
        with self._lock:
            states = [r.state for r in self.running.values()]
        for state in states:  # every job is killed and still gets its log and final update
            state.request_kill(signal_code(signum), f"pilot received {name}")

    # -- the loop (worker thread) -----------------------------------------------------------------------
    def run(self) -> PilotOutcome:
        try:
            reason = self._run()
        except Exception:
            log.exception("pilot failed")
            reason = StopReason.ERROR
            self._drain()
        if self.signum is not None:
            reason = StopReason.SIGNAL
        return PilotOutcome(reason, self.jobs_run, self.signum, self.lost_updates)

    def _run(self) -> StopReason:
        queue = self._queue()
        if isinstance(queue, StopReason):
            return queue
        self._resend_parked()
        return self._loop(queue)

    def _queue(self) -> QueueConfig | StopReason:
        try:
            queue = self.client.get_queue(self.cfg.queue, cancel=self.stop)
        except Cancelled:
            return StopReason.SIGNAL
        except ServerUnreachable as exc:
            log.error("server unreachable: %s", exc)
            return StopReason.SERVER_UNREACHABLE
        except ServerError as exc:
            log.error("cannot get queue %s: %s", self.cfg.queue, exc)
            return StopReason.QUEUE_UNKNOWN
        refusal = queue_refusal(queue.status)
        if refusal is not None:
            log.error("queue %s is %s: no jobs taken", queue.name, queue.status.value)
        return refusal or queue

    def _resend_parked(self) -> None:
        pending = PendingUpdates(self.cfg.pending_dir)
        for req in pending.load_all():
            try:
                answer = self.client.update_job(req, cancel=self.stop)
            except ServerRejected as exc:
                log.error("parked final update of job %d refused: %s", req.job_id, exc)
                pending.reject(req)
            except ServerError as exc:
                log.warning("parked final update of job %d still not delivered: %s", req.job_id, exc)
            else:
                log.info("parked final update of job %d delivered (%s)", req.job_id, answer.command)
                pending.remove(req)

    def capacity(self, queue: QueueConfig) -> Capacity:
        cfg = self.cfg
        return worker_capacity(
            cores=cfg.cores,
            memory_mb=cfg.memory_mb,
            batch_cores=cfg.batch_cores,
            batch_memory_mb=cfg.batch_memory_mb,
            queue_cores=queue.cores,
            queue_mb_per_core=queue.max_memory_per_core,
            max_jobs=cfg.max_jobs,
        )

    def _loop(self, queue: QueueConfig) -> StopReason:
        capacity = self.capacity(queue)
        if capacity.multi_job:
            cap = capacity.max_jobs or "no cap"
            log.info(
                "multi-job mode: %d cores, %d MB, jobs at once: %s", capacity.cores, capacity.memory_mb, cap
            )
        reason = self._take_jobs(queue, capacity)
        self._drain()
        if self.signum is not None:
            return StopReason.SIGNAL
        return StopReason.REACHED_MAX_TIME if self.hit_lifetime else reason

    def _take_jobs(self, queue: QueueConfig, capacity: Capacity) -> StopReason:
        """Acquire and start jobs while they fit; returns why no more are taken."""
        empty = 0
        while not self.stop.is_set():
            self._slot_freed.clear()
            self._reap()
            if self.hit_lifetime:
                return StopReason.REACHED_MAX_TIME
            remaining = self.deadline - self.clock()
            if remaining < self.cfg.min_remaining_time:
                log.info("%.0f s of lifetime left: no more jobs", remaining)
                return StopReason.LIFETIME
            with self._lock:
                holds = [r.holds for r in self.running.values()]
            ask = next_ask(capacity, holds)
            if ask is None:  # full: wait until a job ends (or a signal)
                self._slot_freed.wait(5.0)
                continue
            try:
                jobs = self._acquire(queue, remaining, ask)
            except Cancelled:
                return StopReason.SIGNAL
            except ServerUnreachable as exc:
                log.error("server unreachable: %s", exc)
                return StopReason.SERVER_UNREACHABLE
            if not jobs:
                empty += 1
                if empty >= self.cfg.max_empty_acquires:
                    return StopReason.NO_MORE_JOBS
                self.stop.wait(
                    compute_backoff(empty - 1, self.cfg.backoff_base, self.cfg.backoff_cap, self._rng)
                )
                continue
            empty = 0
            for job in jobs:
                self._start_job(queue, job, capacity)
        return StopReason.SIGNAL

    def _acquire(self, queue: QueueConfig, remaining: float, ask: Ask) -> list[PilotJob]:
        cfg = self.cfg
        req = AcquireRequest(
            site_name=queue.name,
            n_jobs=1,
            prod_source_label=cfg.prod_source_label,
            memory=ask.memory_mb,
            disk_space=cfg.disk_mb or _free_disk_mb(cfg),
            core_count=ask.cores,
            remaining_time=int(remaining),
            node=cfg.node[:128],
            pilot_id=cfg.pilot_id[:200],
            worker_id=cfg.worker_id,
            request_id=self._request_id(),
        )
        try:
            answer = self.client.acquire_jobs(req, cancel=self.stop)
        except ServerRejected as exc:
            log.error("acquire_jobs refused: %s", exc)
            return []
        except ServerUnreachable as exc:
            if exc.failure is not Failure.LOST:
                raise
            # The client resent the call with the same request_id until its budget ran out (a repeat gets
            # the jobs the server claimed for the first); a job claimed for us is then ended by the sent
            # timeout, as a system closure. Count it as an empty acquire and back off (reference pilot.md
            # §10.2: a bounded getJob budget instead of exiting); the next acquire has a fresh request_id.
            log.warning("acquire_jobs answer lost; trying again later: %s", exc)
            return []
        if not answer.jobs:
            log.info("no job: %s (StatusCode %d)", answer.message, answer.StatusCode)
        return answer.jobs

    def _request_id(self) -> str | None:
        """Fresh for each acquire; resends of that call keep it. None when the pilot names nobody (the
        server keys repeats on the worker id, else pilot id and node)."""
        cfg = self.cfg
        if cfg.worker_id is None and not cfg.pilot_id and not cfg.node:
            return None
        return f"{self._rng.getrandbits(128):032x}"

    def _start_job(self, queue: QueueConfig, job: PilotJob, capacity: Capacity) -> None:
        state = JobState(job.panda_id)
        holds = footprint(job.core_count, job.min_ram_count, capacity.mb_per_core)
        ctx = JobContext(
            config=self.cfg,
            client=self.client,
            queue=queue,
            who=Identity(queue.name, self.cfg.node[:128], self.cfg.pilot_id[:200], self.cfg.batch_id),
            pilot_deadline=self.deadline,
            shutting_down=self.stop,
            clock=self.clock,
            storage=self.storage,
        )
        box: list[JobResult] = []

        def run() -> None:
            try:
                box.append(JobRun(ctx, job, state).run())
            finally:
                self._slot_freed.set()

        entry = _Running(
            threading.Thread(target=run, name=f"job-{job.panda_id}", daemon=True), state, holds, box
        )
        with self._lock:
            self.running[job.panda_id] = entry
            self.most_at_once = max(self.most_at_once, len(self.running))
            running = len(self.running)
        if self.stop.is_set():  # a signal between acquire and here: the job still gets a final update
            state.request_kill(signal_code(self.signum or signal.SIGTERM), "pilot stopping")
        if capacity.multi_job:
            log.info(
                "job %d: %d core(s), %d MB; %d job(s) running",
                job.panda_id,
                holds.cores,
                holds.memory_mb,
                running,
            )
        entry.thread.start()

    def _reap(self) -> None:
        """Count the jobs whose threads ended."""
        with self._lock:
            done = [pid for pid, r in self.running.items() if not r.thread.is_alive()]
            ended = [self.running.pop(pid) for pid in done]
        for entry in ended:
            entry.thread.join()
            self.jobs_run += 1
            result = entry.result[0] if entry.result else None
            self.lost_updates += 0 if result is not None and result.reported else 1
            self.hit_lifetime |= result is not None and result.hit_pilot_lifetime

    def _drain(self) -> None:
        """Wait for every running job to end (each sends its own final update), then count them."""
        with self._lock:
            threads = [r.thread for r in self.running.values()]
        for thread in threads:
            thread.join()
        self._reap()


def _free_disk_mb(cfg: PilotConfig) -> int:
    try:
        return int(shutil.disk_usage(cfg.workdir).free // (1024 * 1024))
    except OSError:
        return 0


def _attach_logging(cfg: PilotConfig) -> list[logging.Handler]:
    logger = logging.getLogger("pandawms.pilot")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [logging.FileHandler(cfg.workdir / "pilot.log")]
    if not logging.getLogger().handlers:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
    return handlers


def _run_in_worker(pilot: Pilot) -> PilotOutcome:
    """Run the loop in a thread so signal handlers never interrupt it while it holds a lock."""
    box: list[PilotOutcome] = []
    worker = threading.Thread(target=lambda: box.append(pilot.run()), name="pilot-loop", daemon=True)
    in_main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, pilot.handle_signal) for s in HANDLED_SIGNALS} if in_main else {}
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return box[0] if box else PilotOutcome(StopReason.ERROR, pilot.jobs_run, pilot.signum)


def run_pilot(config: PilotConfig, *, client: ServerClient | None = None) -> int:
    """Run the pilot until it is done and return its shell exit status (errors.md §4)."""
    try:
        config.workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"pandawms pilot: cannot create work dir {config.workdir}: {exc}", file=sys.stderr)
        return ec.PilotExit.MKDIR
    try:
        storage = build_registry(
            load_storage_config(config.storage_config) if config.storage_config else StorageConfig()
        )
    except InvalidInput as exc:
        print(f"pandawms pilot: {exc}", file=sys.stderr)
        return ec.PilotExit.GENERAL_ERROR
    handlers = _attach_logging(config)
    retry = HttpRetry(config.backoff_base, config.backoff_cap, config.backoff_budget)
    server = client or ServerClient(
        config.server_url,
        retry,
        timeout=config.http_timeout,
        auth=FileToken(config.token_file) if config.token_file else None,
        verify=str(config.ca_file) if config.ca_file else True,
        client_cert=str(config.cert_file) if config.cert_file else None,
    )
    log.info(
        "pilot %s on %s for queue %s, server %s", config.pilot_id, config.node, config.queue, server.base_url
    )
    try:
        outcome = _run_in_worker(Pilot(config, server, storage=storage))
        code = exit_code(outcome)
        log.info(
            "pilot done: %s after %d job(s); exit %d (%s)",
            outcome.reason.value,
            outcome.jobs_run,
            code,
            ec.exit_meaning(code),
        )
    finally:
        if client is None:
            server.close()
        logger = logging.getLogger("pandawms.pilot")
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
    return code

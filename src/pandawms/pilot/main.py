"""The pilot's entry point (pilot.md §1-§2): check the queue, re-send parked final updates, then take jobs
one at a time until the server has none left (after ``max_empty_acquires`` empty answers with backoff),
the lifetime is used up or a signal arrives. The job loop runs in a worker thread; the main thread only
waits and handles signals (kill the payload, report the signal's code, exit 128+signal).
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


class Pilot:
    """One pilot process: the job loop and the signal state it shares with the main thread."""

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
        self.current: JobState | None = None
        self.jobs_run = 0
        self.lost_updates = 0
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
        state = self.current
        if state is not None:
            state.request_kill(signal_code(signum), f"pilot received {name}")

    # -- the loop (worker thread) -----------------------------------------------------------------------
    def run(self) -> PilotOutcome:
        try:
            reason = self._run()
        except Exception:
            log.exception("pilot failed")
            reason = StopReason.ERROR
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

    def _loop(self, queue: QueueConfig) -> StopReason:
        empty = 0
        while not self.stop.is_set():
            remaining = self.deadline - self.clock()
            if remaining < self.cfg.min_remaining_time:
                log.info("%.0f s of lifetime left: no more jobs", remaining)
                return StopReason.LIFETIME
            try:
                jobs = self._acquire(queue, remaining)
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
            result = self._run_job(queue, jobs[0])
            if result.hit_pilot_lifetime:
                return StopReason.REACHED_MAX_TIME
        return StopReason.SIGNAL

    def _acquire(self, queue: QueueConfig, remaining: float) -> list[PilotJob]:
        cfg = self.cfg
        cores = cfg.cores or queue.cores
        req = AcquireRequest(
            site_name=queue.name,
            n_jobs=1,
            prod_source_label=cfg.prod_source_label,
            memory=cfg.memory_mb or queue.max_memory_per_core * cores,
            disk_space=cfg.disk_mb or _free_disk_mb(cfg),
            core_count=cores,
            remaining_time=int(remaining),
            node=cfg.node[:128],
            pilot_id=cfg.pilot_id[:200],
            worker_id=cfg.worker_id,
        )
        try:
            answer = self.client.acquire_jobs(req, cancel=self.stop)
        except ServerRejected as exc:
            log.error("acquire_jobs refused: %s", exc)
            return []
        except ServerUnreachable as exc:
            if exc.failure is not Failure.LOST:
                raise
            # A lost answer is not resent (it could hand out a second batch); a job claimed for us meanwhile
            # is ended by the server's sent timeout and retried. Count it as an empty acquire and back off
            # (reference pilot.md §10.2: a bounded getJob budget instead of exiting).
            log.warning("acquire_jobs answer lost; trying again later: %s", exc)
            return []
        if not answer.jobs:
            log.info("no job: %s (StatusCode %d)", answer.message, answer.StatusCode)
        return answer.jobs

    def _run_job(self, queue: QueueConfig, job: PilotJob) -> JobResult:
        state = JobState(job.panda_id)
        self.current = state
        if self.stop.is_set():  # a signal between acquire and here: the job still gets a final update
            state.request_kill(signal_code(self.signum or signal.SIGTERM), "pilot stopping")
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
        try:
            result = JobRun(ctx, job, state).run()
        finally:
            self.current = None
        self.jobs_run += 1
        self.lost_updates += 0 if result.reported else 1
        return result


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

"""One job from acquisition to clean-up (pilot.md §3): validate -> work dir -> 'starting' -> stage-in ->
payload under heartbeats and the limits monitor -> stage-out -> log tarball (uploaded) -> final update ->
clean-up. A failing step records its pilot error code in the JobState and the job skips to its log and
final update, so every job the pilot took ends with a final update (or one parked on disk).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pandawms.ddm.registry import BackendRegistry, StorageConfig, build_registry
from pandawms.pilot.client import ServerClient, ServerError, ServerRejected
from pandawms.pilot.codes import payload_error
from pandawms.pilot.config import PilotConfig
from pandawms.pilot.heartbeat import Heartbeat
from pandawms.pilot.limits import JobLimits, build_limits
from pandawms.pilot.monitor import PayloadMonitor
from pandawms.pilot.payload import CommandError, Payload, build_command
from pandawms.pilot.report import Identity, PendingUpdates, Usage, final_update, job_report
from pandawms.pilot.stage import Stager, StageRetry, create_log_tarball, with_turls
from pandawms.pilot.state import JobPhase, JobState, PilotError, StepError
from pandawms.pilot.supervise import Supervisor, is_lifetime
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.pilot import OutputFileReport, PilotFile, PilotJob
from pandawms.protocol.queues import QueueConfig

log = logging.getLogger(__name__)

PILOT_LOG = "pilotlog.txt"
STDOUT = "payload.stdout"
STDERR = "payload.stderr"
SHUTDOWN_BUDGET = 60.0  # s for the log upload and final update after a signal (batch kills ~2 min later)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass(frozen=True, slots=True)
class JobContext:
    """What the main loop hands each job."""

    config: PilotConfig
    client: ServerClient
    queue: QueueConfig
    who: Identity
    pilot_deadline: float | None = None  # epoch s when the pilot's lifetime ends
    shutting_down: threading.Event = field(default_factory=threading.Event)  # a signal arrived
    clock: Callable[[], float] = time.time
    storage: BackendRegistry | None = None  # the ddm back ends (main() builds them from --storage-config)


@dataclass(frozen=True, slots=True)
class JobResult:
    panda_id: int
    status: str  # the final status sent: finished / failed
    error: PilotError | None
    reported: bool  # the server acknowledged the final update
    hit_pilot_lifetime: bool


class JobThreads(logging.Filter):
    """Keeps the log records of one job's threads: the one running it, its heartbeat and the helpers they
    start (named ``<parent>/...``), so each job's log holds only its own lines when several run at once."""

    def __init__(self, runner: str, panda_id: int) -> None:
        super().__init__()
        self.names = frozenset({runner, f"heartbeat-{panda_id}"})

    def filter(self, record: logging.LogRecord) -> bool:
        return (record.threadName or "").split("/", 1)[0] in self.names


class _Aborted(Exception):
    """The job was killed (server, signal, limit); the reason is already in the JobState."""


def _files(job: PilotJob, kind: str) -> list[PilotFile]:
    return [f for f in job.files if f.type == kind]


class JobRun:
    """Runs one job; ``state`` is shared with the signal handler of the main loop."""

    def __init__(self, ctx: JobContext, job: PilotJob, state: JobState | None = None) -> None:
        self.ctx = ctx
        self.cfg = ctx.config
        self.job = job
        self.state = state or JobState(job.panda_id)
        self.dir = self.cfg.workdir / f"PanDA_Pilot-{job.panda_id}"
        self.started = ctx.clock()
        self.outputs: dict[str, OutputFileReport] = {}
        self.usage: Usage | None = None
        self.hit_lifetime = False
        self._argv: list[str] = []
        self._supervisor: Supervisor | None = None
        self._log_handler: logging.Handler | None = None
        self.keep_dir = False  # an output that could not be staged out stays in the work dir
        self.stager = Stager(
            ctx.storage or build_registry(StorageConfig()),
            self.cfg.storage,
            queue_rse=ctx.queue.ddm_input,
            endpoint=ctx.queue.storage_element or "LOCAL",
            retry=StageRetry(self.cfg.stageout_attempts, self.cfg.backoff_base, self.cfg.backoff_cap),
            wait=self.state.kill_requested.wait,
        )
        self.heartbeat = Heartbeat(
            ctx.client,
            job,
            self.state,
            ctx.who,
            interval=self.cfg.heartbeat_interval,
            retry_budget=min(self.cfg.backoff_budget, self.cfg.heartbeat_interval),
            max_silence=self.cfg.max_update_silence,
            usage=self._current_usage,
        )

    def _current_usage(self) -> Usage | None:
        return self._supervisor.usage if self._supervisor is not None else self.usage

    def run(self) -> JobResult:
        log.info("job %d: start (%s)", self.job.panda_id, self.job.job_name)
        try:
            self._prepare()
            self._stage_in()
            self._execute()
            self._stage_out()
        except _Aborted:
            log.warning("job %d: aborted: %s", self.job.panda_id, self.state.first_error)
        except StepError as exc:
            log.error("job %d: %s failed (%d): %s", self.job.panda_id, self.state.phase, exc.code, exc.diag)
            self.state.record_error(exc.code, exc.diag)
        except Exception as exc:  # an unforeseen bug must still end in a final update
            log.exception("job %d: internal pilot error", self.job.panda_id)
            self.state.record_error(ec.PilotCode.INTERNALPILOTPROBLEM, f"internal pilot error: {exc!r}")
        self.state.advance(JobPhase.LOGGING)
        self.heartbeat.stop()
        self._log_tarball()
        self.state.advance(JobPhase.REPORTING)
        reported = self._final_update()
        self.state.advance(JobPhase.DONE)
        self._cleanup()
        return JobResult(
            self.job.panda_id, self.state.final_status, self.state.first_error, reported, self.hit_lifetime
        )

    # -- steps -------------------------------------------------------------------------------------------
    def _check_abort(self) -> None:
        if self.state.kill_requested.is_set():
            raise _Aborted

    def _prepare(self) -> None:
        try:
            self._argv = build_command(self.job.transformation, self.job.job_parameters)
        except CommandError as exc:
            raise StepError(ec.PilotCode.UNRECOGNIZEDTRFARGUMENTS, str(exc)) from None
        self.state.advance(JobPhase.SETUP)
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o770)
        except OSError as exc:
            raise StepError(ec.PilotCode.MKDIR, f"cannot create work dir {self.dir}: {exc}") from None
        self._attach_log()
        self.heartbeat.send("starting")
        self.heartbeat.start()
        self._check_abort()

    def _stage_in(self) -> None:
        self.state.advance(JobPhase.STAGEIN)
        inputs = _files(self.job, "input")
        if inputs:
            direct = self.stager.stage_in(inputs, self.dir)
            self._argv = with_turls(self._argv, direct)
            log.info(
                "job %d: staged in %d file(s), %d read in place", self.job.panda_id, len(inputs), len(direct)
            )
        self._check_abort()

    def _limits(self) -> JobLimits:
        return build_limits(
            job_walltime_s=self.job.max_walltime,
            job_min_ram_mb=self.job.min_ram_count,
            job_cores=self.job.core_count,
            job_max_disk_mb=self.job.max_disk_count,
            queue_max_walltime_s=self.ctx.queue.max_walltime,
            queue_mb_per_core=self.ctx.queue.max_memory_per_core,
            queue_max_disk_mb=self.ctx.queue.max_disk,
            memory_factor=self.cfg.memory_limit_factor,
            disk_override_mb=self.cfg.disk_limit_mb,
            looping_timeout_s=self.cfg.looping_timeout,
            pilot_deadline=self.ctx.pilot_deadline,
        )

    def _start_payload(self) -> Payload:
        env = {**os.environ, "PANDAID": str(self.job.panda_id), "PANDA_QUEUE": self.ctx.queue.name}
        payload = Payload(self._argv, self.dir, self.dir / STDOUT, self.dir / STDERR, env)
        try:
            payload.start(on_exit=self.state.wakeup.set)
        except OSError as exc:
            missing = isinstance(exc, FileNotFoundError | PermissionError)
            self.state.trans_exit_code = 127 if missing else 126
            code = ec.PilotCode.TRANSFORMNOTFOUND if missing else ec.PilotCode.PAYLOADEXECUTIONEXCEPTION
            raise StepError(code, f"cannot start {self._argv[0]}: {exc}") from None
        return payload

    def _execute(self) -> None:
        self.state.advance(JobPhase.RUNNING)
        limits = self._limits()
        payload = self._start_payload()
        payload_started = self.ctx.clock()
        monitor = PayloadMonitor(payload.pid, self.dir, ignore={PILOT_LOG})
        self._supervisor = Supervisor(
            payload,
            monitor,
            self.state,
            limits,
            interval=self.cfg.monitor_interval,
            grace=self.cfg.kill_grace,
            clock=self.ctx.clock,
        )
        self.heartbeat.started_at = payload_started
        self.heartbeat.kick()  # 'running' at once, without delaying the supervision
        result = self._supervisor.run(self.started, payload_started)
        self.usage = self._supervisor.usage
        self.hit_lifetime = is_lifetime(result.violation)
        if result.exit is not None:
            self.state.trans_exit_code = result.exit.trans_exit_code
        if result.killed or self.state.failed:
            raise _Aborted
        error = payload_error(result.exit) if result.exit is not None else None
        if error is not None:
            raise StepError(error.code, error.diag)

    def _stage_out(self) -> None:
        self.state.advance(JobPhase.STAGEOUT)
        for f in _files(self.job, "output"):
            try:
                self.outputs[f.lfn] = report = self.stager.put(self.dir / f.lfn, f, self.job.panda_id)
            except StepError:
                self.keep_dir = self.dir.joinpath(f.lfn).is_file()  # keep what could not be stored
                raise
            log.info("job %d: staged out %s to %s", self.job.panda_id, f.lfn, report.surl)

    # -- log, final update, clean-up ---------------------------------------------------------------------
    def _attach_log(self) -> None:
        handler = logging.FileHandler(self.dir / PILOT_LOG)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s"))
        handler.addFilter(JobThreads(threading.current_thread().name, self.job.panda_id))
        logging.getLogger("pandawms.pilot").addHandler(handler)
        self._log_handler = handler

    def _detach_log(self) -> None:
        if self._log_handler is not None:
            logging.getLogger("pandawms.pilot").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def _log_name(self) -> tuple[str, PilotFile | None]:
        logs = _files(self.job, "log")
        if logs:
            return logs[0].lfn, logs[0]
        return f"{self.job.job_name or self.job.panda_id}.log.tgz", None

    def _log_tarball(self) -> None:
        """Tar the pilot log and payload stdout/stderr, upload it to the server and keep it in storage."""
        name, log_file = self._log_name()
        log.info("job %d: ended %s; creating log %s", self.job.panda_id, self.state.final_status, name)
        self._detach_log()
        tarball = self.cfg.workdir / "outbox" / f"{self.job.panda_id}-{_UNSAFE.sub('_', name)}"
        folder = f"tarball_PandaJob_{self.job.panda_id}_{self.ctx.queue.name}"
        try:
            create_log_tarball(tarball, folder, [self.dir / PILOT_LOG, self.dir / STDOUT, self.dir / STDERR])
            self._upload_log(tarball, name)
            if log_file is not None:
                if self.ctx.shutting_down.is_set():  # the batch system kills us soon: one try only
                    self.stager.retry = StageRetry(1)
                self.outputs[name] = self.stager.put(tarball, log_file, self.job.panda_id)
        except StepError as exc:
            log.error("job %d: log: %s", self.job.panda_id, exc.diag)
            self.state.record_error(exc.code, exc.diag)
        finally:
            tarball.unlink(missing_ok=True)

    def _upload_log(self, tarball: Path, name: str) -> None:
        budget = SHUTDOWN_BUDGET / 3 if self.ctx.shutting_down.is_set() else self.cfg.backoff_budget
        try:
            self.ctx.client.upload_log(
                self.job.panda_id,
                self.job.attempt_nr,
                _UNSAFE.sub("_", name),
                tarball.read_bytes(),
                budget=budget,
            )
            log.info("job %d: log uploaded (%d bytes)", self.job.panda_id, tarball.stat().st_size)
        except (ServerError, OSError) as exc:  # the log is not worth failing a finished job for
            log.error("job %d: log upload failed: %s", self.job.panda_id, exc)

    def _final_update(self) -> bool:
        ended = self.ctx.clock()
        req = final_update(
            self.job,
            self.state,
            self.ctx.who,
            (self.started, ended),
            self.usage,
            self.outputs,
            job_report(self.dir),
        )
        pending = PendingUpdates(self.cfg.pending_dir)
        try:
            path = pending.save(req)
        except OSError as exc:  # a full or read-only disk must not keep the update from the server
            log.error("job %d: cannot park the final update: %s", self.job.panda_id, exc)
            path = pending.folder
        budget = SHUTDOWN_BUDGET if self.ctx.shutting_down.is_set() else self.cfg.final_update_budget
        try:
            answer = self.ctx.client.update_job(req, budget=budget)
        except ServerRejected as exc:
            log.error("job %d: final update rejected, kept in %s: %s", self.job.panda_id, path, exc)
            pending.reject(req)
            return False
        except ServerError as exc:
            log.error("job %d: final update not delivered, parked in %s: %s", self.job.panda_id, path, exc)
            return False
        pending.remove(req)
        log.info(
            "job %d: final update %s sent (error %s); server: %s %s",
            self.job.panda_id,
            req.job_status,
            req.pilot_error_code,
            answer.command,
            answer.jobStatus,
        )
        return True

    def _cleanup(self) -> None:
        self._detach_log()
        if self.keep_dir:
            log.warning("job %d: outputs not staged out are kept in %s", self.job.panda_id, self.dir)
        elif self.cfg.cleanup:
            shutil.rmtree(self.dir, ignore_errors=True)

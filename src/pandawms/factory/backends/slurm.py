"""Slurm backend: workers are sbatch jobs (one array job per batch of granted workers).

Per status poll it runs ONE squeue (live jobs, with reasons) and at most ONE sacct (ended jobs, with exit
codes) for every worker it knows, never one call per worker. A command that fails or hangs is retried
with backoff inside a time budget; when it still fails, nothing is reported for that poll, so a worker is
never ended because the controller was down. A worker is ``missed`` only after squeue and sacct both
answered ``missed_after`` polls in a row without it. Its ``[queue.backend]`` table is SlurmBackendConfig.
"""

from __future__ import annotations

import logging
import os
import random
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pandawms.core.backoff import next_delay
from pandawms.factory.backends import slurm_script
from pandawms.factory.backends.base import BatchStatus, SubmitError, WorkerSpec, WorkerState
from pandawms.factory.backends.slurm_states import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    SlurmJob,
    array_ids,
    classify,
    merge,
    parse_sacct,
    parse_sbatch,
    parse_squeue,
    valid_batch_id,
)

log = logging.getLogger(__name__)

# stderr of a Slurm command that is worth another try (controller down, busy or slow); anything else
# (a bad partition, account or option) is the site's configuration and fails the submission at once
_TRANSIENT = re.compile(
    r"unable to contact|connection refused|socket timed out|timed out|zero bytes|try again|"
    r"temporarily unavailable|communication|slurm_persist_conn|transient|busy",
    re.IGNORECASE,
)
_NO_SUCH_JOB = re.compile(r"invalid job id", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SlurmBackendConfig:
    """``[queue.backend] type = "slurm"``: workers are Slurm jobs submitted with sbatch.

    The time limit comes from the queue's max walltime, cores and memory from its resource type (cores,
    max memory per core); ``sbatch_args`` are added last (they win). Field metadata ``min`` is the
    smallest accepted value (checked by factory/config.py on load). Example::

        [queue.backend]
        type = "slurm"
        partition = "grid"
        account = "atlas"
        sbatch_args = ["--constraint=ssd"]
        signal_lead = 60                # SIGTERM to the pilot 60 s before the time limit (0: at it)
        sacct_args = ["--completion"]   # no slurmdbd: read the job completion file
        whole_node = true               # a node per worker: with [queue.pilot] max_jobs = 0 its pilot
                                        # runs as many jobs at once as the node's cores and memory hold
    """

    type: Literal["slurm"] = "slurm"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    sbatch_args: tuple[str, ...] = ()
    whole_node: bool = False  # one node per worker (--exclusive --mem=0) instead of the queue's cores
    script_template: Path | None = None  # string.Template file with $directives and $pilot
    job_name: str = "pandawms"  # + "-<first worker id>" per submission
    signal_lead: int = field(default=60, metadata={"min": 0})  # s: SIGTERM this long before the limit
    array_max: int = field(default=1000, metadata={"min": 1})  # tasks per array job
    slurm_conf: Path | None = None  # SLURM_CONF for the commands; None = the system's
    sacct: bool = True  # ask sacct for ended jobs (exit codes); False where it is unusable
    sacct_args: tuple[str, ...] = ()  # e.g. ["--completion"] where there is no slurmdbd
    command_timeout: float = field(default=30.0, metadata={"min": 0.1})  # s per Slurm command
    retry_base: float = field(default=1.0, metadata={"min": 0.0})
    retry_cap: float = field(default=10.0, metadata={"min": 0.0})
    retry_budget: float = field(default=30.0, metadata={"min": 0.0})  # s one command may spend retrying
    missed_after: int = field(default=3, metadata={"min": 1})  # polls unknown to squeue and sacct
    cancel_grace: float = field(default=60.0, metadata={"min": 0.0})  # Slurm's KillWait does the rest

    def build(self) -> SlurmBackend:
        return SlurmBackend(self)


@dataclass(frozen=True, slots=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str], Mapping[str, str], float], Completed]  # argv, env, timeout


def run_command(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Completed:
    """Run one Slurm command; subprocess.TimeoutExpired when it hangs, OSError when it cannot start."""
    done = subprocess.run(
        list(argv), env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    return Completed(done.returncode, done.stdout, done.stderr)


class SlurmCommandError(Exception):
    """A Slurm command failed for good (after its retries, or at once when the error is not transient)."""


class SlurmBackend:
    """Submits workers with sbatch and follows them with squeue and sacct; batch ids are Slurm job ids."""

    name = "slurm"

    def __init__(
        self,
        config: SlurmBackendConfig,
        *,
        runner: Runner = run_command,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.cancel_grace = config.cancel_grace
        self._runner = runner
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._env = dict(os.environ)
        if config.slurm_conf is not None:
            self._env["SLURM_CONF"] = str(config.slurm_conf)
        self._template = slurm_script.DEFAULT_TEMPLATE
        if config.script_template is not None:
            try:
                self._template = config.script_template.read_text()
            except OSError as exc:
                raise ValueError(f"slurm backend: script_template: cannot read it: {exc}") from exc
        self._raw: dict[str, str] = {}  # array task id (123_4) -> its own job id, once it started
        self._absent: dict[str, int] = {}  # batch id -> polls in a row neither squeue nor sacct knew it
        self._to_cancel: set[str] = set()  # scancel failed: tried again at every poll
        self.last_errors: list[str] = []  # the latest command failures, newest last (operator view)
        self.errors_noted = 0  # command failures since start (the factory sends the new ones)
        self.states: dict[str, str] = {}  # batch id -> its latest native Slurm state

    # -- commands --------------------------------------------------------------------------------------

    def _run(self, argv: Sequence[str], *, recover: Callable[[], str | None] | None = None) -> Completed:
        """Run a command, retrying transient failures and timeouts with backoff inside the budget.

        After a timeout, ``recover`` (if given) says whether the command took effect anyway: its answer
        then stands for the command's output (sbatch may accept a job and time out before it says so).
        """
        started, attempt = self._clock(), 0
        while True:
            try:
                done = self._runner(argv, self._env, self.config.command_timeout)
                if done.returncode == 0 or _NO_SUCH_JOB.search(done.stderr):
                    return done
                problem, transient = done.stderr.strip()[:500], bool(_TRANSIENT.search(done.stderr))
            except subprocess.TimeoutExpired:
                problem, transient = f"no answer within {self.config.command_timeout:g} s", True
                recovered = recover() if recover is not None else None
                if recovered is not None:
                    log.warning("%s timed out but took effect: %s", argv[0], recovered)
                    return Completed(0, recovered, "")
            except OSError as exc:
                problem, transient = str(exc), False
            delay = None
            if transient:
                delay = next_delay(
                    attempt,
                    self._clock() - started,
                    self.config.retry_budget,
                    self.config.retry_base,
                    self.config.retry_cap,
                    self._rng,
                )
            if delay is None:
                self._note(f"{argv[0]}: {problem}")
                raise SlurmCommandError(f"{' '.join(argv[:1])} failed: {problem}")
            log.warning("%s failed (%s): retry %d in %.1f s", argv[0], problem, attempt + 1, delay)
            self._sleep(delay)
            attempt += 1

    def _note(self, error: str) -> None:
        self.last_errors = [*self.last_errors[-9:], error]
        self.errors_noted += 1

    # -- submit ----------------------------------------------------------------------------------------

    def pilot_lifetime(self, walltime: float) -> float | None:
        """Until the SIGTERM before the time limit: the pilot then takes no job that cannot end in time."""
        if walltime <= 0:
            return None
        return max(1.0, slurm_script.time_limit_minutes(walltime) * 60.0 - self.config.signal_lead)

    def submit(self, spec: WorkerSpec) -> str:
        result = self.submit_many([spec])[0]
        if isinstance(result, SubmitError):
            raise result
        return result

    def submit_many(self, specs: Sequence[WorkerSpec]) -> list[str | SubmitError]:
        results: list[str | SubmitError] = []
        step = self.config.array_max
        for start in range(0, len(specs), step):
            chunk = specs[start : start + step]
            try:
                results.extend(array_ids(self._submit_array(chunk), len(chunk)))
            except SubmitError as exc:
                results.extend([exc] * len(chunk))
        return results

    def sbatch_args(self, specs: Sequence[WorkerSpec], job_name: str) -> list[str]:
        """The sbatch options of one submission (all specs of an array share the first one's resources)."""
        first, c = specs[0], self.config
        args = [f"--job-name={job_name}", "--output=/dev/null", "--no-requeue", f"--chdir={first.workdir}"]
        if c.whole_node:  # every core and all memory of one node; the pilot reads them from its env
            args += ["--nodes=1", "--ntasks=1", "--exclusive", "--mem=0"]
        else:
            args += ["--ntasks=1", f"--cpus-per-task={first.cores}"]
            if first.memory_mb > 0:
                args.append(f"--mem={first.memory_mb}M")
        if first.walltime > 0:
            args.append(f"--time={slurm_script.time_limit_minutes(first.walltime)}")
        if c.signal_lead > 0:
            args.append(f"--signal=B:TERM@{c.signal_lead}")  # B: the batch shell, i.e. the exec'ed pilot
        args += [f"--{key}={value}" for key, value in _named(c) if value]
        if len(specs) > 1:
            args.append(f"--array=0-{len(specs) - 1}")
        return [*args, *c.sbatch_args]

    def _submit_array(self, specs: Sequence[WorkerSpec]) -> str:
        job_name = f"{self.config.job_name}-{specs[0].worker_id}"
        try:
            for spec in specs:
                spec.workdir.mkdir(parents=True, exist_ok=True)
            script = specs[0].workdir / "slurm-job.sh"
            script.write_text(slurm_script.render(self._template, (), specs))
        except (OSError, ValueError) as exc:
            raise SubmitError(f"cannot write the Slurm job script: {exc}") from exc
        argv = ["sbatch", "--parsable", *self.sbatch_args(specs, job_name), str(script)]
        try:  # a blind retry after a timeout could submit twice: look the job up by its name first
            done = self._run(argv, recover=lambda: self._find_by_name(job_name))
            return parse_sbatch(done.stdout)
        except (SlurmCommandError, ValueError) as exc:
            raise SubmitError(str(exc)) from exc

    def _find_by_name(self, job_name: str) -> str | None:
        argv = ["squeue", "--noheader", f"--name={job_name}", "--format=%F"]
        try:
            done = self._runner(argv, self._env, self.config.command_timeout)
        except (subprocess.TimeoutExpired, OSError):
            return None
        ids = {line.strip() for line in done.stdout.splitlines() if line.strip().isdigit()}
        return ids.pop() if len(ids) == 1 else None

    # -- status ----------------------------------------------------------------------------------------

    def status(self, batch_ids: Sequence[str]) -> dict[str, BatchStatus]:
        self._retry_cancels()
        result: dict[str, BatchStatus] = {}
        ids = []
        for batch_id in batch_ids:
            if valid_batch_id(batch_id):
                ids.append(batch_id)
            else:
                result[batch_id] = BatchStatus(WorkerState.MISSED, None, f"{batch_id!r} is no Slurm job id")
        if not ids:
            return result
        live = self._squeue(ids)
        if live is None:
            return result  # controller unreachable: no news, every worker stays as it was
        self._raw.update({j.job_id: j.raw_id for j in live.values() if j.raw_id and j.raw_id != j.job_id})
        need = [i for i in ids if i not in live or live[i].final]
        history = self._sacct(need) if need and self.config.sacct else {}
        for batch_id in ids:
            seen = merge(live.get(batch_id), self._history_of(batch_id, history or {}))
            status = self._judge(batch_id, seen, history_answered=history is not None)
            if status is not None:
                result[batch_id] = status
        return result

    def _history_of(self, batch_id: str, history: Mapping[str, SlurmJob]) -> SlurmJob | None:
        """sacct's line of a job: by its id, or (job completion data) by an array task's own job id."""
        found = history.get(batch_id)
        raw = self._raw.get(batch_id)
        if found is None and raw is not None and raw in history:
            found = replace(history[raw], job_id=batch_id)
        return found

    def _judge(self, batch_id: str, job: SlurmJob | None, *, history_answered: bool) -> BatchStatus | None:
        if job is not None:
            self._absent.pop(batch_id, None)
            self.states[batch_id] = job.state
            if not job.known:
                log.warning(
                    "Slurm job %s is in state %r, not in the table: still running", batch_id, job.state
                )
            return classify(job)
        if not history_answered:
            return None  # squeue lost it and sacct did not answer: ask again next poll
        polls = self._absent[batch_id] = self._absent.get(batch_id, 0) + 1
        if polls < self.config.missed_after:
            return None
        self.states[batch_id] = "UNKNOWN"
        return BatchStatus(WorkerState.MISSED, None, f"Slurm no longer knows job {batch_id} ({polls} polls)")

    def _squeue(self, ids: Sequence[str]) -> dict[str, SlurmJob] | None:
        argv = ["squeue", "--noheader", "--array", "--states=all", f"--format={SQUEUE_FORMAT}"]
        try:
            done = self._run([*argv, f"--jobs={','.join(ids)}"])
        except SlurmCommandError as exc:
            log.warning("squeue failed, worker states unchanged this poll: %s", exc)
            return None
        return parse_squeue(done.stdout)

    def _sacct(self, ids: Sequence[str]) -> dict[str, SlurmJob] | None:
        argv = ["sacct", "--noheader", "--parsable2", "--allocations", f"--format={SACCT_FIELDS}"]
        wanted = [*ids, *(self._raw[i] for i in ids if i in self._raw)]
        try:
            done = self._run([*argv, *self.config.sacct_args, f"--jobs={','.join(wanted)}"])
        except SlurmCommandError as exc:
            log.warning("sacct failed, ended workers are read from squeue alone: %s", exc)
            return None
        return parse_sacct(done.stdout)

    # -- cancel and sweep ------------------------------------------------------------------------------

    def cancel(self, batch_id: str) -> None:
        if valid_batch_id(batch_id):
            self._to_cancel.add(batch_id)
            self._retry_cancels()

    def _retry_cancels(self) -> None:
        if not self._to_cancel:
            return
        ids = sorted(self._to_cancel)
        try:
            self._run(["scancel", *ids])  # SIGTERM to every step, SIGKILL after Slurm's KillWait
        except SlurmCommandError as exc:
            log.warning("scancel of %d job(s) failed, tried again next poll: %s", len(ids), exc)
            return
        self._to_cancel.difference_update(ids)

    def sweep(self, batch_id: str) -> None:
        self._absent.pop(batch_id, None)
        self._raw.pop(batch_id, None)
        self._to_cancel.discard(batch_id)
        self.states.pop(batch_id, None)


def _named(config: SlurmBackendConfig) -> list[tuple[str, str | None]]:
    return [("partition", config.partition), ("account", config.account), ("qos", config.qos)]

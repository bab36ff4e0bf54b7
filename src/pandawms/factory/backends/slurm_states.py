"""Pure Slurm translation: native job states to WorkerState, and parsing of sbatch, squeue, sacct output.

No processes and no clock here (the backend in slurm.py runs the commands); everything is table-tested.
Slurm's ExitCode is ``code:signal``; it is kept in the shell convention (128+N for a signal N).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pandawms.factory.backends.base import BatchStatus, WorkerState
from pandawms.factory.backends.local import EXIT_STATES
from pandawms.protocol import errorcodes as ec

# Slurm job state (squeue %T, sacct State; man squeue "JOB STATE CODES") -> WorkerState.
# Waiting for an allocation is submitted; holding one (even suspended or completing) is running; an
# ended job is finished or failed by its exit code (FAILED with 82 is an empty pilot, not a failure);
# CANCELLED is cancelled whoever ran scancel; a state this table lacks is read as still running, so a
# new Slurm state never ends a worker by mistake (it is logged, and the worker ends when Slurm says so).
SLURM_STATES: Mapping[str, WorkerState] = MappingProxyType(
    {
        "PENDING": WorkerState.SUBMITTED,  # waiting for resources or priority
        "CONFIGURING": WorkerState.SUBMITTED,  # allocated, nodes booting: nothing runs yet
        "REQUEUED": WorkerState.SUBMITTED,  # completing, then back to pending (we submit --no-requeue)
        "REQUEUE_HOLD": WorkerState.SUBMITTED,
        "REQUEUE_FED": WorkerState.SUBMITTED,
        "RESV_DEL_HOLD": WorkerState.SUBMITTED,
        "SPECIAL_EXIT": WorkerState.SUBMITTED,  # requeued in a held special state
        "RUNNING": WorkerState.RUNNING,
        "COMPLETING": WorkerState.RUNNING,  # processes still ending on some node
        "SUSPENDED": WorkerState.RUNNING,  # holds its allocation; resumes later
        "STOPPED": WorkerState.RUNNING,  # SIGSTOPped, keeps its allocation
        "SIGNALING": WorkerState.RUNNING,
        "STAGE_OUT": WorkerState.RUNNING,
        "RESIZING": WorkerState.RUNNING,
        "COMPLETED": WorkerState.FINISHED,  # every process exited 0
        "FAILED": WorkerState.FAILED,  # non-zero exit (82 "no jobs" -> finished, see classify)
        "TIMEOUT": WorkerState.FAILED,  # killed at the time limit (the pilot had SIGTERM before)
        "PREEMPTED": WorkerState.FAILED,
        "NODE_FAIL": WorkerState.FAILED,
        "OUT_OF_MEMORY": WorkerState.FAILED,
        "BOOT_FAIL": WorkerState.FAILED,
        "DEADLINE": WorkerState.FAILED,
        "REVOKED": WorkerState.FAILED,  # federation sibling removed
        "CANCELLED": WorkerState.CANCELLED,  # scancel, by the factory or an operator
    }
)

_FINAL = frozenset({WorkerState.FINISHED, WorkerState.FAILED, WorkerState.CANCELLED})
_BATCH_ID = re.compile(r"^\d+(_\d+)?$")


@dataclass(frozen=True, slots=True)
class SlurmJob:
    """One line of squeue or sacct: the job (``123`` or array task ``123_4``), its state and details."""

    job_id: str
    state: str  # normalized: "CANCELLED by 0" -> "CANCELLED"
    reason: str = ""
    exit_code: int | None = None
    raw_id: str = ""  # squeue %A: an array task's own job id once it started (sacct --completion uses it)

    @property
    def worker_state(self) -> WorkerState:
        return SLURM_STATES.get(self.state, WorkerState.RUNNING)

    @property
    def known(self) -> bool:
        return self.state in SLURM_STATES

    @property
    def final(self) -> bool:
        return self.worker_state in _FINAL


def normalize_state(raw: str) -> str:
    """``CANCELLED by 0`` / ``CANCELLED+`` / ``cancelled`` -> ``CANCELLED``."""
    words = raw.strip().split()
    return words[0].rstrip("+").upper() if words else ""


def parse_exit_code(raw: str) -> int | None:
    """Slurm's ``code:signal`` (or a bare code) in the shell convention; None when empty or unreadable."""
    text = raw.strip()
    if not text:
        return None
    code, _, sig = text.partition(":")
    if not code.isdigit() or (sig and not sig.isdigit()):
        return None
    return 128 + int(sig) if sig and int(sig) > 0 else int(code)


def classify(job: SlurmJob) -> BatchStatus:
    """The BatchStatus of one Slurm job: the table above, refined by the exit code for ended jobs."""
    state = job.worker_state
    code = job.exit_code
    if state is WorkerState.FAILED and job.state == "FAILED" and code is not None:
        state = EXIT_STATES.get(code, WorkerState.FAILED)  # exit 82: an empty pilot ended normally
    parts = [f"slurm {job.state or 'UNKNOWN'}"]
    if job.reason and job.reason not in ("None", "(null)"):
        parts.append(f"({job.reason})")
    if code is not None:
        parts.append(f"exit {code}: {ec.exit_meaning(code)}")
    if not job.known:
        parts.append("unknown Slurm state: still counted as running")
    return BatchStatus(state, code, " ".join(parts))


def parse_sbatch(stdout: str) -> str:
    """``sbatch --parsable`` prints ``jobid`` or ``jobid;cluster``; ValueError on anything else."""
    line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    job_id = line.split(";", 1)[0].strip()
    if not job_id.isdigit():
        raise ValueError(f"sbatch printed no job id: {stdout.strip()[:200]!r}")
    return job_id


def array_ids(job_id: str, n: int) -> list[str]:
    """The batch ids of an array job's tasks 0..n-1 (``123_0`` ...); a single job keeps its own id."""
    return [job_id] if n == 1 else [f"{job_id}_{i}" for i in range(n)]


def valid_batch_id(batch_id: str) -> bool:
    return bool(_BATCH_ID.match(batch_id))


SQUEUE_FORMAT = "%i|%A|%T|%r"  # job id (array tasks as 123_4 with --array), raw id, state, reason


def parse_squeue(stdout: str) -> dict[str, SlurmJob]:
    """Lines of ``squeue --noheader --array --format=%i|%A|%T|%r`` by job id; other lines are ignored.

    A pending array task still shares the array's raw id, so its raw id is only kept once it left PENDING.
    """
    jobs: dict[str, SlurmJob] = {}
    for line in stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 4 or not valid_batch_id(fields[0].strip()):
            continue
        job_id, raw_id, raw_state, reason = (f.strip() for f in fields)
        state = normalize_state(raw_state)
        raw = raw_id if raw_id.isdigit() and state != "PENDING" else ""
        jobs[job_id] = SlurmJob(job_id, state, reason, None, raw)
    return jobs


SACCT_FIELDS = "JobID,State,ExitCode"


def parse_sacct(stdout: str) -> dict[str, SlurmJob]:
    """Lines of ``sacct --noheader --parsable2 --format=JobID,State,ExitCode`` by job id.

    Steps (``123.batch``) are skipped; a job listed twice (requeued) keeps its last line.
    """
    jobs: dict[str, SlurmJob] = {}
    for line in stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 3 or not valid_batch_id(fields[0].strip()):
            continue
        job_id = fields[0].strip()
        jobs[job_id] = SlurmJob(job_id, normalize_state(fields[1]), "", parse_exit_code(fields[2]))
    return jobs


def merge(live: SlurmJob | None, history: SlurmJob | None) -> SlurmJob | None:
    """One view of a job from squeue (live, has the reason) and sacct (history, has the exit code)."""
    if live is None or history is None:
        return live or history
    if live.final and history.final:
        return SlurmJob(live.job_id, history.state, live.reason, history.exit_code, live.raw_id)
    return live  # still alive per the controller: sacct may lag behind

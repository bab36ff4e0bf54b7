"""The batch-system interface every factory backend implements: submit / status / cancel / sweep.

Each backend translates its native states (exit statuses, squeue/sacct, condor JobStatus, pod phases) into
the one WorkerState enum through a plain table in its own module; the factory sees nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from pandawms.core.states import WorkerStatus

WorkerState = WorkerStatus
"""A worker as its batch system sees it; the strings are the server's worker statuses (states.md §7).

submitted  accepted by the batch system, not started yet
running    executing (the server calls it running only once its pilot holds a job)
finished   ended with a success exit: 0, or 82 "no jobs" (an empty pilot is not a failure)
failed     ended with any other exit status (128+N when killed by signal N)
cancelled  removed or killed on the factory's request
missed     never ran or lost: submission failed, or the batch system no longer knows the id
"""

FINAL_STATES: frozenset[WorkerState] = frozenset(
    {WorkerState.FINISHED, WorkerState.FAILED, WorkerState.CANCELLED, WorkerState.MISSED}
)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What to run for one granted worker: the pilot command line, its directory and log file."""

    worker_id: int
    queue: str
    argv: tuple[str, ...]
    workdir: Path
    log_path: Path  # stdout and stderr of the pilot
    env: Mapping[str, str] | None = None  # None = inherit the factory's environment
    cores: int = 1  # the queue's resource type: cores per worker
    memory_mb: int = 0  # MB per worker (cores x max memory per core); 0 = the batch system's default
    walltime: float = 0.0  # s, the queue's max walltime (a batch time limit); 0 = none


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """One worker's state with its exit status (shell convention) and a short diagnosis."""

    state: WorkerState
    exit_code: int | None = None
    diag: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


class SubmitError(Exception):
    """The batch system refused or could not run the worker (it becomes ``missed``)."""


class BatchBackend(Protocol):
    """One batch system. Calls never block for long: escalation and waiting happen across status polls."""

    name: str
    cancel_grace: float  # s a cancelled worker gets before it is forced (the factory's stop waits for it)

    def submit(self, spec: WorkerSpec) -> str:
        """Start the worker and return its batch id; SubmitError if it cannot be started."""
        ...

    def status(self, batch_ids: Sequence[str]) -> dict[str, BatchStatus]:
        """The current state of each id (``missed`` for ids the batch system does not know)."""
        ...

    def cancel(self, batch_id: str) -> None:
        """Ask the worker to stop (graceful first, forced after the backend's grace); idempotent."""
        ...

    def sweep(self, batch_id: str) -> None:
        """Forget a worker whose final state was reported (Harvester's sweeper)."""
        ...


class SubmitsMany(Protocol):
    """Optional: a backend that starts several workers in one submission (Slurm array jobs)."""

    def submit_many(self, specs: Sequence[WorkerSpec]) -> list[str | SubmitError]:
        """Per spec, in order, its batch id or the SubmitError that kept it from starting."""
        ...


@runtime_checkable
class LimitsLifetime(Protocol):
    """Optional: a backend whose batch system ends a worker at a time limit derived from the walltime."""

    def pilot_lifetime(self, walltime: float) -> float | None:
        """Seconds the pilot may live (so it only takes jobs that end before the batch system stops it);
        None = no limit of the backend's own."""
        ...


def submit_all(backend: BatchBackend, specs: Sequence[WorkerSpec]) -> list[str | SubmitError]:
    """Start the workers with the backend's ``submit_many`` if it has one, else one ``submit`` each."""
    if isinstance(backend, SubmitsManyBackend):
        return backend.submit_many(specs)
    results: list[str | SubmitError] = []
    for spec in specs:
        try:
            results.append(backend.submit(spec))
        except SubmitError as exc:
            results.append(exc)
    return results


@runtime_checkable
class SubmitsManyBackend(BatchBackend, SubmitsMany, Protocol):
    """A BatchBackend with submit_many (checked at run time by submit_all)."""

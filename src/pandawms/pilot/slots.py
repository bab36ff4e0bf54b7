"""Slots of a multi-core or whole-node worker (pure): what the worker holds, what its running jobs take,
and what the next acquire may ask for.

A pilot with ``max_jobs`` 1 (the default) runs one job at a time and asks for everything it has, so one
MCORE job can take all of the worker's cores. With ``max_jobs`` N > 1 (0 = as many as cores and memory
allow) it keeps asking while jobs run, each time for the cores and memory still free, capped so that a job
without a minRamCount (which holds the queue's memory per core times its cores) still fits. This is
Harvester's multi-job worker (factory.md §2.2, ``ManyToOne``: a worker's cores and memory are the sums of
its jobs') done by the pilot itself in pull mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capacity:
    """What one worker holds."""

    cores: int  # >= 1
    memory_mb: int  # 0 = not limited
    mb_per_core: int  # the queue's memory per core: what a job without minRamCount holds per core
    max_jobs: int = 1  # jobs at once: 1 = one at a time, 0 = as many as cores and memory allow

    @property
    def multi_job(self) -> bool:
        return self.max_jobs != 1


@dataclass(frozen=True, slots=True)
class Footprint:
    """What one running job holds of its worker."""

    cores: int
    memory_mb: int


@dataclass(frozen=True, slots=True)
class Ask:
    """The resources of the next acquire_jobs call (one job)."""

    cores: int
    memory_mb: int  # 0 = not limited


def footprint(job_cores: int, job_min_ram_mb: int, mb_per_core: int) -> Footprint:
    """A job holds its coreCount (at least 1) and its minRamCount, else the queue's memory per core."""
    cores = max(1, job_cores)
    return Footprint(cores, job_min_ram_mb if job_min_ram_mb > 0 else cores * mb_per_core)


def free(capacity: Capacity, running: Sequence[Footprint]) -> Footprint:
    """Cores and memory no running job holds (negative when a job took more than it was offered)."""
    return Footprint(
        capacity.cores - sum(f.cores for f in running),
        capacity.memory_mb - sum(f.memory_mb for f in running),
    )


def next_ask(capacity: Capacity, running: Sequence[Footprint]) -> Ask | None:
    """What to ask for now, or None when no further job fits until a running one ends.

    Single-job mode asks, when idle, for all the worker has (the request is unchanged). Multi-job mode
    asks below its job cap for the cores and memory still free, with at most as many cores as the free
    memory covers at the queue's memory per core, so any job the server may match (coreCount <= cores,
    minRamCount <= memory) fits in what is left; an idle worker always asks for at least one core.
    """
    if not capacity.multi_job:
        return None if running else Ask(capacity.cores, capacity.memory_mb)
    if capacity.max_jobs and len(running) >= capacity.max_jobs:
        return None
    left = free(capacity, running)
    cores = left.cores
    if capacity.memory_mb > 0:
        if running and left.memory_mb <= 0:
            return None
        if capacity.mb_per_core > 0:
            cores = min(cores, left.memory_mb // capacity.mb_per_core)
    if not running:
        cores = max(cores, 1)
    if cores < 1:
        return None
    return Ask(cores, max(left.memory_mb, 0) if capacity.memory_mb > 0 else 0)


def worker_capacity(
    *,
    cores: int,
    memory_mb: int,
    batch_cores: int | None,
    batch_memory_mb: int | None,
    queue_cores: int,
    queue_mb_per_core: int,
    max_jobs: int,
) -> Capacity:
    """The worker's capacity: the pilot's options first, then its batch allocation, then the queue's."""
    n = cores or batch_cores or queue_cores or 1
    memory = memory_mb or batch_memory_mb or queue_mb_per_core * n
    return Capacity(n, memory, queue_mb_per_core, max_jobs)


def batch_resources_from_env(env: Mapping[str, str]) -> tuple[int | None, int | None]:
    """(cores, MB) the batch system gave this worker, or None each when it says nothing.

    Slurm: ``SLURM_CPUS_PER_TASK`` (set with --cpus-per-task), else ``SLURM_CPUS_ON_NODE`` (a whole node
    with --exclusive); memory ``SLURM_MEM_PER_NODE`` (MB; 0 with --mem=0 means the whole node, unknown).
    """
    cores = _positive(env.get("SLURM_CPUS_PER_TASK")) or _positive(env.get("SLURM_CPUS_ON_NODE"))
    return cores, _positive(env.get("SLURM_MEM_PER_NODE"))


def _positive(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    value = int(text.strip())
    return value if value > 0 else None

"""The slot decisions of multi-core and whole-node workers (pilot/slots.py, pure): what the next acquire asks
for given the worker's cores and memory and the jobs it runs, and where a worker's capacity comes from."""

from __future__ import annotations

import pytest

from pandawms.pilot.slots import (
    Ask,
    Capacity,
    Footprint,
    batch_resources_from_env,
    footprint,
    free,
    next_ask,
    worker_capacity,
)

SCORE = Footprint(1, 2000)  # a single-core job without minRamCount on a 2000 MB/core queue


@pytest.mark.parametrize(
    ("capacity", "running", "expected"),
    [
        # an idle worker asks for everything it has: one MCORE job may take all of it
        (Capacity(8, 16000, 2000, max_jobs=1), [], Ask(8, 16000)),
        (Capacity(8, 16000, 2000, max_jobs=0), [], Ask(8, 16000)),
        # ... in multi-job mode capped by what its memory covers at the queue's memory per core
        (Capacity(8, 13000, 2000, max_jobs=0), [], Ask(6, 13000)),
        (Capacity(8, 1000, 2000, max_jobs=0), [], Ask(1, 1000)),  # but at least one core
        # single-job mode (the default) never asks while a job runs
        (Capacity(8, 16000, 2000, max_jobs=1), [SCORE], None),
        # multi-job mode asks for the cores still free ...
        (Capacity(8, 16000, 2000, max_jobs=0), [SCORE], Ask(7, 14000)),
        (Capacity(8, 16000, 2000, max_jobs=0), [SCORE] * 7, Ask(1, 2000)),
        # ... until every core is taken
        (Capacity(8, 16000, 2000, max_jobs=0), [SCORE] * 8, None),
        # an MCORE job holding all cores leaves nothing to ask for
        (Capacity(8, 16000, 2000, max_jobs=0), [Footprint(8, 16000)], None),
        # the job cap counts jobs, not cores
        (Capacity(8, 16000, 2000, max_jobs=2), [SCORE], Ask(7, 14000)),
        (Capacity(8, 16000, 2000, max_jobs=2), [SCORE, SCORE], None),
        # memory per slot: free memory covers fewer cores than are free
        (Capacity(8, 6000, 2000, max_jobs=0), [SCORE], Ask(2, 4000)),
        (Capacity(8, 16000, 2000, max_jobs=0), [Footprint(1, 15000)], None),  # a high-memory job
        (Capacity(8, 16000, 2000, max_jobs=0), [Footprint(1, 13000)], Ask(1, 3000)),
        # memory not limited: only cores count
        (Capacity(4, 0, 2000, max_jobs=0), [SCORE], Ask(3, 0)),
        # no memory per core known: the free memory is asked for as it is
        (Capacity(4, 8000, 0, max_jobs=0), [Footprint(1, 7000)], Ask(3, 1000)),
        (Capacity(4, 8000, 0, max_jobs=0), [Footprint(1, 8000)], None),
        # a job that took more than it was offered never makes the ask negative
        (Capacity(2, 4000, 2000, max_jobs=0), [Footprint(3, 2000)], None),
    ],
)
def test_next_ask(capacity: Capacity, running: list[Footprint], expected: Ask | None) -> None:
    assert next_ask(capacity, running) == expected


def test_whatever_the_server_matches_an_ask_with_fits_in_what_is_free() -> None:
    # given any mix of running jobs on an 8-core worker with 1.5 slots' memory short
    capacity = Capacity(8, 13000, 2000, max_jobs=0)
    for n_running in range(9):
        running = [SCORE] * n_running
        ask = next_ask(capacity, running)
        if ask is None:
            continue
        # when the server hands out the biggest job the ask allows (coreCount = cores, no minRamCount,
        # or minRamCount = memory)
        for job in (footprint(ask.cores, 0, 2000), footprint(1, ask.memory_mb, 2000)):
            left = free(capacity, [*running, job])
            # then the worker is never over-committed, in cores or in memory
            assert left.cores >= 0 and left.memory_mb >= 0, (n_running, ask, job)


@pytest.mark.parametrize(
    ("cores", "min_ram", "expected"),
    [
        (1, 0, Footprint(1, 2000)),
        (4, 0, Footprint(4, 8000)),
        (0, 0, Footprint(1, 2000)),
        (2, 6000, Footprint(2, 6000)),
    ],
)
def test_a_job_holds_its_cores_and_its_memory_request(cores: int, min_ram: int, expected: Footprint) -> None:
    assert footprint(cores, min_ram, 2000) == expected


def test_capacity_comes_from_the_options_then_the_batch_allocation_then_the_queue() -> None:
    kw = {"queue_cores": 1, "queue_mb_per_core": 2000, "max_jobs": 0}
    # the pilot's own options win
    assert worker_capacity(cores=4, memory_mb=5000, batch_cores=64, batch_memory_mb=256000, **kw) == Capacity(
        4, 5000, 2000, 0
    )
    # a whole node: what Slurm gave the job
    assert worker_capacity(cores=0, memory_mb=0, batch_cores=64, batch_memory_mb=256000, **kw) == Capacity(
        64, 256000, 2000, 0
    )
    # Slurm said nothing about memory: the queue's memory per core for each core
    assert worker_capacity(cores=0, memory_mb=0, batch_cores=64, batch_memory_mb=None, **kw) == Capacity(
        64, 128000, 2000, 0
    )
    # no batch system: the queue's resource type
    assert worker_capacity(cores=0, memory_mb=0, batch_cores=None, batch_memory_mb=None, **kw) == Capacity(
        1, 2000, 2000, 0
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (None, None)),
        ({"SLURM_CPUS_ON_NODE": "64", "SLURM_MEM_PER_NODE": "256000"}, (64, 256000)),
        ({"SLURM_CPUS_PER_TASK": "4", "SLURM_CPUS_ON_NODE": "8", "SLURM_MEM_PER_NODE": "8000"}, (4, 8000)),
        ({"SLURM_CPUS_ON_NODE": "x", "SLURM_MEM_PER_NODE": "0"}, (None, None)),
    ],
)
def test_batch_resources_from_slurms_environment(
    env: dict[str, str], expected: tuple[int | None, int | None]
) -> None:
    assert batch_resources_from_env(env) == expected

"""Worker sizing (pure pull) and the worker state table."""

from __future__ import annotations

import pytest

from pandawms.core.factory import WorkerLimits, size_workers
from pandawms.core.states import WORKER_FINAL_STATES, WORKER_TRANSITIONS, WorkerStatus, worker_allowed

L = WorkerLimits


@pytest.mark.parametrize(
    ("activated", "queued", "running", "limits", "expected"),
    [
        (10, 0, 0, L(5, 5, 0), 5),  # queued cap
        (10, 0, 0, L(20, 20, 0), 10),  # one pilot per activated job
        (10, 4, 0, L(20, 20, 0), 6),  # queued workers already cover some
        (10, 0, 18, L(20, 20, 0), 2),  # max_workers counts running ones
        (10, 0, 0, L(20, 20, 3), 3),  # per-cycle cap
        (0, 0, 0, L(20, 20, 0), 0),  # no work, no pilots
        (10, 12, 0, L(20, 20, 0), 0),  # more queued than jobs
        (10, 0, 25, L(20, 20, 0), 0),  # over the cap already: never negative
        (10, 0, 0, L(0, 20, 0), 0),  # max_workers 0 = submit nothing
    ],
)
def test_size_workers(activated: int, queued: int, running: int, limits: WorkerLimits, expected: int) -> None:
    decision = size_workers(activated, queued, running, limits)
    assert decision.n_new == expected and decision.reason


@pytest.mark.parametrize(
    ("activated", "queued", "per_worker", "expected"),
    [
        (10, 0, 1, 10),  # one pilot per activated job
        (10, 0, 4, 3),  # 4-slot workers: 10 jobs need 3 (the last one part-full)
        (8, 0, 4, 2),
        (8, 2, 4, 0),  # two queued 4-slot workers cover 8 jobs
        (1, 0, 64, 1),  # a whole node for one job still starts one worker
        (0, 0, 64, 0),
        (100, 0, 4, 20),  # still capped by max_queued
    ],
)
def test_multi_job_workers_each_cover_their_slots(
    activated: int, queued: int, per_worker: int, expected: int
) -> None:
    decision = size_workers(activated, queued, 0, L(20, 20, 0), jobs_per_worker=per_worker)
    assert decision.n_new == expected
    assert (f"{per_worker} job(s) per worker" in decision.reason) == (per_worker > 1)


def test_worker_table() -> None:
    assert set(WORKER_TRANSITIONS) == set(WorkerStatus)
    for final in WORKER_FINAL_STATES:
        assert WORKER_TRANSITIONS[final] == frozenset()
    assert worker_allowed(WorkerStatus.SUBMITTED, WorkerStatus.RUNNING)
    assert not worker_allowed(WorkerStatus.RUNNING, WorkerStatus.SUBMITTED)
    assert not worker_allowed(WorkerStatus.FINISHED, WorkerStatus.RUNNING)

"""Table tests of the factory-side sizing: what to ask the server for, under per-queue and global caps."""

from __future__ import annotations

import pytest

from pandawms.core.factory import WorkerLimits
from pandawms.factory.sizing import WorkerLoad, plan_ask, rotate

L = WorkerLimits

CASES = [
    # (activated, queued, running, limits, budget) -> asked, words in the reason
    ((0, 0, 0, L(5, 5, 0), 100), 0, "cover 0 activated"),
    ((3, 0, 0, L(5, 5, 0), 100), 3, "3 activated"),
    ((10, 0, 0, L(5, 5, 0), 100), 5, "10 activated"),
    ((10, 2, 0, L(5, 5, 0), 100), 3, "2 queued"),
    ((10, 0, 4, L(5, 5, 0), 100), 1, "capped by max_workers 5"),
    ((10, 1, 4, L(5, 5, 0), 100), 0, "capped by max_workers 5"),
    ((10, 0, 9, L(5, 5, 0), 100), 0, "capped by max_workers 5"),
    ((10, 0, 0, L(10, 2, 0), 100), 2, "10 activated"),
    ((10, 0, 0, L(10, 10, 3), 100), 3, "capped by max_new 3"),
    ((10, 0, 0, L(10, 10, 0), 4), 4, "global cap (4 left"),
    ((10, 0, 0, L(10, 10, 0), 0), 0, "global per-cycle cap reached"),
    ((10, 0, 0, L(0, 10, 0), 100), 0, "max_workers is 0"),
    ((None, 0, 0, L(4, 2, 0), 100), 2, "activated unknown, assumed 2"),
    ((None, 2, 0, L(4, 2, 0), 100), 0, "activated unknown"),
    ((None, 0, 3, L(4, 4, 0), 100), 1, "capped by max_workers 4"),
]


@pytest.mark.parametrize(("given", "asked", "why"), CASES)
def test_plan_ask(given: tuple[int | None, int, int, WorkerLimits, int], asked: int, why: str) -> None:
    activated, queued, running, limits, budget = given
    ask = plan_ask(WorkerLoad(activated, queued, running), limits, budget)
    assert (ask.n, why in ask.reason) == (asked, True), ask.reason


def test_unknown_activated_is_an_upper_bound_of_any_known_count() -> None:
    # the factory skips a queue only when no activated count could make the server grant a worker
    limits = L(6, 4, 2)
    for queued in range(7):
        for running in range(7):
            unknown = plan_ask(WorkerLoad(None, queued, running), limits, 100).n
            for activated in range(12):
                assert plan_ask(WorkerLoad(activated, queued, running), limits, 100).n <= unknown


@pytest.mark.parametrize(
    ("cycle", "order"),
    [(0, ["a", "b", "c"]), (1, ["b", "c", "a"]), (2, ["c", "a", "b"]), (3, ["a", "b", "c"])],
)
def test_rotate_gives_each_queue_first_pick_in_turn(cycle: int, order: list[str]) -> None:
    assert rotate(["a", "b", "c"], cycle) == order


def test_rotate_empty() -> None:
    assert rotate([], 5) == []

"""Backoff arithmetic: full jitter under an exponential ceiling, capped, bounded by a time budget."""

from __future__ import annotations

import random

import pytest

from pandawms.core.backoff import compute_backoff, next_delay


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "draw", "expected"),
    [
        (0, 1.0, 60.0, 1.0, 1.0),
        (1, 1.0, 60.0, 1.0, 2.0),
        (3, 1.0, 60.0, 0.5, 4.0),
        (10, 1.0, 60.0, 1.0, 60.0),  # capped
        (1000, 1.0, 60.0, 1.0, 60.0),  # no overflow for huge attempts
        (2, 0.5, 60.0, 0.0, 0.0),  # full jitter may retry at once
    ],
)
def test_compute_backoff_is_jitter_times_capped_exponential(
    attempt: int, base: float, cap: float, draw: float, expected: float
) -> None:
    # given a random source returning `draw`, when computing the delay, then it is draw x min(cap, base*2^n)
    assert compute_backoff(attempt, base, cap, FixedRandom(draw)) == pytest.approx(expected)


def test_compute_backoff_stays_within_bounds_for_real_randomness() -> None:
    rng = random.Random(7)
    delays = [compute_backoff(a, 0.1, 5.0, rng) for a in range(20) for _ in range(50)]
    assert all(0.0 <= d <= 5.0 for d in delays)
    assert len(set(delays)) > 100  # jittered, not a fixed sleep


def test_compute_backoff_rejects_negative_attempt() -> None:
    with pytest.raises(ValueError, match="attempt"):
        compute_backoff(-1, 1.0, 1.0, FixedRandom(0.5))


def test_next_delay_respects_the_budget() -> None:
    rng = FixedRandom(1.0)
    # given budget left, the delay is the backoff
    assert next_delay(2, elapsed=1.0, budget=100.0, base=1.0, cap=60.0, rng=rng) == 4.0
    # given little budget left, the delay is clipped to what remains
    assert next_delay(5, elapsed=99.0, budget=100.0, base=1.0, cap=60.0, rng=rng) == pytest.approx(1.0)
    # given the budget spent, there is no next try
    assert next_delay(0, elapsed=100.0, budget=100.0, base=1.0, cap=60.0, rng=rng) is None
    assert next_delay(0, elapsed=0.0, budget=0.0, base=1.0, cap=60.0, rng=rng) is None

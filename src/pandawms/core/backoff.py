"""Pure retry arithmetic: exponential backoff with full jitter, and whether a time budget allows one more try.

No sleeping and no clock reads here; callers pass the attempt number, elapsed time and a random source.
"""

from __future__ import annotations

from typing import Protocol


class RandomSource(Protocol):
    def random(self) -> float: ...


def compute_backoff(attempt: int, base: float, cap: float, rng: RandomSource) -> float:
    """Delay before retry ``attempt`` (0-based): uniform in [0, min(cap, base * 2**attempt)] (full jitter)."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must be >= 0")
    ceiling = min(cap, base * 2.0 ** min(attempt, 62))
    return ceiling * rng.random()


def next_delay(
    attempt: int, elapsed: float, budget: float, base: float, cap: float, rng: RandomSource
) -> float | None:
    """Delay before the next try, or None when the budget is spent; the delay never overruns the budget."""
    remaining = budget - elapsed
    if remaining <= 0:
        return None
    return min(compute_backoff(attempt, base, cap, rng), remaining)

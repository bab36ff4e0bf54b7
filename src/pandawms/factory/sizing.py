"""Pure factory-side sizing: how many workers to ask the server for, under the per-queue and global caps.

The rules are core.factory.size_workers, the same the server applies atomically over every factory of a
queue; the factory only uses them to skip pointless calls and to bound ``max_new``. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from pandawms.core.factory import WorkerLimits, size_workers

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WorkerLoad:
    """What the factory knows of a queue before asking: its activated jobs (None = unknown) and its queued
    and running workers (Harvester's nQueue and nRunning, factory.md §3). Not core.specs.QueueLoad, which
    counts jobs per status for brokerage."""

    activated: int | None
    queued: int
    running: int


@dataclass(frozen=True, slots=True)
class Ask:
    """How many workers to request (sent as ``max_new``; 0 = do not call the server) and why."""

    n: int
    reason: str


def plan_ask(load: WorkerLoad, limits: WorkerLimits, budget: int) -> Ask:
    """The number of workers to ask for, at most ``budget`` (what is left of the global per-cycle cap).

    An unknown activated count is taken as large enough to fill max_queued: the result is then an upper
    bound of what the server can grant, so the factory never skips a queue the server would feed.
    """
    if budget <= 0:
        return Ask(0, "global per-cycle cap reached")
    activated = limits.max_queued if load.activated is None else load.activated
    decision = size_workers(activated, load.queued, load.running, limits)
    reason = decision.reason
    if load.activated is None:
        reason = f"activated unknown, assumed {activated}: {reason}"
    if decision.n_new > budget:
        return Ask(budget, f"{reason}; capped by the global cap ({budget} left this cycle)")
    return Ask(decision.n_new, reason)


def rotate(items: Sequence[T], cycle: int) -> list[T]:
    """Items starting at ``cycle`` (mod len): each queue gets first pick of the global cap in turn."""
    if not items:
        return []
    k = cycle % len(items)
    return [*items[k:], *items[:k]]

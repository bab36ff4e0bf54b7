"""Pure worker sizing for pilot factories (reference factory.md §3, pure pull).

queued target = min(max_queued, activated jobs); new = target - queued workers, clipped by
max_workers - (queued + running) and by the per-cycle cap. The server applies it atomically over every
factory serving a queue, so several factories never over-submit; factories use it to decide whether to ask.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    max_workers: int  # queued + running workers; 0 = submit nothing
    max_queued: int  # queued (not yet running) workers
    max_new: int  # new workers this cycle; 0 = no per-cycle cap


@dataclass(frozen=True, slots=True)
class SizingDecision:
    n_new: int
    reason: str


def size_workers(activated: int, queued: int, running: int, limits: WorkerLimits) -> SizingDecision:
    """How many new workers to start now, and why that many."""
    if limits.max_workers <= 0:
        return SizingDecision(0, "max_workers is 0")
    target = min(limits.max_queued, activated)
    if target <= queued:
        return SizingDecision(0, f"{queued} queued worker(s) already cover {activated} activated job(s)")
    n_new = target - queued
    reason = f"{activated} activated job(s), {queued} queued worker(s)"
    room = limits.max_workers - (queued + running)
    if room < n_new:
        n_new = max(room, 0)
        reason += f"; capped by max_workers {limits.max_workers} ({queued + running} in use)"
    if limits.max_new and limits.max_new < n_new:
        n_new = limits.max_new
        reason += f"; capped by max_new {limits.max_new} per cycle"
    return SizingDecision(n_new, reason)

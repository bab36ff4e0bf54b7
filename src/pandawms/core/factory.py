"""Pure worker sizing for pilot factories (reference factory.md §3, pure pull).

queued target = min(max_queued, activated jobs / jobs per worker); new = target - queued workers, clipped by
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


def size_workers(
    activated: int, queued: int, running: int, limits: WorkerLimits, jobs_per_worker: int = 1
) -> SizingDecision:
    """How many new workers to start now, and why that many.

    A multi-job worker (``jobs_per_worker`` > 1: its pilot runs that many single-core jobs at once) covers
    that many activated jobs, as Harvester divides by nCoreFactor (factory.md §3 #4).
    """
    if limits.max_workers <= 0:
        return SizingDecision(0, "max_workers is 0")
    per = max(1, jobs_per_worker)
    needed = -(-activated // per)
    target = min(limits.max_queued, needed)
    of = f" at {per} job(s) per worker" if per > 1 else ""
    if target <= queued:
        return SizingDecision(0, f"{queued} queued worker(s) already cover {activated} activated job(s){of}")
    n_new = target - queued
    reason = f"{activated} activated job(s){of}, {queued} queued worker(s)"
    room = limits.max_workers - (queued + running)
    if room < n_new:
        n_new = max(room, 0)
        reason += f"; capped by max_workers {limits.max_workers} ({queued + running} in use)"
    if limits.max_new and limits.max_new < n_new:
        n_new = limits.max_new
        reason += f"; capped by max_new {limits.max_new} per cycle"
    return SizingDecision(n_new, reason)

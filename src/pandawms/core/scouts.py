"""Scouting: derive a task's resource needs from its ended scout jobs and decide what comes next (§6).

Formulas and statistics follow scheduling.md §6; the outcomes map to task states (states.md §2): ``scouted``
(avalanche), ``tobroken`` ("no/not enough scout jobs succeeded") and ``exhausted`` (inefficient or leaking).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pandawms.core.errors import InvalidInput

KB = 1024
CPU_TIME_SAFETY = 1.5  # the §6 cpuTime formula's factor for slower cores and noisy scouts
LONG_SCOUT_S = 6 * 3600  # a scout this long measures cpuTime well even with few events
EVENTS_PER_CORE = 10  # ... as does one with at least 10 events per core
CPU_TIME_PCT = 95.0
RAM_PCT = 75.0  # SCOUT_RAMCOUNT_RANK
OUT_DISK_PCT = 75.0


@dataclass(frozen=True, slots=True)
class ScoutResult:
    """One ended scout job."""

    succeeded: bool
    wall_time: int = 0  # s
    cpu_time: int = 0  # s consumed
    n_events: int = 0
    cores: int = 1
    core_power: float = 10.0
    max_pss_kb: int = 0
    output_bytes: int = 0
    io_bytes: int = 0  # read + written
    error: str = ""  # diag of a failed scout (for the reason)
    mem_leak_kb_per_s: float | None = None  # whole-job PSS slope from the memory monitor; None = not measured


@dataclass(frozen=True, slots=True)
class ScoutSettings:
    base_walltime: int = 600
    cpu_efficiency: float = 0.9
    base_ram_count: int = 0  # MB
    ram_margin: float = 1.1  # SCOUT_RAMCOUNT_MARGIN
    min_ram_count: int = 0  # MB per core floor
    success_rate: float = 0.5  # scoutSuccessRate as a fraction
    min_cpu_efficiency: float = 0.0  # minCpuEfficiency as a fraction; 0 = off
    mem_leak_kb_per_s: float = 0.0  # per core; 0 = off (not measured yet; keep the hook)
    disk_io_cap: int = 0  # kB/s; 0 = no cap on diskIO


@dataclass(frozen=True, slots=True)
class ScoutMetrics:
    cpu_time: float | None  # HS06·s per event (95th percentile)
    ram_count: int | None  # MB per core (75th percentile)
    out_disk_count: int | None  # bytes per event (75th percentile)
    disk_io: int | None  # kB/s (max)
    n_used: int  # successful scouts the metrics come from
    cpu_efficiency: float | None = None  # consumed CPU / (wall x cores) over successful scouts


class ScoutOutcome(StrEnum):
    WAIT = "wait"
    SCOUTED = "scouted"
    BROKEN = "broken"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True, slots=True)
class ScoutVerdict:
    outcome: ScoutOutcome
    reason: str
    metrics: ScoutMetrics | None


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``pct`` % of the values ≤ it.

    ``pct`` in [0, 100]; 0 gives the minimum, 100 the maximum. Never interpolates, so the result is always
    one of the measured values.
    """
    if not values:
        raise InvalidInput("percentile of no values", field="values")
    if not 0 <= pct <= 100:
        raise InvalidInput(f"percentile must be in [0, 100], got {pct}", field="pct")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _cpu_time(r: ScoutResult, s: ScoutSettings) -> float:
    """``max(0, wall - baseTime) * corePower * cores * cpuEff * 1.5 / nEvents`` (§6)."""
    busy = max(0, r.wall_time - s.base_walltime)
    return busy * r.core_power * r.cores * s.cpu_efficiency * CPU_TIME_SAFETY / r.n_events


def _ram_count(r: ScoutResult, s: ScoutSettings) -> float:
    """``max((maxPSS - baseRamCount) / cores * margin, min)`` in MB per core (§6)."""
    return max((r.max_pss_kb / KB - s.base_ram_count) / r.cores * s.ram_margin, s.min_ram_count)


def _cpu_time_metric(ok: Sequence[ScoutResult], s: ScoutSettings) -> float | None:
    counted = [r for r in ok if r.n_events > 0]
    preferred = [r for r in counted if r.n_events >= EVENTS_PER_CORE * r.cores or r.wall_time >= LONG_SCOUT_S]
    used = preferred or counted
    return percentile([_cpu_time(r, s) for r in used], CPU_TIME_PCT) if used else None


def _ceil(value: float) -> int:
    """Round up, ignoring float noise (2000 * 1.1 is 2200.0000000000005, which should stay 2200)."""
    return math.ceil(round(value, 6))


def _ram_metric(ok: Sequence[ScoutResult], s: ScoutSettings) -> int | None:
    values = [_ram_count(r, s) for r in ok if r.max_pss_kb > 0]
    return _ceil(percentile(values, RAM_PCT)) if values else None


def _out_disk_metric(ok: Sequence[ScoutResult]) -> int | None:
    values = [r.output_bytes / r.n_events for r in ok if r.n_events > 0]
    return _ceil(percentile(values, OUT_DISK_PCT)) if values else None


def _disk_io_metric(ok: Sequence[ScoutResult], s: ScoutSettings) -> int | None:
    values = [r.io_bytes / KB / r.wall_time for r in ok if r.wall_time > 0]
    if not values:
        return None
    worst = _ceil(max(values))
    return min(worst, s.disk_io_cap) if s.disk_io_cap > 0 else worst


def _cpu_efficiency(ok: Sequence[ScoutResult]) -> float | None:
    measured = [r for r in ok if r.wall_time > 0 and r.cpu_time > 0]
    if not measured:
        return None
    return sum(r.cpu_time for r in measured) / sum(r.wall_time * r.cores for r in measured)


def derive(results: Sequence[ScoutResult], settings: ScoutSettings) -> ScoutMetrics:
    """The §6 metrics from the successful scouts; a metric no scout measured is None.

    cpuTime: 95th percentile over successful scouts with events, preferring those with ≥ 10 x cores events or
    ≥ 6 h of wall time (all of them when none qualifies). ramCount and outDiskCount: 75th percentile.
    diskIO: the maximum of (read + written) / wall in kB/s, capped by ``disk_io_cap``.
    """
    ok = [r for r in results if r.succeeded]
    return ScoutMetrics(
        cpu_time=_cpu_time_metric(ok, settings),
        ram_count=_ram_metric(ok, settings),
        out_disk_count=_out_disk_metric(ok),
        disk_io=_disk_io_metric(ok, settings),
        n_used=len(ok),
        cpu_efficiency=_cpu_efficiency(ok),
    )


def _most_common_error(results: Sequence[ScoutResult]) -> str:
    errors = Counter(r.error for r in results if not r.succeeded and r.error)
    if not errors:
        return ""
    error, count = errors.most_common(1)[0]  # ties: the error seen first
    return f"; most common error ({count}x): {error}"


def _exhausted(ok: Sequence[ScoutResult], metrics: ScoutMetrics, s: ScoutSettings) -> str | None:
    eff = metrics.cpu_efficiency
    if s.min_cpu_efficiency > 0 and eff is not None and eff < s.min_cpu_efficiency:
        return f"CPU efficiency {eff * 100:.1f} % below minCpuEfficiency {s.min_cpu_efficiency * 100:g} %"
    if s.mem_leak_kb_per_s > 0:
        leaks = [r.mem_leak_kb_per_s / r.cores for r in ok if r.mem_leak_kb_per_s is not None]
        if leaks and max(leaks) > s.mem_leak_kb_per_s:
            return f"memory leak {max(leaks):.1f} kB/s per core above {s.mem_leak_kb_per_s:g} kB/s"
    return None


def evaluate(n_planned: int, results: Sequence[ScoutResult], settings: ScoutSettings) -> ScoutVerdict:
    """What scouting says now: wait, scouted (with metrics), broken or exhausted (§6, states.md §2).

    Waits until at least half of the ``n_planned`` scouts ended (or all did). Then ``success_rate`` of the
    ended scouts must have succeeded, else the task is broken with the most common error in the reason; a
    CPU efficiency below ``min_cpu_efficiency`` or a leak above ``mem_leak_kb_per_s`` exhausts it.
    """
    if n_planned < 1:
        raise InvalidInput(f"n_planned must be >= 1, got {n_planned}", field="n_planned")
    ended = len(results)
    if ended * 2 < n_planned:
        return ScoutVerdict(
            ScoutOutcome.WAIT, f"{ended}/{n_planned} scout jobs ended, waiting for half", None
        )
    ok = [r for r in results if r.succeeded]
    if not ok:
        return ScoutVerdict(
            ScoutOutcome.BROKEN, "no scout jobs succeeded" + _most_common_error(results), None
        )
    if len(ok) < settings.success_rate * ended:
        need = f"need {settings.success_rate * 100:g} %"
        reason = f"not enough scout jobs succeeded ({len(ok)}/{ended}, {need})" + _most_common_error(results)
        return ScoutVerdict(ScoutOutcome.BROKEN, reason, None)
    metrics = derive(results, settings)
    exhausted = _exhausted(ok, metrics, settings)
    if exhausted is not None:
        return ScoutVerdict(ScoutOutcome.EXHAUSTED, exhausted, metrics)
    return ScoutVerdict(ScoutOutcome.SCOUTED, f"{len(ok)}/{ended} scout jobs succeeded", metrics)

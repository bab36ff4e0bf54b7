"""Pure summaries of a selection's facts: attribute counts, error groups, time series and histograms.

No I/O: the pages read ``db.monitor.facts`` once and derive every summary here, so each is a table test.
Failure rate is failed / (failed + finished), rounded to 0.1 % (reference A8).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pandawms.db.monitor import ErrorFact, Fact

OTHER = "Other"
F = TypeVar("F", Fact, ErrorFact)


def failure_rate(finished: int, failed: int) -> float | None:
    """failed / (failed + finished) in percent (0.1 % precision); None when neither happened."""
    total = finished + failed
    return round(100.0 * failed / total, 1) if total else None


def attribute_counts(facts: Sequence[Fact], errors: Iterable[ErrorFact]) -> dict[str, Counter[str]]:
    """Per attribute (URL parameter name) the distinct values and their counts."""
    out: dict[str, Counter[str]] = {
        name: Counter()
        for name in (
            "jobstatus",
            "computingsite",
            "produsername",
            "prodsourcelabel",
            "attemptnr",
            "errorcode",
        )
    }
    status, site, user = out["jobstatus"], out["computingsite"], out["produsername"]
    label, attempt, code_count = out["prodsourcelabel"], out["attemptnr"], out["errorcode"]
    for f in facts:
        n = f.n
        status[f.status] += n
        site[f.site or "Not specified"] += n
        user[f.user or "Not specified"] += n
        label[f.label] += n
        attempt[str(f.attempt)] += n
    for e in errors:
        for c, code in e.errors:
            code_count[f"{c}:{code}"] += e.n
    return out


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """One (component, code) within a group key (overall, a queue or a user)."""

    key: str
    component: str
    code: int
    count: int
    latest: int
    sample_pid: int  # the job of the latest occurrence, whose diagnostic the summary shows
    sample_diag: str = ""  # filled by the page from the sample job (db.monitor.error_diags)


def error_groups(
    facts: Iterable[ErrorFact], key: Callable[[ErrorFact], str] = lambda f: ""
) -> list[ErrorGroup]:
    """Errors of failed/holding jobs by (key, component, code), most frequent first."""
    counts: Counter[tuple[str, str, int]] = Counter()
    latest: dict[tuple[str, str, int], tuple[int, int]] = {}
    for f in facts:
        group = key(f)
        for comp, code in f.errors:
            k = (group, comp, code)
            counts[k] += f.n
            seen = (f.modified, f.panda_id)
            if seen > latest.get(k, (-1, -1)):
                latest[k] = seen
    return [
        ErrorGroup(k[0], k[1], k[2], n, latest[k][0], latest[k][1])
        for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def state_counts(facts: Iterable[Fact], key: Callable[[Fact], str]) -> dict[str, Counter[str]]:
    """Per key value, the number of jobs in each state."""
    pairs: Counter[tuple[str, str]] = Counter()  # one pass, no Counter built per fact
    for f in facts:
        pairs[(key(f), f.status)] += f.n
    out: dict[str, Counter[str]] = {}
    for (k, status), n in pairs.items():
        if k not in out:
            out[k] = Counter()
        out[k][status] = n
    return out


# -- time series ---------------------------------------------------------------------------------------

_STEPS = (10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


@dataclass(frozen=True, slots=True)
class Bins:
    start: int  # epoch of the first bin
    width: int  # seconds
    count: int

    def index(self, t: int) -> int | None:
        i = (t - self.start) // self.width
        return i if 0 <= i < self.count else None

    def starts(self) -> list[int]:
        return [self.start + i * self.width for i in range(self.count)]


def data_start(window_start: int, end: int, times: Sequence[int]) -> int:
    """Where a chart starts: the window's start, or just before the data when it fills under a quarter.

    The demo's few minutes would otherwise be one bar at the right edge of a 12-hour chart.
    """
    if not times:
        return window_start
    first = min(times)
    span = end - window_start
    if first <= window_start or (end - first) * 4 > span:
        return window_start
    margin = max((end - first) // 10, 30)
    return max(window_start, first - margin)


def make_bins(start: int, end: int, max_bins: int = 60, min_width: int = 0) -> Bins:
    """At most ``max_bins`` bins of a round width (at least ``min_width``: 3600 for hourly aggregates)
    covering [start, end], aligned on the width."""
    span = max(end - start, 60)
    width = next((s for s in _STEPS if span / s <= max_bins and s >= min_width), _STEPS[-1])
    first = start - start % width
    return Bins(first, width, (end - first) // width + 1)


def series(
    facts: Iterable[F], bins: Bins, label: Callable[[F], Iterable[str]], top: int = 10
) -> dict[str, list[int]]:
    """Counts per label per bin (by modification time); labels past ``top`` merge into "Other"."""
    raw: dict[str, list[int]] = {}
    start, width, count = bins.start, bins.width, bins.count
    for f in facts:
        i = (f.modified - start) // width
        if not 0 <= i < count:
            continue
        for name in label(f):
            row = raw.get(name)
            if row is None:
                row = raw[name] = [0] * count
            row[i] += f.n
    ranked = sorted(raw, key=lambda n: -sum(raw[n]))
    out = {n: raw[n] for n in ranked[:top]}
    if len(ranked) > top:
        other = [0] * bins.count
        for n in ranked[top:]:
            other = [a + b for a, b in zip(other, raw[n], strict=True)]
        out[OTHER] = other
    return out


def failure_labels(f: ErrorFact) -> list[str]:
    return [f"{c}:{code}" for c, code in f.errors]


# -- histograms ----------------------------------------------------------------------------------------

WALLTIME_EDGES = (0, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400)
WALLTIME_LABELS = (
    "<1m",
    "1-5m",
    "5-15m",
    "15-30m",
    "30m-1h",
    "1-2h",
    "2-4h",
    "4-8h",
    "8-12h",
    "12-24h",
    ">24h",
)
MEMORY_EDGES = (0, 250, 500, 1000, 1500, 2000, 2500, 3000, 4000, 6000, 8000)  # MB per core
MEMORY_LABELS = (
    "<250",
    "250-500",
    "0.5-1G",
    "1-1.5G",
    "1.5-2G",
    "2-2.5G",
    "2.5-3G",
    "3-4G",
    "4-6G",
    "6-8G",
    ">8G",
)


def histogram(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin [edges[i], edges[i+1]); the last bin is open-ended."""
    out = [0] * len(edges)
    for v in values:
        out[max(bisect.bisect_right(edges, v) - 1, 0)] += 1
    return out


def walltimes(facts: Iterable[Fact], status: str) -> list[int]:
    return [
        f.ended - f.started
        for f in facts
        if f.status == status and f.started is not None and f.ended is not None and f.ended >= f.started
    ]


def memory_per_core_mb(facts: Iterable[Fact], status: str) -> list[float]:
    return [f.max_pss / 1024 / max(f.cores, 1) for f in facts if f.status == status and f.max_pss]

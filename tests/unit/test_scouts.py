"""Scout formulas (scheduling.md §6): percentile, derived metrics and the scouting verdict."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pandawms.core.errors import InvalidInput
from pandawms.core.scouts import (
    ScoutMetrics,
    ScoutOutcome,
    ScoutResult,
    ScoutSettings,
    derive,
    evaluate,
    percentile,
)

S = ScoutSettings()
MB_KB = 1024  # kB per MB


def ok(wall: int = 1600, events: int = 100, **kw: object) -> ScoutResult:
    return ScoutResult(succeeded=True, wall_time=wall, n_events=events, **kw)  # type: ignore[arg-type]


def bad(error: str = "") -> ScoutResult:
    return ScoutResult(succeeded=False, error=error)


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        pytest.param(list(range(1, 11)), 95, 10, id="p95-of-10"),
        pytest.param(list(range(1, 11)), 75, 8, id="p75-of-10"),
        pytest.param(list(range(1, 11)), 50, 5, id="median-of-10"),
        pytest.param([3, 1, 2], 0, 1, id="p0-is-min"),
        pytest.param([3, 1, 2], 100, 3, id="p100-is-max"),
        pytest.param([7], 95, 7, id="single"),
        pytest.param([4, 1, 3, 2], 75, 3, id="unsorted"),
    ],
)
def test_percentile_nearest_rank(values: list[float], pct: float, expected: float) -> None:
    assert percentile(values, pct) == expected


@pytest.mark.parametrize(
    ("values", "pct"), [([], 50), ([1.0], -1), ([1.0], 101)], ids=["empty", "neg", "big"]
)
def test_percentile_rejects(values: list[float], pct: float) -> None:
    with pytest.raises(InvalidInput):
        percentile(values, pct)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_is_a_member_within_bounds(values: list[float], pct: float) -> None:
    p = percentile(values, pct)
    assert p in values
    assert sum(v <= p for v in values) >= pct / 100 * len(values)


# --- derive -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "settings", "expected"),
    [
        # (1600 - 600) s x 10 HS06 x 1 core x 0.9 x 1.5 / 100 events
        pytest.param([ok()], S, 135.0, id="formula"),
        pytest.param([ok(cores=4, events=400)], S, 135.0, id="cores"),
        pytest.param([ok(wall=300)], S, 0.0, id="shorter-than-base"),
        pytest.param([ok(), ok(wall=5600, events=5)], S, 135.0, id="few-event-scout-ignored"),
        pytest.param([ok(wall=5600, events=5), ok(wall=3600, events=5)], S, 13500.0, id="fallback-all"),
        pytest.param([ok(wall=6 * 3600 + 600, events=5), ok()], S, 58320.0, id="long-scout-counts"),
        pytest.param([ok(events=0)], S, None, id="no-events"),
        pytest.param([bad(), ScoutResult(False, wall_time=1600, n_events=100)], S, None, id="failed-ignored"),
    ],
)
def test_cpu_time(results: list[ScoutResult], settings: ScoutSettings, expected: float | None) -> None:
    got = derive(results, settings).cpu_time
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("pss_mb", "cores", "settings", "expected"),
    [
        pytest.param(2000, 1, S, 2200, id="margin"),
        pytest.param(2000, 4, ScoutSettings(base_ram_count=500), 413, id="base-and-cores-rounded-up"),
        pytest.param(500, 1, ScoutSettings(min_ram_count=1000), 1000, id="floor"),
        pytest.param(100, 1, ScoutSettings(base_ram_count=500), 0, id="below-base"),
    ],
)
def test_ram_count(pss_mb: int, cores: int, settings: ScoutSettings, expected: int) -> None:
    assert derive([ok(max_pss_kb=pss_mb * MB_KB, cores=cores)], settings).ram_count == expected


def test_ram_count_is_the_75th_percentile_of_successes() -> None:
    results = [ok(max_pss_kb=mb * MB_KB) for mb in (1000, 2000, 3000, 4000)] + [bad()]
    assert derive(results, ScoutSettings(ram_margin=1.0)).ram_count == 3000


def test_other_metrics() -> None:
    results = [
        ok(wall=1000, events=100, output_bytes=100_000, io_bytes=1024 * 1000, cpu_time=800),
        ok(wall=1000, events=100, output_bytes=300_000, io_bytes=1024 * 5000, cpu_time=600),
        bad("boom"),
    ]
    m = derive(results, S)
    assert (m.out_disk_count, m.disk_io, m.n_used) == (3000, 5, 2)
    assert m.cpu_efficiency == pytest.approx(0.7)
    assert derive(results, ScoutSettings(disk_io_cap=2)).disk_io == 2
    assert derive([bad()], S) == ScoutMetrics(None, None, None, None, 0, None)


# --- evaluate ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_planned", "results", "settings", "outcome", "reason"),
    [
        pytest.param(
            10, [ok()] * 4, S, ScoutOutcome.WAIT, "4/10 scout jobs ended, waiting for half", id="wait"
        ),
        pytest.param(10, [ok()] * 5, S, ScoutOutcome.SCOUTED, "5/5 scout jobs succeeded", id="half-ended"),
        pytest.param(3, [ok(), bad()], S, ScoutOutcome.SCOUTED, "1/2 scout jobs succeeded", id="odd-planned"),
        pytest.param(1, [ok()], S, ScoutOutcome.SCOUTED, "1/1 scout jobs succeeded", id="all-ended"),
        pytest.param(
            4,
            [bad("no such file"), bad("segfault"), bad("segfault")],
            S,
            ScoutOutcome.BROKEN,
            "no scout jobs succeeded; most common error (2x): segfault",
            id="none-succeeded",
        ),
        pytest.param(2, [bad(), bad()], S, ScoutOutcome.BROKEN, "no scout jobs succeeded", id="no-diag"),
        pytest.param(
            5,
            [ok(), bad("oom"), bad("oom"), bad("x"), bad("x")],
            S,
            ScoutOutcome.BROKEN,
            "not enough scout jobs succeeded (1/5, need 50 %); most common error (2x): oom",
            id="not-enough-first-error-wins-ties",
        ),
        pytest.param(
            4,
            [ok(), ok(), bad(), bad()],
            ScoutSettings(success_rate=0.8),
            ScoutOutcome.BROKEN,
            "not enough scout jobs succeeded (2/4, need 80 %)",
            id="custom-rate",
        ),
        pytest.param(
            2,
            [ok(wall=1000, cpu_time=300), ok(wall=1000, cpu_time=500)],
            ScoutSettings(min_cpu_efficiency=0.5),
            ScoutOutcome.EXHAUSTED,
            "CPU efficiency 40.0 % below minCpuEfficiency 50 %",
            id="inefficient",
        ),
        pytest.param(
            2,
            [ok(wall=1000, cpu_time=600), ok(wall=1000, cpu_time=500)],
            ScoutSettings(min_cpu_efficiency=0.5),
            ScoutOutcome.SCOUTED,
            "2/2 scout jobs succeeded",
            id="efficient-enough",
        ),
        pytest.param(
            1,
            [ok(cores=2, mem_leak_kb_per_s=30.0)],
            ScoutSettings(mem_leak_kb_per_s=10.0),
            ScoutOutcome.EXHAUSTED,
            "memory leak 15.0 kB/s per core above 10 kB/s",
            id="leak",
        ),
        pytest.param(
            1,
            [ok(mem_leak_kb_per_s=30.0)],
            S,
            ScoutOutcome.SCOUTED,
            "1/1 scout jobs succeeded",
            id="leak-check-off",
        ),
    ],
)
def test_evaluate(
    n_planned: int, results: list[ScoutResult], settings: ScoutSettings, outcome: ScoutOutcome, reason: str
) -> None:
    verdict = evaluate(n_planned, results, settings)
    assert (verdict.outcome, verdict.reason) == (outcome, reason)
    assert (verdict.metrics is not None) == (outcome in {ScoutOutcome.SCOUTED, ScoutOutcome.EXHAUSTED})


def test_scouted_carries_the_metrics() -> None:
    verdict = evaluate(2, [ok(max_pss_kb=1000 * MB_KB), ok()], S)
    assert verdict.metrics == derive([ok(max_pss_kb=1000 * MB_KB), ok()], S)


def test_evaluate_needs_planned_scouts() -> None:
    with pytest.raises(InvalidInput) as info:
        evaluate(0, [], S)
    assert info.value.field == "n_planned"

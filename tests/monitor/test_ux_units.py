"""Issue 13 units: plots that fit the data, nice ticks, unclipped labels, one duration format, windows
in decimal hours, ``limit`` capping the list, shortened transformations."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from pandawms.core.errors import InvalidInput
from pandawms.db.monitor import ErrorFact, Fact
from pandawms.monitor import summaries as sm
from pandawms.monitor.common import epoch, error_entry, time_charts
from pandawms.monitor.error_style import shade
from pandawms.monitor.gather import Gathered
from pandawms.monitor.models import Chart, ChartSeries
from pandawms.monitor.params import parse_limits, parse_window
from pandawms.monitor.render import short_transformation
from pandawms.monitor.svg import W, nice_ticks, render
from pandawms.protocol.display import format_duration

NOW = datetime(2026, 3, 1, 12, 0, 0)


def _fact(modified: int, status: str = "finished") -> Fact:
    return Fact(1, status, "Q", "u", "user", 1, modified, modified, None, None, None, 1, None)


@pytest.mark.parametrize(
    ("peak", "step", "top"),
    [
        (1, 1, 1),
        (3, 1, 3),
        (7, 2, 8),
        (37, 10, 40),
        (50, 10, 50),
        (51, 20, 60),
        (240, 50, 250),
        (999, 200, 1000),
    ],
)
def test_count_axis_ticks_are_round(peak: int, step: int, top: int) -> None:
    assert nice_ticks(peak) == (step, top)


def test_axis_labels_are_multiples_of_the_step() -> None:
    chart = Chart(
        name="c",
        title="t",
        kind="stacked",
        labels=["a"],
        series=[ChartSeries(name="s", color="#000", values=[37])],
    )
    ticks = [int(v.replace(",", "")) for v in re.findall(r'text-anchor="end">([\d,]+)<', render(chart))]
    assert ticks == [0, 10, 20, 30, 40]


def test_no_axis_label_runs_past_the_edges() -> None:
    # given a chart whose last label sits at the right edge
    labels = [f"12:{i:02d}:00" for i in range(5)]
    chart = Chart(
        name="c",
        title="t",
        kind="stacked",
        labels=labels,
        series=[ChartSeries(name="s", color="#000", values=[1] * 5)],
    )
    # then every x label, about 6 px per character, stays inside the view box
    for x, text in re.findall(
        r'<text x="([\d.]+)" y="\d+" class="ax" text-anchor="middle">([^<]+)<', render(chart)
    ):
        half = len(text) * 3
        assert float(x) - half >= 0 and float(x) + half <= W, (x, text)


def test_a_short_burst_zooms_the_time_charts_to_the_data() -> None:
    # given the demo's few minutes of jobs in the default 12-hour window
    window = parse_window({}, NOW, 12)
    end = epoch(NOW)
    facts = [_fact(end - 240 + 10 * i) for i in range(24)]
    # when the charts are built
    states = time_charts(Gathered(facts, []), window, NOW)[0]
    # then they span minutes with bins of seconds, not one bar at the right edge
    assert 10 <= len(states.labels) <= 60
    assert states.labels[0] >= "11:55:00" and re.fullmatch(r"\d\d:\d\d:\d\d", states.labels[-1])
    assert sum(v > 0 for v in states.series[0].values) >= 10
    assert "when the data begins" in states.title


def test_data_spread_over_the_window_keeps_the_window() -> None:
    start = epoch(NOW - timedelta(hours=12))
    times = [start + 3600, epoch(NOW) - 60]
    assert sm.data_start(start, epoch(NOW), times) == start
    assert sm.data_start(start, epoch(NOW), []) == start


@pytest.mark.parametrize(
    ("hours", "label", "length"),
    [
        ("0.5", "last 30 minutes", 0.5),
        ("1.5", "last 1.5 hours", 1.5),
        ("12", "last 12 hours", 12.0),
        ("168", "last 7 days", 168.0),
    ],
)
def test_hours_take_decimals(hours: str, label: str, length: float) -> None:
    w = parse_window({"hours": hours}, NOW, 12)
    assert (w.label, w.hours, w.since) == (label, length, NOW - timedelta(hours=length))


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "nan", "inf", "1e9"])
def test_bad_hours_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_window({"hours": bad}, NOW, 12)
    assert exc.value.args[0].startswith("hours:")


def test_limit_caps_the_list_too() -> None:
    assert parse_limits({"limit": "2"}) == (2, 2)
    assert parse_limits({}) == (10_000, 100)
    assert parse_limits({"limit": "500", "display_limit": "300"}) == (500, 300)


@pytest.mark.parametrize(
    ("trf", "short"),
    [
        (
            "/work/x/.venv/bin/python3 -m pandawms.demo.payload --fail",
            "python3 -m pandawms.demo.payload --fail",
        ),
        ("http://pandaserver.example.org/trf/user/runGen-00-00-02", "runGen-00-00-02"),
        ("Reco_tf.py", "Reco_tf.py"),
        ("", ""),
    ],
)
def test_transformations_are_shortened_to_the_program(trf: str, short: str) -> None:
    assert short_transformation(trf) == short


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (0, "0:00:00"), (8.6, "0:00:08"), (3600, "1:00:00"), (90061, "1d 01:01:01")],
)
def test_one_duration_format(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_failure_bars_take_the_colour_of_their_category_badge() -> None:
    # given failures of two codes in one category and one in another
    end = epoch(NOW)
    errors = [
        ErrorFact(1, "failed", "Q", "u", end - 60, (("pilot", 1212),)),
        ErrorFact(2, "failed", "Q", "u", end - 50, (("pilot", 1305),)),
        ErrorFact(3, "failed", "Q", "u", end - 40, (("pilot", 1099),)),
    ]
    # when the failures chart is drawn
    chart = time_charts(Gathered([], errors), parse_window({}, NOW, 12), NOW)[1]
    colours = {s.name: s.color for s in chart.series}
    # then the first code of a category has its badge's border colour, the next a lighter shade of it
    badge = {c: error_entry("pilot", int(c.split(":")[1])).strong for c in colours}
    runtime_first = next(c for c in colours if badge[c] == badge["pilot:1212"])
    assert colours[runtime_first] == badge[runtime_first]
    others = [c for c in colours if c != runtime_first and badge[c] == badge[runtime_first]]
    assert all(colours[c] == shade(badge[c], 1) for c in others)
    assert colours["pilot:1099"] == badge["pilot:1099"]

"""Pure parts of the monitor: URL grammar, summaries, SVG charts, log tarball reader (no database)."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pandawms.core.errors import InvalidInput
from pandawms.db.monitor import ErrorFact, Fact
from pandawms.monitor import logs
from pandawms.monitor import summaries as sm
from pandawms.monitor.logs import read_log
from pandawms.monitor.models import Chart, ChartSeries
from pandawms.monitor.params import parse_statuses, parse_window, query_dict
from pandawms.monitor.svg import render
from tests.monitor.helpers import make_tarball

NOW = datetime(2026, 1, 1, 12, 0, 0)


@pytest.mark.parametrize(
    ("expr", "states"),
    [
        ("running", {"running"}),
        ("run*|fail*", {"running", "failed"}),
        ("*ing", {"waiting", "starting", "running", "holding", "transferring"}),
        ("!*ed,!*ing", {"sent"}),
        ("fin*|!*e*", {"finished", "waiting", "starting", "running", "holding"}),
    ],
)
def test_status_expressions(expr: str, states: set[str]) -> None:
    assert set(parse_statuses(expr)) == states


def test_windows() -> None:
    assert parse_window({}, NOW, 12).label == "last 12 hours"
    assert parse_window({"days": "7"}, NOW, 12).label == "last 7 days"
    assert parse_window({}, NOW, 12, lift=True).since is None
    w = parse_window({"date_from": "2026-01-01", "date_to": "2026-01-01T06:30"}, NOW, 12)
    assert (w.since, w.until, w.hours) == (datetime(2026, 1, 1), datetime(2026, 1, 1, 6, 30), 6.5)


@pytest.mark.parametrize(
    ("raw", "since"),
    [
        ("2026-01-01T06:30:00Z", datetime(2026, 1, 1, 6, 30)),  # a time copied from a JSON twin
        ("2026-01-01T06:30:15.5Z", datetime(2026, 1, 1, 6, 30, 15, 500_000)),
        ("2026-01-01T08:30+02:00", datetime(2026, 1, 1, 6, 30)),  # an offset is turned into UTC
        ("2026-01-01 06:30", datetime(2026, 1, 1, 6, 30)),
    ],
)
def test_a_window_start_may_be_an_rfc3339_time(raw: str, since: datetime) -> None:
    # fuzz finding: the JSON twins write times with Z, and date_from refused them
    assert parse_window({"date_from": raw}, NOW, 12).since == since


NOT_DATES = ["20260101", "2026-W01", "2026-01-01T06", "2026-01-01Z", "2026-01-01T06:30 Z"]


@pytest.mark.parametrize("raw", NOT_DATES)
def test_other_iso_forms_are_not_window_dates(raw: str) -> None:
    with pytest.raises(InvalidInput, match=r"^date_to: .* is not a date"):
        parse_window({"date_to": raw}, NOW, 12)


def test_query_dict_refuses_unknown_and_repeated() -> None:
    assert query_dict([("hours", "3"), ("json", "")], frozenset({"hours"})) == {"hours": "3", "json": ""}
    with pytest.raises(InvalidInput, match=r"^bogus: unknown parameter"):
        query_dict([("bogus", "1")], frozenset({"hours"}))


def _fact(status: str, t: int, **kw: object) -> Fact:
    base: dict[str, object] = dict(
        panda_id=1,
        status=status,
        site="Q",
        user="u",
        label="user",
        attempt=1,
        modified=t,
        created=t - 100,
        started=None,
        ended=None,
        max_pss=None,
        cores=1,
        cpu=None,
    )
    base.update(kw)
    return Fact(**base)  # type: ignore[arg-type]


def _err(t: int, codes: dict[str, int], pid: int = 1) -> ErrorFact:
    return ErrorFact(pid, "failed", "Q", "u", t, tuple(codes.items()))


def test_failure_rate_excludes_cancelled_and_closed() -> None:
    assert sm.failure_rate(2, 1) == 33.3 and sm.failure_rate(0, 0) is None and sm.failure_rate(0, 5) == 100.0


def test_error_groups_and_series() -> None:
    facts = [_err(1000, {"pilot": 1099}, pid=7), _err(5000, {"pilot": 1099, "exe": 65}, pid=8)]
    groups = sm.error_groups(facts)
    assert [(g.component, g.code, g.count, g.latest, g.sample_pid) for g in groups] == [
        ("pilot", 1099, 2, 5000, 8),
        ("exe", 65, 1, 5000, 8),
    ]
    bins = sm.make_bins(0, 7200, max_bins=60)
    assert bins.width == 300 and bins.count == 25
    series = sm.series(facts, bins, sm.failure_labels)
    assert series["pilot:1099"][3] == 1 and series["pilot:1099"][16] == 1 and sum(series["exe:65"]) == 1


def test_histograms() -> None:
    assert sm.histogram([0, 59, 60, 10**6], sm.WALLTIME_EDGES) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    facts = [_fact("finished", 0, started=100, ended=400, max_pss=2048 * 1024, cores=2)]
    assert sm.walltimes(facts, "finished") == [300] and sm.memory_per_core_mb(facts, "finished") == [1024.0]


def test_svg_escapes_text_and_draws_bars() -> None:
    chart = Chart(
        name="x",
        title="<t>",
        kind="stacked",
        labels=["a", "b"],
        series=[ChartSeries(name="<script>", color="#fff", values=[1, 2])],
    )
    svg = render(chart)
    assert svg.startswith("<svg") and "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<rect") == 3  # two bars and one legend swatch
    empty = render(Chart(name="e", title="e", kind="bars", labels=["a"], series=[]))
    assert "no data" in empty


def test_log_reader_caps_and_survives_damage(tmp_path: Path) -> None:
    good = tmp_path / "log.tgz"
    good.write_bytes(make_tarball({"a.txt": "héllo".encode(), "b.bin": b"\x00\x01"}))
    log = read_log(good)
    assert [(f.name, f.text, f.binary) for f in log.files] == [
        ("a.txt", "héllo", False),
        ("b.bin", None, True),
    ]
    damaged = tmp_path / "bad.tgz"
    damaged.write_bytes(good.read_bytes()[:40])
    out = read_log(damaged)
    assert out.error


def test_svg_legend_names_the_series_that_do_not_fit() -> None:
    # given more series than one legend row can hold
    names = [f"pilot:{1000 + i}" for i in range(12)]
    series = [ChartSeries(name=n, color="#123456", values=[1]) for n in names]
    # when
    svg = render(Chart(name="f", title="failures", kind="stacked", labels=["t0"], series=series))
    # then the swatches shown plus the "+N more" entry account for every series
    shown = svg.count('class="lg">')
    assert 0 < shown < len(names)
    assert f"+{len(names) - shown} more" in svg
    assert names[-1] in svg  # named in the hover title


def _tgz(build: Callable[[tarfile.TarFile], None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        build(tar)
    return buf.getvalue()


def test_log_reader_stops_at_a_tarball_that_expands_far_beyond_its_size(tmp_path: Path) -> None:
    # given a small upload: one text file, then 100 MB of zeros (100 kB compressed)
    def build(tar: tarfile.TarFile) -> None:
        first = tarfile.TarInfo("pilotlog.txt")
        first.size = 5
        tar.addfile(first, io.BytesIO(b"hello"))
        big = tarfile.TarInfo("zeros.bin")
        big.size = 100 << 20
        tar.addfile(big, _Zeros(big.size))

    path = tmp_path / "bomb.tgz"
    path.write_bytes(_tgz(build))
    # when the job page reads it, then it lists what came before and says why it stopped, at once
    started = time.perf_counter()
    log = read_log(path)
    assert time.perf_counter() - started < 2.0
    assert [f.name for f in log.files] == ["pilotlog.txt"] and "MB of content" in log.error


def test_log_reader_counts_every_entry_not_only_files(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        for i in range(logs.MAX_ENTRIES + 50):
            info = tarfile.TarInfo(f"d{i}")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)

    path = tmp_path / "dirs.tgz"
    path.write_bytes(_tgz(build))
    log = read_log(path)
    assert log.files == [] and "more entries" in log.error


class _Zeros(io.RawIOBase):
    """``n`` zero bytes, produced on demand (so the test never holds a gigabyte)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        k = min(len(b), self.left)
        b[:k] = bytes(k)
        self.left -= k
        return k

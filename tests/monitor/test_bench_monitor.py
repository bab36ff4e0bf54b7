"""``panda bench monitor`` times every page of a live, seeded server over HTTP."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pandawms.bench.monitor import PAGES, bench_monitor
from pandawms.cli.main import app
from tests.monitor.live import live_monitor


def test_bench_times_every_page_of_a_seeded_server(tmp_path: Path) -> None:
    with live_monitor(tmp_path, jobs=800) as srv:
        timings = bench_monitor(srv.url, repeat=1)
        result = CliRunner().invoke(app, ["bench", "monitor", "--server", srv.url, "--repeat", "1", "--json"])
    assert [t.label for t in timings] == [label for label, _ in PAGES]
    assert all(t.bytes > 0 and 0 < t.median_ms <= t.worst_ms and t.cached_ms > 0 for t in timings)
    assert "{" not in "".join(t.path for t in timings)  # every placeholder was filled
    assert result.exit_code == 0, result.output
    assert '"label": "errors (12 h)"' in result.output


def test_bench_on_an_empty_server_says_to_seed_it(tmp_path: Path) -> None:
    with live_monitor(tmp_path, jobs=0) as srv:
        result = CliRunner().invoke(app, ["bench", "monitor", "--server", srv.url, "--repeat", "1"])
    assert result.exit_code == 1
    assert "panda seed" in result.output

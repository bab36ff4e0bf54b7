"""Sampling the payload's process tree and work directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pandawms.pilot.limits import ResourceSample
from pandawms.pilot.monitor import PayloadMonitor, UsageTracker, scan_workdir


def test_scan_workdir_sizes_everything_but_ignores_pilot_files_for_mtime(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data").write_bytes(b"x" * 100)
    os.utime(tmp_path / "sub" / "data", (1000, 1000))
    (tmp_path / "pilotlog.txt").write_bytes(b"y" * 10)
    size, newest = scan_workdir(tmp_path, ignore={"pilotlog.txt"})
    assert size == 110 and newest == 1000


def test_scan_workdir_of_an_empty_dir(tmp_path: Path) -> None:
    assert scan_workdir(tmp_path) == (0, None)


def test_sample_covers_the_whole_process_tree(tmp_path: Path) -> None:
    # given a payload holding ~50 MB with a child holding ~50 MB
    hold = "import time; x = b'a' * (50 << 20); time.sleep(30)"
    code = f"import subprocess, sys\nc = subprocess.Popen([sys.executable, '-c', {hold!r}])\n{hold}\n"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        monitor = PayloadMonitor(proc.pid, tmp_path)
        deadline = time.monotonic() + 10
        sample = monitor.sample()
        while (sample.n_processes < 2 or sample.rss_kb < 100_000) and time.monotonic() < deadline:
            time.sleep(0.1)
            sample = monitor.sample()
        # then both processes are counted
        assert sample.n_processes == 2
        assert sample.rss_kb > 100_000 and sample.pss_kb > 90_000
        assert monitor.tracker.max_rss_kb >= sample.rss_kb
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def test_sample_of_a_finished_process_is_empty(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert PayloadMonitor(proc.pid, tmp_path).sample().n_processes == 0


def test_tracker_keeps_maxima_averages_and_cpu_per_process() -> None:
    t = UsageTracker()
    t.add(ResourceSample(rss_kb=100, pss_kb=80))
    t.add(ResourceSample(rss_kb=300, pss_kb=200))
    t.note_cpu((1, 0.0), 1.0)
    t.note_cpu((1, 0.0), 2.0)
    t.note_cpu((2, 0.0), 0.5)
    assert (t.max_rss_kb, t.max_pss_kb, t.avg_rss_kb, t.avg_pss_kb) == (300, 200, 200, 140)
    assert t.cpu_time_s == 2.5

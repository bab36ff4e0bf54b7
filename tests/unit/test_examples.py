"""The demo payloads (pandawms.examples): events counted in the job report, the memory hog's file match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pandawms.examples import combine, mc_pi


def test_mc_pi_counts_events_of_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        mc_pi.main(["--seed", "1", "--events", "3", "--samples-per-event", "100", "--output", "o.json"]) == 0
    )
    report = json.loads((tmp_path / "jobReport.json").read_text())
    assert report["nevents"] == 3 and json.loads((tmp_path / "o.json").read_text())["samples"] == 300


def test_combine_holds_memory_only_for_the_named_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, pi in (("a.000001.json", 3.0), ("a.000002.json", 3.2)):
        (tmp_path / name).write_text(json.dumps({"pi": pi, "samples": 100, "error": 0.1}))
    hog = ["--hog-on", "a.000002.json:1", "--hog-seconds", "0"]
    assert combine.main([*hog, "--output", "m.json", "a.000001.json,a.000002.json"]) == 0
    merged = json.loads((tmp_path / "m.json").read_text())
    assert merged["pi"] == pytest.approx(3.1) and merged["inputs"] == ["a.000001.json", "a.000002.json"]

"""The transfer progress bar follows a download's landing file (ddm/base.landing) while it grows."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pandawms.cli.progress import Progress
from pandawms.ddm.base import landing


def _until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached before the deadline")


def test_bar_moves_with_the_landing_file_then_counts_the_whole_file(tmp_path: Path) -> None:
    dest = tmp_path / "scope" / "file.root"
    with Progress(3000, "download") as bar:
        bar.advance(1000)  # an earlier file
        with bar.following(dest, 2000), landing(dest) as tmp:
            tmp.write_bytes(b"x" * 700)
            _until(lambda: bar.completed == 1700)
            tmp.write_bytes(b"x" * 2000)
        assert bar.completed == 3000 and dest.stat().st_size == 2000


def test_a_failed_download_counts_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "file.root"
    with Progress(2000, "download") as bar:
        with pytest.raises(RuntimeError), bar.following(dest, 2000), landing(dest) as tmp:
            tmp.write_bytes(b"x" * 500)
            _until(lambda: bar.completed == 500)
            raise RuntimeError("checksum mismatch")
        assert bar.completed == 0 and not dest.exists()

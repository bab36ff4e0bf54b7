"""Sweeping what killed writers left on local storage: only temporary names, only old enough ones."""

from __future__ import annotations

import os
from pathlib import Path

from pandawms.ddm.base import temporary_name
from pandawms.ddm.local import sweep_temporary

NOW = 1_800_000_000.0


def _file(path: Path, age: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    os.utime(path, (NOW - age, NOW - age))
    return path


def test_old_temporary_names_are_removed_and_everything_else_kept(tmp_path: Path) -> None:
    old = _file(tmp_path / "a" / temporary_name("f.root"), 7200)
    young = _file(tmp_path / "a" / temporary_name("f.root"), 10)
    deep = _file(tmp_path / "a" / "b" / temporary_name("g.root"), 7200)
    keep = [
        _file(tmp_path / "a" / "f.root", 7200),  # a published file
        _file(tmp_path / "a" / ".f.root.part-notahex", 7200),  # not one of temporary_name's
        _file(tmp_path / "a" / ".hidden", 7200),
    ]

    removed = sweep_temporary(tmp_path, older_than=3600, now=NOW)

    assert sorted(removed) == sorted([old, deep])
    assert young.exists() and all(p.exists() for p in keep)


def test_a_sweep_of_one_file_leaves_the_others(tmp_path: Path) -> None:
    mine = _file(tmp_path / temporary_name("out.root"), 0)
    other = _file(tmp_path / temporary_name("out.root.1"), 0)
    assert sweep_temporary(tmp_path, older_than=0, now=NOW, name="out.root") == [mine]
    assert other.exists()
    assert sweep_temporary(tmp_path / "missing", older_than=0, now=NOW) == []

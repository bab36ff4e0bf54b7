"""Worker directories: parked final updates move from an ended pilot to the queue's spool and on to the
next pilot; old worker directories are swept after the retention time, live ones never."""

from __future__ import annotations

import os
from pathlib import Path

from pandawms.factory.workdirs import (
    PILOT_PENDING,
    collect_parked,
    hand_over_parked,
    spool_dir,
    sweep_old,
    worker_dir,
)


def test_parked_updates_go_from_an_ended_pilot_to_the_next(tmp_path: Path) -> None:
    # given an ended worker that parked one final update and had one refused
    old = worker_dir(tmp_path, "Q", 1)
    (old / PILOT_PENDING).mkdir(parents=True)
    (old / PILOT_PENDING / "final-7-1.json").write_text("{}")
    (old / PILOT_PENDING / "rejected-final-8-1.json").write_text("{}")
    spool = spool_dir(tmp_path, "Q")
    # when the factory collects it and later starts worker 2
    assert collect_parked(old, spool) == 1
    assert sorted(p.name for p in spool.iterdir()) == ["final-7-1.json"]
    new = worker_dir(tmp_path, "Q", 2)
    assert hand_over_parked(spool, new) == 1
    # then the new pilot finds it where it looks at start, and the refused one stays for a human
    assert [p.name for p in (new / PILOT_PENDING).iterdir()] == ["final-7-1.json"]
    assert list(spool.iterdir()) == []
    assert (old / PILOT_PENDING / "rejected-final-8-1.json").exists()
    # and nothing to move is not an error
    assert collect_parked(worker_dir(tmp_path, "Q", 3), spool) == 0
    assert hand_over_parked(spool, worker_dir(tmp_path, "Q", 4)) == 0


def test_a_spool_that_cannot_be_created_keeps_the_updates_in_place(tmp_path: Path) -> None:
    # given an ended worker with a parked update, and a queue dir where the spool cannot be made
    old = worker_dir(tmp_path, "Q", 1)
    (old / PILOT_PENDING).mkdir(parents=True)
    (old / PILOT_PENDING / "final-7-1.json").write_text("{}")
    spool = spool_dir(tmp_path, "Q")
    spool.write_text("a file where the spool directory should be")  # mkdir fails like a full disk
    # when the factory collects it, then nothing is lost and nothing raises: a later cycle can retry
    assert collect_parked(old, spool) == 0
    assert (old / PILOT_PENDING / "final-7-1.json").exists()


def test_sweep_removes_only_old_ended_worker_dirs(tmp_path: Path) -> None:
    queue_dir = tmp_path / "Q"
    dirs = {name: queue_dir / name for name in ("worker-1", "worker-2", "worker-3", "parked-updates")}
    for path in dirs.values():
        path.mkdir(parents=True)
        (path / "pilot.out").write_text("x")
    now = 1_000_000.0
    for name in ("worker-1", "worker-2", "parked-updates"):  # old
        for p in (dirs[name] / "pilot.out", dirs[name]):
            os.utime(p, (now - 5000, now - 5000))
    for p in (dirs["worker-3"] / "pilot.out", dirs["worker-3"]):  # recent
        os.utime(p, (now - 10, now - 10))
    # worker-2 is old but still live
    assert sweep_old(queue_dir, 3600, now, live={dirs["worker-2"]}) == 1
    assert sorted(p.name for p in queue_dir.iterdir()) == ["parked-updates", "worker-2", "worker-3"]
    assert sweep_old(queue_dir, 0, now, live=()) == 0  # 0 keeps everything
    assert sweep_old(tmp_path / "missing", 3600, now, live=()) == 0

"""Worker directories under ``<workdir>/<queue>/``: one ``worker-<id>`` per pilot, a spool for parked final
updates, and retention. A pilot parks a final update it could not deliver in its ``pending-updates`` folder;
the factory moves it to the queue's spool and hands it to the next pilot of the queue, which re-sends it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Collection
from pathlib import Path

log = logging.getLogger(__name__)

PILOT_PENDING = "pending-updates"  # the pilot's folder of parked final updates (PilotConfig.pending_dir)
SPOOL = "parked-updates"
_PARKED_GLOB = "final-*.json"
_WORKER_PREFIX = "worker-"


def worker_dir(root: Path, queue: str, worker_id: int) -> Path:
    return root / queue / f"{_WORKER_PREFIX}{worker_id}"


def spool_dir(root: Path, queue: str) -> Path:
    return root / queue / SPOOL


def _move_all(source: Path, target: Path) -> int:
    files = sorted(source.glob(_PARKED_GLOB)) if source.is_dir() else []
    if not files:
        return 0
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # full or read-only disk: the files stay where they are for a later try
        log.error("cannot create %s for %d parked update(s): %s", target, len(files), exc)
        return 0
    moved = 0
    for path in files:
        try:
            os.replace(path, target / path.name)
        except OSError as exc:
            log.error("cannot move parked update %s to %s: %s", path, target, exc)
            continue
        moved += 1
    return moved


def collect_parked(worker: Path, spool: Path) -> int:
    """Move an ended pilot's undelivered final updates into the queue's spool; returns how many."""
    return _move_all(worker / PILOT_PENDING, spool)


def hand_over_parked(spool: Path, worker: Path) -> int:
    """Give the spooled final updates to a pilot about to start in ``worker``; returns how many."""
    return _move_all(spool, worker / PILOT_PENDING)


def _age_mark(path: Path) -> float:
    marks = [path.stat().st_mtime]
    with contextlib.suppress(OSError):
        marks.extend(p.stat().st_mtime for p in path.iterdir())
    return max(marks)


def sweep_old(queue_dir: Path, retention: float, now: float, live: Collection[Path]) -> int:
    """Delete ended workers' directories untouched for ``retention`` s (0 keeps them); returns how many."""
    if retention <= 0 or not queue_dir.is_dir():
        return 0
    removed = 0
    for path in queue_dir.iterdir():
        if not path.name.startswith(_WORKER_PREFIX) or path in live or not path.is_dir():
            continue
        try:
            if now - _age_mark(path) < retention:
                continue
            shutil.rmtree(path)
        except OSError as exc:
            log.warning("cannot remove old worker dir %s: %s", path, exc)
            continue
        removed += 1
    return removed

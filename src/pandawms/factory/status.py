"""The operator's view of a running factory: per queue, its live workers by native batch state and the
last errors of its batch system, written to ``<workdir>/status.json`` at the end of every cycle and
printed by ``panda factory --status``. The snapshot is built from plain data (pure); only write/read
touch the disk, and a write replaces the file atomically so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

STATUS_FILE = "status.json"


@runtime_checkable
class ReportsBatchStates(Protocol):
    """Optional for a backend: the native state of each worker it follows, and its latest command errors."""

    states: dict[str, str]  # batch id -> native state as last seen (e.g. squeue's RUNNING)
    last_errors: list[str]  # newest last
    errors_noted: int  # errors noted since start (last_errors keeps only the newest few)


def queue_view(
    batch_ids: Iterable[str], states: Mapping[str, str], errors: Sequence[str], ended: Mapping[str, int]
) -> dict[str, Any]:
    """One queue's entry: live workers per native state (``unpolled`` before their first poll)."""
    ids = list(batch_ids)
    by_state = Counter(states.get(b, "unpolled") for b in ids)
    return {
        "alive": len(ids),
        "batch_states": dict(sorted(by_state.items())),
        "ended_total": dict(sorted(ended.items())),
        "last_errors": list(errors[-5:]),
    }


def write_status(workdir: Path, snapshot: Mapping[str, Any]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = workdir / f".{STATUS_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(snapshot, indent=1, sort_keys=True))
    tmp.replace(workdir / STATUS_FILE)


def read_status(workdir: Path) -> dict[str, Any]:
    """The last snapshot a factory wrote there; ValueError naming the file when there is none."""
    path = workdir / STATUS_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"no factory status in {path}: {exc}") from exc
    return data


def render_status(data: Mapping[str, Any]) -> str:
    """Plain text for a terminal: one block per queue."""
    lines = [
        f"factory {data.get('harvester_id', '?')}, cycle {data.get('cycle', '?')} at {data.get('time', '?')}"
    ]
    for name, q in sorted(data.get("queues", {}).items()):
        states = ", ".join(f"{k} {v}" for k, v in q["batch_states"].items()) or "none"
        ended = ", ".join(f"{k} {v}" for k, v in q["ended_total"].items()) or "none"
        lines.append(f"  {name} ({q.get('backend', '?')}): {q['alive']} alive by batch state: {states}")
        lines.append(f"    ended since start: {ended}")
        for error in q["last_errors"]:
            lines.append(f"    batch error: {error}")
    return "\n".join(lines)

"""Task-level effects of the retry module's actions (scheduling.md §9), pure: ``reduce_input_per_job``
halves the task's input per job (nFilesPerJob NF, nMaxFilesPerJob MF, nGBPerJob NG of its split rule) and
``increase_cputime`` raises its cpuTime per event (and its expected walltime per job) by a factor.

Each failing job adjusts the task once, from what *it* was given: the limits become half of that job's
input (never more than they are), and a job made before the task's last adjustment changes nothing (it
ran with the old settings), so a burst of failures of one generation halves once, not once per job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

GB = 1024**3
CPU_TIME_FACTOR = 1.5
DEFAULT_MAX_FILES = 200  # core.partition's nMaxFilesPerJob when the task sets none
ADJUSTED = "retry rule"  # the task history reasons of adjustments start with this


@dataclass(frozen=True, slots=True)
class JobInput:
    """What the failed job was given: its input files and bytes, when it was made."""

    n_files: int
    n_bytes: int
    created: datetime


def stale(job: JobInput, last_adjusted: datetime | None) -> bool:
    """The job ran with settings the task no longer has (made before its last adjustment)."""
    return last_adjusted is not None and job.created < last_adjusted


def _fmt(value: float) -> str:
    return f"{value:g}"


def reduced_codes(codes: Mapping[str, str], job: JobInput) -> tuple[dict[str, str], str]:
    """The split-rule codes with the input per job halved from ``job``'s, and what changed ("" when
    nothing could be reduced: already one file per job)."""
    out = dict(codes)
    changes = []
    half_files = max(1, job.n_files // 2)
    for code, default in (("NF", None), ("MF", DEFAULT_MAX_FILES)):
        value = codes.get(code)
        if value is None and default is None:
            continue
        current = int(float(value)) if value else DEFAULT_MAX_FILES
        new = min(current, half_files)
        if new < current:
            out[code] = str(new)
            changes.append(f"{code} {current} -> {new}")
    ng = codes.get("NG")
    if ng and job.n_bytes > 0:
        current_gb = float(ng)
        new_gb = min(current_gb, round(job.n_bytes / 2 / GB, 3))
        if 0 < new_gb < current_gb:
            out["NG"] = _fmt(new_gb)
            changes.append(f"NG {_fmt(current_gb)} -> {_fmt(new_gb)}")
    return out, ", ".join(changes)


def raised_cpu_time(cpu_time: float, walltime: int, factor: float = CPU_TIME_FACTOR) -> tuple[float, int]:
    """cpuTime per event and walltime per job raised by ``factor`` (unknown values, 0, stay 0)."""
    return round(cpu_time * factor, 6), math.ceil(walltime * factor)

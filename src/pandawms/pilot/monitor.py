"""Samples the payload's whole process tree (psutil: RSS, PSS, VMS, CPU time) and its work directory
(size, newest file mtime), and keeps the maxima and averages the final update reports (kB, s).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from pandawms.pilot.limits import ResourceSample

_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess)


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants that are still alive (empty when it has gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except _GONE:
        return []


@dataclass(frozen=True, slots=True)
class _ProcUsage:
    rss_kb: int
    pss_kb: int
    vmem_kb: int
    cpu_s: float


def _usage(proc: psutil.Process) -> _ProcUsage | None:
    try:
        with proc.oneshot():
            cpu = proc.cpu_times()
            mem = proc.memory_info()
            try:
                pss = int(getattr(proc.memory_full_info(), "pss", 0))
            except (psutil.AccessDenied, OSError):
                pss = 0
        return _ProcUsage(mem.rss // 1024, pss // 1024, mem.vms // 1024, cpu.user + cpu.system)
    except (*_GONE, psutil.AccessDenied):
        return None


def scan_workdir(path: Path, ignore: Iterable[str] = ()) -> tuple[int, float | None]:
    """Total size in bytes of the files under ``path`` and the newest mtime among those not ignored."""
    skip = set(ignore)
    total = 0
    newest: float | None = None
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue  # removed while we walked
            total += st.st_size
            if name not in skip and (newest is None or st.st_mtime > newest):
                newest = st.st_mtime
    return total, newest


@dataclass(slots=True)
class UsageTracker:
    """Maxima, averages and CPU time over all samples of one payload."""

    max_rss_kb: int = 0
    max_pss_kb: int = 0
    max_vmem_kb: int = 0
    max_processes: int = 0
    samples: int = 0
    _sum_rss: int = 0
    _sum_pss: int = 0
    _cpu_by_proc: dict[tuple[int, float], float] = field(default_factory=dict)

    def add(self, sample: ResourceSample) -> None:
        self.samples += 1
        self.max_rss_kb = max(self.max_rss_kb, sample.rss_kb)
        self.max_pss_kb = max(self.max_pss_kb, sample.pss_kb)
        self.max_vmem_kb = max(self.max_vmem_kb, sample.vmem_kb)
        self.max_processes = max(self.max_processes, sample.n_processes)
        self._sum_rss += sample.rss_kb
        self._sum_pss += sample.pss_kb

    def note_cpu(self, key: tuple[int, float], cpu_s: float) -> None:
        self._cpu_by_proc[key] = max(self._cpu_by_proc.get(key, 0.0), cpu_s)

    @property
    def cpu_time_s(self) -> float:
        """CPU seconds of every process seen (processes that lived between samples are missed)."""
        return sum(self._cpu_by_proc.values())

    @property
    def avg_rss_kb(self) -> int:
        return self._sum_rss // self.samples if self.samples else 0

    @property
    def avg_pss_kb(self) -> int:
        return self._sum_pss // self.samples if self.samples else 0


class PayloadMonitor:
    """Takes samples of one payload; ``ignore`` names pilot-written files left out of the looping check."""

    def __init__(self, pid: int, workdir: Path, ignore: Iterable[str] = ()) -> None:
        self.pid = pid
        self.workdir = workdir
        self.ignore = frozenset(ignore)
        self.tracker = UsageTracker()

    def sample(self) -> ResourceSample:
        rss = pss = vmem = count = 0
        for proc in process_tree(self.pid):
            usage = _usage(proc)
            if usage is None:
                continue
            count += 1
            rss += usage.rss_kb
            pss += usage.pss_kb
            vmem += usage.vmem_kb
            with contextlib.suppress(*_GONE):
                self.tracker.note_cpu((proc.pid, proc.create_time()), usage.cpu_s)
        size, newest = scan_workdir(self.workdir, self.ignore)
        sample = ResourceSample(
            rss_kb=rss,
            pss_kb=pss,
            vmem_kb=vmem,
            cpu_time_s=self.tracker.cpu_time_s,
            n_processes=count,
            workdir_bytes=size,
            newest_mtime=newest,
        )
        if count:
            self.tracker.add(sample)
        return sample

"""JEDI's job splitter: ready task-file rows -> job chunks, pure and in input order (scheduling.md §4).

Every chunk says why it was closed (``JobChunk.reason``) so the monitor can show it. A row that breaks a
limit on its own never blocks the task: it gets a job of its own whose reason starts "file alone exceeds".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pandawms.core.errors import InvalidInput

GB = 1024**3
MIN_OUTPUT_SCRATCH = GB // 2  # scratch reserved for outputs even when outDiskCount is unknown (§4)
SCOUT_REASON = "scout: 1 file per job"


def _require_positive(value: float | None, name: str) -> None:
    if value is not None and value <= 0:
        raise InvalidInput(f"{name} must be > 0, got {value}", field=name)


@dataclass(frozen=True, slots=True)
class SplitFile:
    """One ready task-file row (one file, or one event range of a file)."""

    row_id: int
    fsize: int  # bytes of the whole file
    n_events: int = 0  # events in this row (0 = unknown)
    start_event: int | None = None  # set when the row is an event range of a file
    end_event: int | None = None  # inclusive
    boundary: str = ""  # rows with different boundary never share a job
    ram_count: int = 0  # MB per core this file needs after retries (0 = the task's); a job takes the max

    def __post_init__(self) -> None:
        if self.fsize < 0 or self.n_events < 0 or self.ram_count < 0:
            raise InvalidInput(f"file row {self.row_id}: fsize, n_events and ram_count must be >= 0")
        if (self.start_event is None) != (self.end_event is None):
            raise InvalidInput(f"file row {self.row_id}: start_event and end_event go together")
        if self.start_event is not None and self.end_event is not None and self.end_event < self.start_event:
            raise InvalidInput(f"file row {self.row_id}: end_event {self.end_event} < start_event")

    @property
    def events(self) -> int:
        """Events of this row: the range length for an event range, else ``n_events``."""
        if self.start_event is not None and self.end_event is not None:
            return self.end_event - self.start_event + 1
        return self.n_events


@dataclass(frozen=True, slots=True)
class SplitRules:
    """The task's split rules (scheduling.md §4, split-rule codes NE, NF, NG, MF, MW, MX); None = not set."""

    n_files_per_job: int | None = None
    n_events_per_job: int | None = None
    n_gb_per_job: float | None = None
    n_max_files_per_job: int = 200
    max_walltime_h: float | None = None  # hours per job cap
    max_events_per_job: int | None = None

    def __post_init__(self) -> None:
        _require_positive(self.n_files_per_job, "nFilesPerJob")
        _require_positive(self.n_events_per_job, "nEventsPerJob")
        _require_positive(self.n_gb_per_job, "nGBPerJob")
        _require_positive(self.n_max_files_per_job, "nMaxFilesPerJob")
        _require_positive(self.max_walltime_h, "maxWalltime")
        _require_positive(self.max_events_per_job, "maxEventsPerJob")


@dataclass(frozen=True, slots=True)
class SizeModel:
    """What is known of the task and the target queue."""

    cpu_time_per_event: float = 0.0  # HS06·s per event (task cpuTime); 0 = unknown
    base_walltime: int = 600  # s (baseWalltime)
    cpu_efficiency: float = 0.9  # cpuEfficiency / 100
    core_power: float = 10.0  # HS06 per core at the queue
    cores: int = 1
    out_disk_per_event: int = 0  # bytes (outDiskCount); 0 = unknown
    work_disk: int = 0  # bytes (workDiskCount)
    queue_max_walltime: int = 0  # s, 0 = unlimited (queue maxtime)
    queue_max_disk: int = 0  # bytes of scratch per job, 0 = unlimited (maxwdir)
    direct_access: bool = False  # inputs read in place: input bytes do not count for scratch
    max_output_bytes: int = 10 * GB

    def __post_init__(self) -> None:
        _require_positive(self.cores, "cores")
        _require_positive(self.core_power, "core_power")
        _require_positive(self.cpu_efficiency, "cpu_efficiency")


@dataclass(frozen=True, slots=True)
class JobChunk:
    """The rows of one job with its estimated size and why the chunk was closed."""

    files: tuple[SplitFile, ...]
    n_events: int  # sum of known events
    walltime: int  # s, estimated (0 when cpu time unknown)
    disk: int  # bytes of scratch estimated
    ram_count: int  # max ram_count of its files
    reason: str = ""  # e.g. "nFilesPerJob=2", "walltime limit 86400 s", "file alone exceeds scratch ..."


def walltime(n_events: int, size: SizeModel) -> int:
    """``cpuTime * nEvents / (cores * corePower * cpuEff) + baseTime`` in s, rounded up (§4).

    0 when the estimate is impossible: cpu time per event or the number of events unknown.
    """
    if size.cpu_time_per_event <= 0 or n_events <= 0:
        return 0
    work = size.cpu_time_per_event * n_events / (size.cores * size.core_power * size.cpu_efficiency)
    return math.ceil(work) + size.base_walltime


def scratch(input_bytes: int, n_events: int, size: SizeModel) -> int:
    """``input + max(0.5 GB, outDiskCount * nEvents) + workDiskCount`` bytes (§4), input 0 if direct."""
    inputs = 0 if size.direct_access else input_bytes
    return inputs + max(MIN_OUTPUT_SCRATCH, size.out_disk_per_event * n_events) + size.work_disk


def event_ranges(n_events: int, n_events_per_job: int, first_event: int = 0) -> list[tuple[int, int]]:
    """Cut ``n_events`` into inclusive (start, end) ranges of ``n_events_per_job`` events (the last shorter).

    Events are 0-based from ``first_event``; the feeder stores each range as one row (file status ``partial``
    while some ranges are done, states.md §4).
    """
    _require_positive(n_events_per_job, "nEventsPerJob")
    end = first_event + max(0, n_events)
    return [(s, min(s + n_events_per_job, end) - 1) for s in range(first_event, end, n_events_per_job)]


@dataclass(frozen=True, slots=True)
class _Load:
    """What a chunk holds so far; the limits are checked against the load after adding the next row."""

    n_files: int = 0
    input_bytes: int = 0
    n_events: int = 0

    def plus(self, f: SplitFile) -> _Load:
        return _Load(self.n_files + 1, self.input_bytes + f.fsize, self.n_events + f.events)


_Check = Callable[[_Load], str | None]  # the broken limit's name, or None when the load fits


def _cap(label: str, limit: float, measure: Callable[[_Load], float]) -> _Check:
    return lambda load: label if measure(load) > limit else None


def _size_checks(rules: SplitRules, size: SizeModel) -> list[_Check]:
    """The queue limits used when the task sets no explicit size: scratch, walltime and unmerged output."""
    checks: list[_Check] = []
    if size.queue_max_disk > 0:
        checks.append(
            _cap(
                f"scratch limit {size.queue_max_disk} bytes",
                size.queue_max_disk,
                lambda ld: scratch(ld.input_bytes, ld.n_events, size),
            )
        )
    limits = [size.queue_max_walltime] if size.queue_max_walltime > 0 else []
    if rules.max_walltime_h is not None:
        limits.append(math.floor(rules.max_walltime_h * 3600))
    if limits:
        wall = min(limits)
        checks.append(_cap(f"walltime limit {wall} s", wall, lambda ld: walltime(ld.n_events, size)))
    if size.out_disk_per_event > 0:
        checks.append(
            _cap(
                f"output limit {size.max_output_bytes} bytes",
                size.max_output_bytes,
                lambda ld: size.out_disk_per_event * ld.n_events,
            )
        )
    return checks


def _mode(rules: SplitRules, size: SizeModel) -> tuple[str, list[_Check]]:
    """The rule that sizes jobs (precedence nEventsPerJob > nFilesPerJob > nGBPerJob > queue limits, §4)."""
    max_files = _cap(f"nMaxFilesPerJob={rules.n_max_files_per_job}", rules.n_max_files_per_job, _files)
    caps = [max_files]
    if rules.max_events_per_job is not None:
        caps.append(_cap(f"maxEventsPerJob={rules.max_events_per_job}", rules.max_events_per_job, _events))
    if rules.n_events_per_job is not None:
        label = f"nEventsPerJob={rules.n_events_per_job}"
        return label, [_cap(label, rules.n_events_per_job, _events), *caps]
    if rules.n_files_per_job is not None:  # an explicit file count overrides nMaxFilesPerJob
        label = f"nFilesPerJob={rules.n_files_per_job}"
        return label, [_cap(label, rules.n_files_per_job, _files), *caps[1:]]
    if rules.n_gb_per_job is not None:
        label = f"nGBPerJob={rules.n_gb_per_job:g}"
        return label, [_cap(label, rules.n_gb_per_job * GB, _input_bytes), *caps]
    return "queue limits", [*caps, *_size_checks(rules, size)]


def _files(load: _Load) -> int:
    return load.n_files


def _events(load: _Load) -> int:
    return load.n_events


def _input_bytes(load: _Load) -> int:
    return load.input_bytes


def _broken(checks: Sequence[_Check], load: _Load) -> str | None:
    for check in checks:
        reason = check(load)
        if reason is not None:
            return reason
    return None


def _chunk(files: Sequence[SplitFile], reason: str, size: SizeModel) -> JobChunk:
    n_events = sum(f.events for f in files)
    return JobChunk(
        files=tuple(files),
        n_events=n_events,
        walltime=walltime(n_events, size),
        disk=scratch(sum(f.fsize for f in files), n_events, size),
        ram_count=max((f.ram_count for f in files), default=0),
        reason=reason,
    )


class _Builder:
    """Accumulates rows into the open chunk and closes it when the next row would break a limit."""

    def __init__(self, checks: Sequence[_Check], size: SizeModel, max_jobs: int) -> None:
        self.checks, self.size, self.max_jobs = checks, size, max_jobs
        self.chunks: list[JobChunk] = []
        self.open: list[SplitFile] = []
        self.load = _Load()

    @property
    def full(self) -> bool:
        return len(self.chunks) >= self.max_jobs

    def close(self, reason: str) -> None:
        if self.open:
            self.chunks.append(_chunk(self.open, reason, self.size))
        self.open, self.load = [], _Load()

    def add(self, f: SplitFile) -> None:
        if self.open and f.boundary != self.open[0].boundary:
            self.close("boundary change")
        after = self.load.plus(f)
        reason = _broken(self.checks, after)
        if reason is not None and self.open:
            self.close(reason)
            after = self.load.plus(f)
            reason = _broken(self.checks, after)
        if self.full:
            return
        self.open.append(f)
        self.load = after
        if reason is not None:  # the row alone is too big: it still runs, alone
            self.close(f"file alone exceeds {reason}")


def split(
    files: Sequence[SplitFile], rules: SplitRules, size: SizeModel, *, max_jobs: int, scout: bool = False
) -> list[JobChunk]:
    """Group ``files`` (in input order) into at most ``max_jobs`` chunks; the rest waits for the next cycle.

    Rules (scheduling.md §4 unless noted):
    - precedence nEventsPerJob > nFilesPerJob > nGBPerJob (GB = 2**30 bytes of input);
    - nEventsPerJob: rows with event ranges were cut to size by the feeder (``event_ranges``); whole small
      files are grouped up to nEventsPerJob events;
    - nFilesPerJob is exact and overrides nMaxFilesPerJob; nMaxFilesPerJob (MF, client default 200) and
      maxEventsPerJob (MX) cap every other mode;
    - without explicit sizes, rows are added until the next one would break a queue limit: scratch
      (``scratch`` ≤ queue maxwdir), walltime (``walltime`` ≤ min(queue maxtime, maxWalltime MW hours);
      checked only once cpuTime is known), unmerged output (outDiskCount * nEvents ≤ 10 GB);
    - scouts: one row per job (§6), no other rule applies;
    - rows with different ``boundary`` never share a job (boundaryID grouping); a change of boundary
      closes the chunk, so the feeder should deliver rows grouped by boundary;
    - a row that alone breaks a limit gets its own job with reason "file alone exceeds <limit>".
    """
    if max_jobs < 0:
        raise InvalidInput(f"max_jobs must be >= 0, got {max_jobs}", field="max_jobs")
    if scout:
        return [_chunk((f,), SCOUT_REASON, size) for f in files[:max_jobs]]
    label, checks = _mode(rules, size)
    builder = _Builder(checks, size, max_jobs)
    for f in files:
        if builder.full:
            break
        builder.add(f)
    if not builder.full:
        builder.close(f"{label}; end of input")
    return builder.chunks

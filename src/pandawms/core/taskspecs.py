"""Frozen value objects of JEDI: a parsed task (TaskSpec), a stored task (Task), its datasets.

``split_rule`` keeps PanDA's comma-separated two-letter codes (scheduling.md §4, e.g. ``NF=2,MF=200``);
``split_codes``/``join_split_codes`` convert it. Sizes follow JEDI: ramCount MB per core, cpuTime HS06·s
per event, outDiskCount bytes per event, walltime s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pandawms.core.specs import ProdSourceLabel
from pandawms.core.tasks import INPUT_TYPES, FileCounts, TaskDatasetStatus, TaskDatasetType, TaskStatus


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A task as the TaskRefiner understood its parameters (what the tasks row stores)."""

    task_name: str
    user_name: str
    transformation: str
    prod_source_label: ProdSourceLabel = ProdSourceLabel.USER
    vo: str = "atlas"
    owner_sub: str = ""  # the submitter's token sub: ownership is keyed on it (user_name is for display)
    working_group: str = ""
    task_type: str = ""
    processing_type: str = ""
    task_priority: int = 1000
    global_share: str = ""
    core_count: int = 1
    ram_count: int = 0  # MB per core
    base_ram_count: int = 0  # MB
    walltime: int = 0  # s per job the user expects (0 = unknown)
    cpu_time: float = 0.0  # HS06·s per event (0 = unknown until scouts measure it)
    base_walltime: int = 600  # s
    cpu_efficiency: int = 90  # %
    out_disk_count: int = 0  # bytes per event
    work_disk_count: int = 0  # bytes
    split_rule: str = ""  # PanDA's codes: "NF=2,MF=200,US=1"
    max_attempt: int = 3
    goal: int = 1000  # per mille of master input files
    parent_task_id: int | None = None
    included_sites: tuple[str, ...] = ()
    excluded_sites: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Task:
    """A stored task. ``status`` changes only through services/lifecycle_tasks.py."""

    task_id: int
    spec: TaskSpec
    status: TaskStatus
    old_status: TaskStatus | None
    error_dialog: str
    current_priority: int
    scout_jobs: int
    locked_by: str
    creation_time: datetime
    modification_time: datetime
    state_change_time: datetime
    start_time: datetime | None
    end_time: datetime | None


@dataclass(frozen=True, slots=True)
class NewTaskDataset:
    """A dataset of a task as the TaskRefiner defines it."""

    type: TaskDatasetType
    scope: str
    name: str
    template: str = ""  # output/log file name template with ${SN}
    destination: str = ""  # RSE the outputs go to ("" = each job's queue's ddm_output)
    master_index: int | None = None  # secondary input: index of its master in the same list
    mutable: bool = False  # a parent task still produces it


@dataclass(frozen=True, slots=True)
class TaskDataset:
    """A stored task dataset with its progress counters (files of this dataset by outcome)."""

    dataset_id: int
    task_id: int
    type: TaskDatasetType
    master_id: int | None
    scope: str
    name: str
    status: TaskDatasetStatus
    mutable: bool
    template: str
    destination: str
    next_serial: int
    n_files: int
    n_files_used: int
    n_files_finished: int
    n_files_failed: int
    n_events: int
    n_events_used: int

    @property
    def did(self) -> str:
        return f"{self.scope}:{self.name}"


def split_codes(split_rule: str) -> dict[str, str]:
    """``"NF=2,MF=200"`` -> ``{"NF": "2", "MF": "200"}`` (a code without ``=`` is a flag: value "1")."""
    out: dict[str, str] = {}
    for item in split_rule.split(","):
        item = item.strip()
        if not item:
            continue
        code, _, value = item.partition("=")
        out[code.strip()] = value.strip() if value else "1"
    return out


def join_split_codes(codes: dict[str, str]) -> str:
    """The inverse of split_codes, in a stable order."""
    return ",".join(f"{k}={v}" for k, v in sorted(codes.items()))


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Filters of a task listing; values in one tuple are OR-ed, fields are AND-ed. Keyset on task_id,
    newest first. ``name`` is a glob (``*``, ``?``; without them an exact name)."""

    statuses: tuple[TaskStatus, ...] = ()
    users: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    working_groups: tuple[str, ...] = ()
    name: str = ""
    parent_task_id: int | None = None
    since: datetime | None = None
    before_id: int | None = None
    limit: int = 100


def master_counts(datasets: Iterable[TaskDataset]) -> FileCounts:
    """A task's progress: its master inputs' files (pseudo-input rows for noInput tasks) by outcome."""
    masters = [d for d in datasets if d.master_id is None and d.type in INPUT_TYPES]
    return FileCounts(
        sum(d.n_files for d in masters),
        sum(d.n_files_finished for d in masters),
        sum(d.n_files_failed for d in masters),
    )

"""Merging of a task's outputs (scheduling.md §10), the pure part: names of the pre-merge pieces and the
grouping of prepared pieces into merge jobs.

With ``mergeOutput`` (split code MO) a task's jobs write each output into a transient ``trn_output``
dataset (the log into ``trn_log``) named ``<output dataset>.pre``, their files named ``panda.um.<the
output's file name>`` (PanDA's prefix for unmerged files), so pieces never collide with merged files in
the catalog. Pieces are merged per output dataset and per queue that holds them (on-site merging): a
group is complete at ``nFilesPerMergeJob`` (ZF, default 10) pieces or when the next piece would take it
past ``nGBPerMergeJob`` (ZG, default 5 GB) of input; the last, smaller group of a queue is merged only when
no pre-merge job of the task is left to produce more (``last``). A piece larger than the size limit is
merged alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pandawms.core.tasks import TaskDatasetType

GB = 1024**3
PREMERGE_SUFFIX = ".pre"
UNMERGED_PREFIX = "panda.um."
MERGE_PRIORITY = 5000  # scheduling.md §10: merge jobs run before the task's other jobs
MERGE_PROCESSING_TYPE = "pmerge"
DEFAULT_FILES_PER_MERGE = 10
DEFAULT_GB_PER_MERGE = 5.0
MERGE_FLAG = "MO"
# the transient twin of each final dataset type
TWIN_TYPES: Mapping[TaskDatasetType, TaskDatasetType] = {
    TaskDatasetType.OUTPUT: TaskDatasetType.TRN_OUTPUT,
    TaskDatasetType.LOG: TaskDatasetType.TRN_LOG,
}
TRANSIENT_TYPES: frozenset[TaskDatasetType] = frozenset(TWIN_TYPES.values())


def premerge_dataset_name(name: str) -> str:
    """The transient dataset of an output or log dataset's pre-merge pieces."""
    return f"{name}{PREMERGE_SUFFIX}"


def premerge_template(template: str) -> str:
    """A pre-merge piece's file name template (the output's, prefixed ``panda.um.``)."""
    return f"{UNMERGED_PREFIX}{template}"


@dataclass(frozen=True, slots=True)
class MergeRules:
    n_files: int = DEFAULT_FILES_PER_MERGE
    n_bytes: int = int(DEFAULT_GB_PER_MERGE * GB)


def merge_rules(codes: Mapping[str, str]) -> MergeRules:
    """A task's merge sizing from its split-rule codes (ZF nFilesPerMergeJob, ZG nGBPerMergeJob)."""
    zf, zg = codes.get("ZF"), codes.get("ZG")
    n_files = int(float(zf)) if zf else DEFAULT_FILES_PER_MERGE
    gb = float(zg) if zg else DEFAULT_GB_PER_MERGE
    return MergeRules(max(1, n_files), max(1, int(gb * GB)))


@dataclass(frozen=True, slots=True)
class Piece:
    """A prepared pre-merge file: its task-file row, size, and the queue that holds it ("" = unknown)."""

    row_id: int
    fsize: int
    site: str = ""


@dataclass(frozen=True, slots=True)
class MergeGroup:
    """The pieces one merge job takes, all held by ``site``."""

    site: str
    pieces: tuple[Piece, ...]

    @property
    def n_bytes(self) -> int:
        return sum(p.fsize for p in self.pieces)


def _groups_at(site: str, pieces: Sequence[Piece], rules: MergeRules, last: bool) -> list[MergeGroup]:
    out: list[MergeGroup] = []
    current: list[Piece] = []
    size = 0
    for p in pieces:
        if current and size + p.fsize > rules.n_bytes:  # the next piece does not fit: complete
            out.append(MergeGroup(site, tuple(current)))
            current, size = [], 0
        current.append(p)
        size += p.fsize
        if len(current) >= rules.n_files or size >= rules.n_bytes:
            out.append(MergeGroup(site, tuple(current)))
            current, size = [], 0
    if current and last:
        out.append(MergeGroup(site, tuple(current)))
    return out


def group_pieces(pieces: Sequence[Piece], rules: MergeRules, *, last: bool) -> list[MergeGroup]:
    """The complete merge groups of ``pieces`` (per queue, in row order); with ``last`` also each queue's
    remainder (no more pieces will come)."""
    by_site: dict[str, list[Piece]] = {}
    for p in sorted(pieces, key=lambda p: p.row_id):
        by_site.setdefault(p.site, []).append(p)
    return [g for site in sorted(by_site) for g in _groups_at(site, by_site[site], rules, last)]

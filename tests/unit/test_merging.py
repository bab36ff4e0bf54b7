"""Grouping of pre-merge pieces into merge jobs (core.merging, scheduling.md §10) and the retry rules'
task-level effects (core.retry_effects, scheduling.md §9)."""

from __future__ import annotations

from datetime import datetime

import pytest

from pandawms.core.merging import (
    GB,
    MergeGroup,
    MergeRules,
    Piece,
    group_pieces,
    merge_rules,
    premerge_dataset_name,
    premerge_template,
)
from pandawms.core.retry_effects import JobInput, raised_cpu_time, reduced_codes, stale

MB = 1024**2
T0 = datetime(2026, 12, 2, 8, 0, 0)


def _pieces(n: int, size: int = MB, site: str = "A", start: int = 1) -> list[Piece]:
    return [Piece(i, size, site) for i in range(start, start + n)]


def _shape(groups: list[MergeGroup]) -> list[tuple[str, list[int]]]:
    return [(g.site, [p.row_id for p in g.pieces]) for g in groups]


@pytest.mark.parametrize(
    ("n", "last", "expected"),
    [
        (9, False, []),  # not complete yet
        (9, True, [[1, 2, 3, 4, 5, 6, 7, 8, 9]]),  # the last group, smaller
        (10, False, [list(range(1, 11))]),
        (23, False, [list(range(1, 11)), list(range(11, 21))]),
        (23, True, [list(range(1, 11)), list(range(11, 21)), [21, 22, 23]]),
        (0, True, []),
    ],
)
def test_groups_of_n_files(n: int, last: bool, expected: list[list[int]]) -> None:
    groups = group_pieces(_pieces(n), MergeRules(n_files=10, n_bytes=5 * GB), last=last)
    assert _shape(groups) == [("A", ids) for ids in expected]


def test_size_limit_closes_a_group_before_it_overflows() -> None:
    pieces = _pieces(5, 2 * GB)
    groups = group_pieces(pieces, MergeRules(n_files=10, n_bytes=5 * GB), last=False)
    assert _shape(groups) == [("A", [1, 2]), ("A", [3, 4])]  # 2+2 GB; a third would make 6 GB
    assert _shape(group_pieces(pieces, MergeRules(10, 5 * GB), last=True))[-1] == ("A", [5])


def test_a_piece_bigger_than_the_limit_is_merged_alone() -> None:
    pieces = [Piece(1, MB, "A"), Piece(2, 7 * GB, "A"), Piece(3, MB, "A")]
    groups = group_pieces(pieces, MergeRules(10, 5 * GB), last=False)
    assert _shape(groups) == [("A", [1]), ("A", [2])]  # piece 3 waits for more


def test_exactly_at_the_size_limit_is_complete() -> None:
    groups = group_pieces(_pieces(2, 5 * GB // 2), MergeRules(10, 5 * GB), last=False)
    assert _shape(groups) == [("A", [1, 2])]


def test_pieces_are_grouped_per_queue_in_row_order() -> None:
    pieces = [Piece(4, MB, "B"), Piece(1, MB, "A"), Piece(3, MB, "B"), Piece(2, MB, "A"), Piece(5, MB, "A")]
    groups = group_pieces(pieces, MergeRules(n_files=2, n_bytes=GB), last=False)
    assert _shape(groups) == [("A", [1, 2]), ("B", [3, 4])]
    groups = group_pieces(pieces, MergeRules(n_files=2, n_bytes=GB), last=True)
    assert _shape(groups) == [("A", [1, 2]), ("A", [5]), ("B", [3, 4])]


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ({}, MergeRules(10, 5 * GB)),
        ({"ZF": "3"}, MergeRules(3, 5 * GB)),
        ({"ZG": "0.5", "ZF": "100"}, MergeRules(100, GB // 2)),
    ],
)
def test_merge_rules_from_codes(codes: dict[str, str], expected: MergeRules) -> None:
    assert merge_rules(codes) == expected


def test_premerge_names() -> None:
    assert premerge_dataset_name("user.alice.out") == "user.alice.out.pre"
    assert premerge_template("out.${JEDITASKID}._${SN}.root") == "panda.um.out.${JEDITASKID}._${SN}.root"


@pytest.mark.parametrize(
    ("codes", "files", "nbytes", "expected", "what"),
    [
        ({}, 8, 0, {"MF": "4"}, "MF 200 -> 4"),
        ({"NF": "10", "MF": "20"}, 10, 0, {"NF": "5", "MF": "5"}, "NF 10 -> 5, MF 20 -> 5"),
        ({"NF": "5"}, 10, 0, {"NF": "5", "MF": "5"}, "MF 200 -> 5"),  # NF already below half the job
        ({"NG": "4"}, 2, 2 * GB, {"NG": "1", "MF": "1"}, "MF 200 -> 1, NG 4 -> 1"),
        ({"MF": "1"}, 1, GB, {"MF": "1"}, ""),  # one file per job: nothing left to reduce
        ({"NE": "100", "MF": "3"}, 3, 0, {"NE": "100", "MF": "1"}, "MF 3 -> 1"),
    ],
)
def test_reduce_input_halves_from_the_failed_job(
    codes: dict[str, str], files: int, nbytes: int, expected: dict[str, str], what: str
) -> None:
    assert reduced_codes(codes, JobInput(files, nbytes, T0)) == (expected, what)


def test_reducing_twice_from_jobs_of_one_generation_halves_once() -> None:
    once, _ = reduced_codes({"NF": "10"}, JobInput(10, 0, T0))
    twice, what = reduced_codes(once, JobInput(10, 0, T0))
    assert twice == once and what == ""


@pytest.mark.parametrize(
    ("cpu", "wall", "expected"),
    [(100.0, 3600, (150.0, 5400)), (0.0, 0, (0.0, 0)), (2.0, 1001, (3.0, 1502))],
)
def test_increase_cputime(cpu: float, wall: int, expected: tuple[float, int]) -> None:
    assert raised_cpu_time(cpu, wall) == expected


def test_a_job_made_before_the_last_adjustment_is_stale() -> None:
    job = JobInput(1, 0, T0)
    assert not stale(job, None)
    assert not stale(job, T0)
    assert stale(job, datetime(2026, 12, 2, 9, 0, 0))

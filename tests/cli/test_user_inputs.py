"""Client-side input handling of `panda submit`: --exec commands and job files (no server needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pandawms.cli.common import UsageError
from pandawms.cli.user import exec_job, read_job_file, validate_jobs


def test_simple_exec_becomes_transformation_and_parameters() -> None:
    assert exec_job("python ana.py --events 10 'a b'") == {
        "transformation": "python",
        "jobParameters": "ana.py --events 10 'a b'",
    }


@pytest.mark.parametrize("command", ["echo a | wc -l", "cd x && make", "echo $HOME", "ls *.root", "X=1 run"])
def test_exec_needing_a_shell_runs_under_sh(command: str) -> None:
    job = exec_job(command)
    assert job["transformation"] == "/bin/sh"
    assert job["jobParameters"].startswith("-c ")


def test_unparseable_exec_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--exec: cannot parse"):
        exec_job("echo 'unterminated")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("one.yaml", "transformation: /bin/true\n"),
        ("list.yaml", "- transformation: /bin/true\n- transformation: /bin/false\n"),
        ("wrapped.json", '{"jobs": [{"transformation": "/bin/true"}]}'),
        ("one.json", '{"transformation": "/bin/true"}'),
    ],
)
def test_job_file_shapes(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    jobs = read_job_file(tmp_path / name)
    assert jobs and all("transformation" in j for j in jobs)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "job #1: expected an object"),
        ("jobs: []", "expected a job object, a list of jobs"),
        ("transformation: [unclosed", "not valid YAML"),
    ],
)
def test_malformed_job_files_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_job_file(path)


def test_invalid_json_names_the_format(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_text("{transformation: x}")
    with pytest.raises(UsageError, match=r"jobs\.json: not valid JSON"):
        read_job_file(path)


def test_validation_names_the_job_and_the_field() -> None:
    jobs: list[dict[str, Any]] = [
        {"transformation": "/bin/true"},
        {"transformation": "/bin/true", "files": [{"lfn": "a", "type": "x"}]},
    ]
    with pytest.raises(UsageError, match=r"jobs.yaml: job #2: files.0.type: Input should be 'input'"):
        validate_jobs("jobs.yaml", jobs)


def test_missing_field_is_named() -> None:
    with pytest.raises(UsageError, match=r"job #1: transformation: Field required$"):
        validate_jobs("f", [{"jobParameters": "x"}])

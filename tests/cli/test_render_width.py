"""`panda jobs` at 80 and 120 columns (issue 13): columns are chosen by width, every line fits, and the
PandaID, status and error code are never cut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pandawms.cli.job_list import MIN_NAME, _fit_columns
from tests.cli.conftest import Panda

LONG_NAME = "mc23_13p6TeV.601229.PhPy8EG_A14_ttbar_hdamp258p75_SingleLep.recon.e8514_s4162_r14622._00042"


def _submit(panda: Panda, *args: str) -> list[int]:
    result = panda("submit", "--json", *args)
    assert result.exit_code == 0, result.output
    return [int(j["PandaID"]) for j in json.loads(result.stdout)]


@pytest.mark.parametrize("columns", [80, 120])
def test_jobs_fit_the_terminal_and_keep_id_status_and_error_whole(panda: Panda, columns: int) -> None:
    # given a failed job with a long name and a long error, and an activated one
    failed, queued = _submit(panda, "--exec", "true", "--njobs", "2", "--user", "alice", "--name", LONG_NAME)
    panda.dispatch(1)
    panda.fail(failed)
    # when the list is printed on a terminal `columns` wide
    result = panda("jobs", "--user", "alice", env={"COLUMNS": str(columns)})
    # then no line is wider than the terminal
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns, result.stdout
    # and each job's id, status and full error code are on its row, uncut
    row = {pid: next(line for line in lines if f" {pid} " in line) for pid in (failed, queued)}
    assert "failed" in row[failed] and "pilot:1305 PAYLOADEXECUTIONFAILURE" in row[failed]
    assert "activated" in row[queued]
    assert "…" not in result.stdout and "..." not in result.stdout
    # and what did not fit is named, the wider terminal showing more
    if columns == 80:
        assert "not shown at 80 columns:" in result.stdout and "name" in result.stdout.split("not shown")[1]
    else:
        assert "site" in lines[2] and "modified" in lines[2]


def test_columns_join_by_rank_and_the_name_takes_what_is_left() -> None:
    natural = {
        "PandaID": 7,
        "name": 90,
        "status": 9,
        "site": 10,
        "user": 5,
        "label": 5,
        "attempt": 7,
        "prio": 4,
    }
    natural |= {"modified": 19, "error": 34}
    narrow, squeeze80 = _fit_columns(natural, 80)
    assert {"PandaID", "status", "error"} <= set(narrow) and "name" not in narrow and squeeze80 == {}
    wide, squeeze = _fit_columns(natural, 160)
    assert wide == [
        "PandaID",
        "name",
        "status",
        "site",
        "user",
        "label",
        "attempt",
        "prio",
        "modified",
        "error",
    ]
    assert squeeze["name"] >= MIN_NAME
    used = 1 + sum(natural[c] + 3 for c in wide if c != "name") + squeeze["name"] + 3
    assert used <= 160


def test_an_unknown_queue_is_warned_about(panda: Panda) -> None:
    result = panda("jobs", "--queue", "NOPE")
    assert result.exit_code == 0, result.output
    assert "no queue named 'NOPE'" in result.stderr
    known = panda("jobs", "--queue", "TEST_QUEUE")
    assert "no queue named" not in known.stderr


def test_exec_jobs_are_named_after_their_command(panda: Panda) -> None:
    (one,) = _submit(panda, "--exec", "/usr/bin/env true")
    two = _submit(panda, "--exec", "true", "--njobs", "2")
    names = {
        j["PandaID"]: j["jobName"]
        for j in json.loads(panda("jobs", "--json").stdout)["jobs"]
        if j["PandaID"] in (one, *two)
    }
    assert names == {one: "env true", two[0]: "true.1", two[1]: "true.2"}


def test_queues_say_their_counts_are_of_active_jobs(panda: Panda) -> None:
    result = panda("queues", env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "active jobs" in result.stdout and "no jobs" not in result.stdout


def test_queues_show_the_jobs_that_just_ended(panda: Panda) -> None:
    """A queue that just ran jobs does not say "none": its ended jobs of the last 12 h are counted."""
    _submit(panda, "--exec", "true", "--njobs", "3")
    first, second, third = panda.dispatch()
    for job_id in (first, second):
        panda.report(job_id, "running")
        panda.report(job_id, "finished")
    panda.fail(third)
    listed = json.loads(panda("queues", "--json").stdout)
    [queue] = [q for q in listed if q["name"] == "TEST_QUEUE"]
    assert queue["recent"] == {"finished": 2, "failed": 1}  # (the failed one is retried: activated again)
    table = panda("queues", env={"COLUMNS": "120"}).stdout
    assert (
        "ended" in table and "finished 2" in table.replace(":", " ") and "failed 1" in table.replace(":", " ")
    )


def test_a_wrong_field_name_gets_a_suggestion(panda: Panda, tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"transformation": "/bin/true", "cores": 8}))
    result = panda("submit", str(job))
    assert result.exit_code != 0
    assert (
        "cores: Extra inputs are not permitted" in result.stderr
        and "did you mean coreCount?" in result.stderr
    )

"""panda-client's wire translated (protocol/legacy_client.py): JobSpec value lists of older clients,
prun's parameter maps, JEDI superstatus of every task status."""

from __future__ import annotations

import json

import pytest

from pandawms.core.errors import InvalidInput
from pandawms.core.tasks import TaskStatus
from pandawms.protocol import legacy_client as lc


def _values(**attrs: object) -> list[object]:
    return [attrs.get(a, lc.NULL) for a in lc.JOB_ATTRIBUTES]


def test_an_older_client_sends_fewer_attributes_and_the_rest_are_null() -> None:
    short = [*_values(transformation="/bin/echo", jobName="j")[: lc.MIN_JOB_VALUES], []]
    [job], [definition] = lc.parse_jobs(json.dumps([short]))
    assert (job.transformation, job.job_name, job.core_count, definition) == ("/bin/echo", "j", 1, 0)
    with pytest.raises(InvalidInput, match=r"jobs\[0\]: expected a JobSpec value list"):
        lc.parse_jobs(json.dumps([[*short[: lc.MIN_JOB_VALUES - 1], []]]))


def test_numbers_as_text_are_read_and_datetimes_ignored() -> None:
    values = _values(transformation="t", coreCount="4", creationTime={"_datetime_object": "2026-01-01"})
    [job], _ = lc.parse_jobs(json.dumps([[*values, []]]))
    assert job.core_count == 4


def test_prun_parameters_keep_what_pandawms_uses_and_name_the_rest() -> None:
    raw = {
        "taskName": "user.a.t/",
        "userName": "a",
        "transPath": "run",
        "noInput": True,
        "nEvents": 1,
        "osInfo": "Linux",
        "transHome": None,
        "jobParameters": [
            {"type": "constant", "value": "--sourceURL ${SURL}", "hidden": True},
            {"type": "template", "param_type": "output", "value": "o.$JEDITASKID.${SN}",
             "dataset": "user.a.o/", "consolidate": "x/"},
        ],
    }  # fmt: skip
    params, ignored = lc.task_params_of(raw, "https://h:1")
    assert ignored == ["osInfo"]
    assert [p.value for p in params.job_parameters] == ["--sourceURL https://h:1", "o.${JEDITASKID}.${SN}"]
    assert params.job_parameters[1].dataset == "user.a.o"


def test_every_task_status_has_a_superstatus_pbook_knows() -> None:
    known = {
        "registered",
        "ready",
        "running",
        "submitting",
        "done",
        "finished",
        "failed",
        "broken",
        "aborted",
    }
    assert set(lc.SUPER_STATUS) == set(TaskStatus)
    assert set(lc.SUPER_STATUS.values()) <= known
    wanted = {TaskStatus.REGISTERED, TaskStatus.DEFINED, TaskStatus.READY}
    assert set(lc.statuses_of({"superStatus": "registered|ready"})) == wanted

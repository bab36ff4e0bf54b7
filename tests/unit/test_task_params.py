"""task-parameter JSON: PanDA's shape is accepted, refined into a task row and datasets; bad input names
the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pandawms.core.errors import InvalidInput
from pandawms.core.specs import ProdSourceLabel
from pandawms.core.tasks import TaskDatasetType
from pandawms.core.taskspecs import split_codes
from pandawms.protocol.tasks import TaskParams, dataset_name_did, refine


def params(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "taskName": "user.alice.ana.v1",
        "userName": "alice",
        "vo": "atlas",
        "prodSourceLabel": "user",
        "transPath": "python3 ana.py",
        "nFilesPerJob": 2,
        "jobParameters": [
            {"type": "constant", "value": "--verbose"},
            {"type": "template", "param_type": "input", "value": "-i ${IN}", "dataset": "user.alice:in.v1"},
            {
                "type": "template",
                "param_type": "output",
                "value": "out.${SN}.root",
                "dataset": "user.alice.out.v1",
                "destination": "LOCAL_DISK",
            },
        ],
        "log": {"dataset": "user.alice.log.v1", "value": "log.${SN}.tgz"},
    }
    base.update(over)
    return base


def test_refines_into_task_and_datasets() -> None:
    r = refine(TaskParams.model_validate(params(ramCount=1500, coreCount=2, includedSite="A,B")))
    assert r.spec.task_name == "user.alice.ana.v1" and r.spec.transformation == "python3 ana.py"
    assert r.spec.prod_source_label is ProdSourceLabel.USER and r.priority == 1000
    assert r.spec.included_sites == ("A", "B") and r.spec.ram_count == 1500
    assert split_codes(r.spec.split_rule) == {"NF": "2"}
    assert [(d.type, d.scope, d.name, d.destination) for d in r.datasets] == [
        (TaskDatasetType.INPUT, "user.alice", "in.v1", ""),
        (TaskDatasetType.OUTPUT, "user.alice", "user.alice.out.v1", "LOCAL_DISK"),
        (TaskDatasetType.LOG, "user.alice", "user.alice.log.v1", ""),
    ]


def test_managed_default_priority_and_ram_in_mb_per_job() -> None:
    r = refine(
        TaskParams.model_validate(params(prodSourceLabel="managed", ramCount=4000, ramUnit="MB", coreCount=8))
    )
    assert r.priority == 100 and r.spec.ram_count == 500


def test_no_input_task_gets_a_pseudo_input() -> None:
    p = params(noInput=True, nEvents=1000, nEventsPerJob=100)
    p["jobParameters"] = [p["jobParameters"][0], p["jobParameters"][2]]
    r = refine(TaskParams.model_validate(p))
    assert r.datasets[0].type is TaskDatasetType.PSEUDO_INPUT
    assert split_codes(r.spec.split_rule)["NO"] == "1"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"taskName": ""}, "taskName"),
        ({"coreCount": 0}, "coreCount"),
        ({"nFilesPerJob": -1}, "nFilesPerJob"),
        ({"prodSourceLabel": "bogus"}, "prodSourceLabel"),
        ({"jobParameters": []}, "jobParameters"),
        ({"log": {"dataset": "user.alice.log", "value": "log.tgz"}}, "log.value"),
        ({"unknownKey": 1}, "unknownKey"),
        ({"includedSite": ["bad name!"]}, "includedSite"),
    ],
)
def test_bad_parameters_name_the_field(over: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        TaskParams.model_validate(params(**over))
    assert field.split(".")[0] in str(e.value)


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"jobParameters": [{"type": "constant", "value": "x"}]}, "jobParameters"),
        ({"noInput": True}, "noInput"),
        ({"mergeOutput": True}, "mergeSpec"),
        ({"includedSite": ["A"], "excludedSite": ["A"]}, "includedSite"),
        ({"nFilesPerJob": 5, "nMaxFilesPerJob": 2}, "nFilesPerJob"),
    ],
)
def test_refine_checks_across_fields(over: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        refine(TaskParams.model_validate(params(**over)))
    assert e.value.field == field


def test_a_secondary_input_is_refused_naming_its_item() -> None:
    p = params()
    p["jobParameters"].append(
        {"type": "template", "param_type": "input", "value": "--mb ${IN}", "dataset": "user.alice:mb.v1"}
    )
    with pytest.raises(InvalidInput, match=r"secondary input datasets .* are not supported") as e:
        refine(TaskParams.model_validate(p))
    assert e.value.field == "jobParameters[3]"


def test_output_dataset_used_twice_is_refused() -> None:
    p = params()
    p["log"] = {"dataset": "user.alice.out.v1", "value": "log.${SN}.tgz"}
    with pytest.raises(InvalidInput, match="already used"):
        refine(TaskParams.model_validate(p))


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("user.alice.x.v1", "user.alice"),
        ("mc23.123.evgen", "mc23"),
        ("s:name", "s"),
        ("group.phys.x", "group.phys"),
    ],
)
def test_dataset_scope(text: str, scope: str) -> None:
    assert dataset_name_did(text, "f").scope == scope


def test_dataset_without_scope_is_refused() -> None:
    with pytest.raises(InvalidInput, match="scope"):
        dataset_name_did("plain", "jobParameters[1].dataset")

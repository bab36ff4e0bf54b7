"""The commando's pure decisions: retry parameters, reassign sites and return status, avalanche flag,
a task's scout settings."""

from __future__ import annotations

import pytest

from pandawms.core.errors import InvalidInput
from pandawms.core.scouts import ScoutSettings
from pandawms.core.task_commands import (
    NEW_PARAMS,
    after_reassign,
    new_param_columns,
    reassigned_sites,
    task_scout_settings,
    with_skip_scout,
)
from pandawms.core.tasks import TaskStatus
from pandawms.core.taskspecs import TaskSpec

T = TaskStatus
SPEC = TaskSpec(
    task_name="t", user_name="u", transformation="x", included_sites=("A",), excluded_sites=("B",)
)


def test_new_params_map_to_columns() -> None:
    assert new_param_columns({"ramCount": 4000, "maxAttempt": 5, "cpuTime": 1.5}) == {
        "ram_count": 4000,
        "max_attempt": 5,
        "cpu_time": 1.5,
    }
    assert new_param_columns({"ramCount": 4000.0}) == {"ram_count": 4000}
    assert set(NEW_PARAMS) >= {"ramCount", "maxAttempt", "coreCount", "walltime"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"split": 1}, "newParams.split: not a parameter a retry may change"),
        ({"ramCount": "big"}, "newParams.ramCount: must be a number"),
        ({"ramCount": True}, "newParams.ramCount: must be a number"),
        ({"ramCount": 1.5}, "newParams.ramCount: must be a whole number"),
        ({"coreCount": 0}, "newParams.coreCount: must be >= 1"),
        ({"maxAttempt": 51}, "newParams.maxAttempt: at most 50"),
    ],
)
def test_bad_new_params_name_the_field(params: dict[str, int | float | str | bool], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        new_param_columns(params)
    assert err.value.field == f"newParams.{next(iter(params))}"


def test_reassign_sites_and_return() -> None:
    assert reassigned_sites(SPEC, "C", ("D",)) == (("C",), ("B", "D"))
    assert reassigned_sites(SPEC, None, ("B", "D")) == (("A",), ("B", "D"))
    with pytest.raises(InvalidInput, match="excludedSite: C is also the site to go to"):
        reassigned_sites(SPEC, "C", ("C",))
    assert after_reassign(T.RUNNING) is T.RUNNING
    assert after_reassign(T.PENDING) is T.READY and after_reassign(T.EXHAUSTED) is T.READY


def test_avalanche_sets_skip_scout() -> None:
    assert with_skip_scout("") == "SK=1"
    assert with_skip_scout("NF=2,SK=1") == "NF=2,SK=1"


def test_task_scout_settings() -> None:
    spec = TaskSpec(
        task_name="t",
        user_name="u",
        transformation="x",
        base_walltime=300,
        cpu_efficiency=80,
        base_ram_count=500,
        split_rule="MC=70,SS=80",
    )
    s = task_scout_settings(spec, ScoutSettings(ram_margin=1.2))
    assert (s.base_walltime, s.cpu_efficiency, s.base_ram_count, s.ram_margin) == (300, 0.8, 500, 1.2)
    assert (s.success_rate, s.min_cpu_efficiency) == (0.8, 0.7)

"""Slurm's native states and command output translated to worker states (table-driven, pure), and the
backend's retry / never-lose-a-worker rules with a scripted command runner in place of the Slurm commands."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from pandawms.factory import FactoryConfig, FactoryQueue, PilotOptions
from pandawms.factory.backends.base import WorkerSpec, WorkerState
from pandawms.factory.backends.slurm import Completed, SlurmBackend, SlurmBackendConfig
from pandawms.factory.backends.slurm_script import render, time_limit_minutes
from pandawms.factory.backends.slurm_states import (
    SLURM_STATES,
    SlurmJob,
    classify,
    merge,
    normalize_state,
    parse_exit_code,
    parse_sacct,
    parse_sbatch,
    parse_squeue,
)
from pandawms.factory.factory import pilot_argv
from pandawms.pilot.config import batch_id_from_env

S, R, F, X, C = (
    WorkerState.SUBMITTED,
    WorkerState.RUNNING,
    WorkerState.FINISHED,
    WorkerState.FAILED,
    WorkerState.CANCELLED,
)


@pytest.mark.parametrize(
    ("state", "exit_code", "expected", "diag_has"),
    [
        ("PENDING", None, S, "slurm PENDING"),
        ("CONFIGURING", None, S, "CONFIGURING"),
        ("REQUEUED", None, S, "REQUEUED"),
        ("RUNNING", None, R, "RUNNING"),
        ("COMPLETING", None, R, "COMPLETING"),
        ("SUSPENDED", None, R, "SUSPENDED"),
        ("COMPLETED", 0, F, "exit 0: success"),
        ("FAILED", 82, F, "exit 82"),  # an empty pilot: no job for it, not a failure
        ("FAILED", 65, X, "exit 65: general error"),
        ("FAILED", None, X, "slurm FAILED"),
        ("TIMEOUT", 143, X, "slurm TIMEOUT"),
        ("PREEMPTED", None, X, "PREEMPTED"),
        ("NODE_FAIL", None, X, "NODE_FAIL"),
        ("OUT_OF_MEMORY", 137, X, "OUT_OF_MEMORY"),
        ("BOOT_FAIL", None, X, "BOOT_FAIL"),
        ("DEADLINE", None, X, "DEADLINE"),
        ("CANCELLED", 0, C, "slurm CANCELLED"),
        ("CANCELLED", 143, C, "killed by signal SIGTERM"),
        ("SOMETHING_NEW", None, R, "unknown Slurm state"),  # never ends a worker by mistake
    ],
)
def test_classify(state: str, exit_code: int | None, expected: WorkerState, diag_has: str) -> None:
    status = classify(SlurmJob("7", state, "", exit_code))
    assert status.state is expected
    assert status.exit_code == exit_code
    assert diag_has in status.diag


def test_every_final_worker_state_is_reachable_from_the_table() -> None:
    assert set(SLURM_STATES.values()) == {S, R, F, X, C}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("CANCELLED by 0", "CANCELLED"), ("COMPLETED+", "COMPLETED"), ("running", "RUNNING"), ("", "")],
)
def test_normalize_state(raw: str, expected: str) -> None:
    assert normalize_state(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0:0", 0), ("3:0", 3), ("0:15", 143), ("0:9", 137), ("2", 2), ("", None), ("x:1", None)],
)
def test_parse_exit_code(raw: str, expected: int | None) -> None:
    assert parse_exit_code(raw) == expected


@pytest.mark.parametrize(("out", "expected"), [("123\n", "123"), ("456;cluster\n", "456")])
def test_parse_sbatch(out: str, expected: str) -> None:
    assert parse_sbatch(out) == expected


@pytest.mark.parametrize("out", ["", "sbatch: error: Batch job submission failed\n", "abc"])
def test_parse_sbatch_refuses_output_without_a_job_id(out: str) -> None:
    with pytest.raises(ValueError, match="no job id"):
        parse_sbatch(out)


def test_parse_squeue_keeps_array_tasks_and_raw_ids_of_started_ones() -> None:
    out = "5_0|7|RUNNING|None\n5_1|5|PENDING|Resources\n9|9|CANCELLED|None\ngarbage\n5_[2-3]|5|PENDING|x\n"
    jobs = parse_squeue(out)
    assert sorted(jobs) == ["5_0", "5_1", "9"]
    assert jobs["5_0"] == SlurmJob("5_0", "RUNNING", "None", None, "7")
    assert jobs["5_1"].raw_id == ""  # a pending task still shares the array's id
    assert jobs["5_1"].reason == "Resources"


def test_parse_sacct_skips_steps_and_keeps_the_last_line() -> None:
    out = "12|FAILED|3:0\n12.batch|FAILED|3:0\n13|CANCELLED by 0|0:15\n13|COMPLETED|0:0\n"
    jobs = parse_sacct(out)
    assert jobs == {"12": SlurmJob("12", "FAILED", "", 3), "13": SlurmJob("13", "COMPLETED", "", 0)}


def test_merge_takes_the_exit_code_from_history_only_when_both_agree_it_ended() -> None:
    live = SlurmJob("4", "TIMEOUT", "TimeLimit")
    assert merge(live, SlurmJob("4", "TIMEOUT", "", 143)) == SlurmJob("4", "TIMEOUT", "TimeLimit", 143)
    running = SlurmJob("4", "RUNNING")
    assert merge(running, SlurmJob("4", "COMPLETED", "", 0)) is running
    assert merge(None, live) is live and merge(live, None) is live and merge(None, None) is None


def test_time_limit_rounds_up_to_whole_minutes() -> None:
    assert [time_limit_minutes(s) for s in (1, 60, 61, 3600)] == [1, 1, 2, 60]


def _spec(i: int, tmp: Path) -> WorkerSpec:
    d = tmp / f"worker-{i}"
    return WorkerSpec(
        i, "Q", ("python", "-m", "pilot", "--worker-id", str(i)), d, d / "pilot.out", {"A": "b c"}
    )


def test_script_runs_each_array_task_s_own_pilot(tmp_path: Path) -> None:
    script = render(
        "#!/bin/bash\n$directives\nmodule load x\n$pilot\n", ["--qos=q"], [_spec(1, tmp_path)] * 1
    )
    assert "#SBATCH --qos=q" in script and "module load x" in script
    assert "export A='b c'" in script and "exec python -m pilot --worker-id 1 >>" in script
    with pytest.raises(ValueError, match=r"no \$pilot"):
        render("#!/bin/bash\n", [], [_spec(1, tmp_path)])
    with pytest.raises(ValueError, match="bad Slurm job-script template"):
        render("$pilot $unknown", [], [_spec(1, tmp_path)])


class Script:
    """A scripted stand-in for the Slurm commands: answers by command name, records every call."""

    def __init__(self, answers: Mapping[str, list[Completed | Exception]]) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Completed:
        self.calls.append(list(argv))
        answer = self.answers[argv[0]].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


DOWN = Completed(1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)")


def _backend(script: Script, **kw: object) -> SlurmBackend:
    values: dict[str, object] = {"retry_base": 0.0, "retry_cap": 0.0, "retry_budget": 5.0, **kw}
    config = SlurmBackendConfig(**values)  # type: ignore[arg-type]
    clock = iter(range(1000))
    return SlurmBackend(config, runner=script, sleep=lambda _s: None, clock=lambda: float(next(clock)))


def test_array_submission_gives_one_id_per_task_and_its_resources(tmp_path: Path) -> None:
    script = Script({"sbatch": [Completed(0, "41\n", "")]})
    backend = _backend(script, partition="p", account="a")
    specs = [
        WorkerSpec(i, "Q", ("pilot",), tmp_path / f"w{i}", tmp_path / f"w{i}.out", None, 2, 4000, 3600.0)
        for i in range(3)
    ]
    assert backend.submit_many(specs) == ["41_0", "41_1", "41_2"]
    (argv,) = script.calls
    for arg in ("--array=0-2", "--cpus-per-task=2", "--mem=4000M", "--time=60", "--signal=B:TERM@60"):
        assert arg in argv
    assert "--partition=p" in argv and "--account=a" in argv and "--qos" not in " ".join(argv)


def test_sbatch_that_times_out_but_was_accepted_is_adopted_not_resubmitted(tmp_path: Path) -> None:
    script = Script(
        {"sbatch": [subprocess.TimeoutExpired("sbatch", 30)], "squeue": [Completed(0, "77\n", "")]}
    )
    assert _backend(script).submit(_spec(5, tmp_path)) == "77"
    assert [c[0] for c in script.calls] == ["sbatch", "squeue"]
    assert "--name=pandawms-5" in script.calls[1]


def test_a_bad_partition_fails_the_submission_at_once(tmp_path: Path) -> None:
    bad = Completed(1, "", "sbatch: error: invalid partition specified: nope")
    result = _backend(Script({"sbatch": [bad]})).submit_many([_spec(1, tmp_path)])
    assert [str(r) for r in result] == ["sbatch failed: sbatch: error: invalid partition specified: nope"]


def test_controller_down_reports_nothing_and_retries_with_backoff() -> None:
    script = Script({"squeue": [DOWN] * 10})
    backend = _backend(script)
    assert backend.status(["1", "2_0"]) == {}  # nobody ends: the workers stay as they were
    assert len(script.calls) > 1  # retried within the budget
    assert "Unable to contact" in backend.last_errors[-1]


def test_a_job_unknown_to_squeue_and_sacct_is_missed_only_after_missed_after_polls() -> None:
    empty = Completed(0, "", "")
    script = Script({"squeue": [empty] * 3, "sacct": [empty] * 3})
    backend = _backend(script, missed_after=3)
    assert backend.status(["8"]) == {} and backend.status(["8"]) == {}
    third = backend.status(["8"])
    assert third["8"].state is WorkerState.MISSED and "no longer knows job 8" in third["8"].diag


def test_an_ended_array_task_gets_its_exit_code_from_completion_data_by_its_own_id() -> None:
    script = Script(
        {
            "squeue": [Completed(0, "3_1|9|FAILED|NonZeroExitCode\n", "")],
            "sacct": [Completed(0, "9|FAILED|65:0\n", "")],
        }
    )
    status = _backend(script).status(["3_1"])["3_1"]
    assert (status.state, status.exit_code) == (WorkerState.FAILED, 65)
    assert "--jobs=3_1,9" in script.calls[1]


def test_failed_scancel_is_retried_at_the_next_poll() -> None:
    scancels: list[Completed | Exception] = [DOWN, DOWN, DOWN, Completed(0, "", "")]
    script = Script({"scancel": scancels, "squeue": [Completed(0, "", "")]})
    backend = _backend(script, retry_budget=2.0, sacct=False)
    backend.cancel("4")
    backend.status(["4"])
    assert [c for c in script.calls if c[0] == "scancel"][-1] == ["scancel", "4"]
    assert script.answers["scancel"] == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SLURM_JOB_ID": "12"}, "12"),
        ({"SLURM_JOB_ID": "14", "SLURM_ARRAY_JOB_ID": "12", "SLURM_ARRAY_TASK_ID": "2"}, "12_2"),
        ({}, None),
    ],
)
def test_a_pilot_knows_its_slurm_job_as_squeue_names_it(env: dict[str, str], expected: str | None) -> None:
    assert batch_id_from_env(env) == expected


def test_pilot_lifetime_ends_at_the_signal_before_the_time_limit(tmp_path: Path) -> None:
    # given a Slurm queue with SIGTERM 60 s before its limit
    backend = _backend(Script({}), signal_lead=60)
    # then its pilots live until that signal (the limit is whole minutes), never less than a second
    assert [backend.pilot_lifetime(w) for w in (3600.0, 90.0, 0.0)] == [3540.0, 60.0, None]
    assert _backend(Script({}), signal_lead=600).pilot_lifetime(60.0) == 1.0
    # and the pilot's command line carries the cap only where it is below the configured lifetime
    config = FactoryConfig("http://x", pilot=PilotOptions(lifetime=1000.0))
    queue = FactoryQueue("Q")
    capped = pilot_argv(config, queue, 1, tmp_path, max_lifetime=540.0)
    assert capped[capped.index("--lifetime") + 1] == "540.0"
    kept = pilot_argv(config, queue, 1, tmp_path, max_lifetime=5000.0)
    assert kept[kept.index("--lifetime") + 1] == "1000.0"


def test_whole_node_worker_asks_for_one_exclusive_node_instead_of_cores(tmp_path: Path) -> None:
    # given a whole-node queue backend
    script = Script({"sbatch": [Completed(0, "42\n", "")]})
    backend = _backend(script, whole_node=True)
    spec = WorkerSpec(1, "Q", ("pilot",), tmp_path / "w1", tmp_path / "w1.out", None, 2, 4000, 3600.0)
    # when a worker is submitted
    assert backend.submit_many([spec]) == ["42"]
    (argv,) = script.calls
    # then it gets a node of its own with all of its memory, and no per-task core count
    for arg in ("--nodes=1", "--ntasks=1", "--exclusive", "--mem=0", "--time=60"):
        assert arg in argv
    assert not [a for a in argv if a.startswith("--cpus-per-task") or a == "--mem=4000M"]

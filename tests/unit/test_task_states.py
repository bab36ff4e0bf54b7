"""The task state machine is data: every state has a row, commands name real states, the final rule."""

from __future__ import annotations

import itertools

import pytest

from pandawms.core.tasks import (
    COMMAND_ALLOWED_FROM,
    COMMAND_STATUS,
    TASK_DATASET_TRANSITIONS,
    TASK_FILE_TRANSITIONS,
    TASK_FINAL_STATES,
    TASK_TRANSITIONS,
    FileCounts,
    TaskCommand,
    TaskDatasetStatus,
    TaskFileStatus,
    TaskStatus,
    command_refusal,
    final_status,
    task_allowed,
)
from pandawms.core.taskspecs import join_split_codes, split_codes

T = TaskStatus
MAIN_LINE = [T.REGISTERED, T.DEFINED, T.READY, T.SCOUTING, T.SCOUTED, T.RUNNING, T.PREPARED, T.DONE]


def test_every_state_has_a_row() -> None:
    assert set(TASK_TRANSITIONS) == set(TaskStatus)
    assert set(TASK_DATASET_TRANSITIONS) == set(TaskDatasetStatus)
    assert set(TASK_FILE_TRANSITIONS) == set(TaskFileStatus)


def test_main_line_is_allowed() -> None:
    for a, b in itertools.pairwise(MAIN_LINE):
        assert task_allowed(a, b), (a, b)


@pytest.mark.parametrize("final", sorted(TASK_FINAL_STATES))
def test_final_states_only_retry(final: TaskStatus) -> None:
    # broken is hopeless; the others can only be retried
    assert TASK_TRANSITIONS[final] <= {T.TORETRY}
    assert (final is T.BROKEN) == (not TASK_TRANSITIONS[final])


@pytest.mark.parametrize("command", list(TaskCommand))
def test_commands_from_states_the_table_allows(command: TaskCommand) -> None:
    status = COMMAND_STATUS[command]
    for state in COMMAND_ALLOWED_FROM[command]:
        assert command_refusal(command, state) is None
        if status is not None and state is not status:
            assert task_allowed(state, status), f"{command}: {state} -> {status}"
    for state in set(TaskStatus) - COMMAND_ALLOWED_FROM[command]:
        assert command_refusal(command, state) is not None


def test_kill_and_finish_reach_their_ends() -> None:
    assert task_allowed(T.ABORTING, T.ABORTED)
    assert task_allowed(T.FINISHING, T.PASSED)
    assert {T.DONE, T.FINISHED, T.FAILED} <= TASK_TRANSITIONS[T.PASSED]
    assert command_refusal(TaskCommand.RETRY, T.BROKEN) is not None
    assert command_refusal(TaskCommand.PAUSE, T.DONE) is not None


@pytest.mark.parametrize(
    ("counts", "kw", "expected"),
    [
        (FileCounts(10, 10, 0), {}, T.DONE),
        (FileCounts(10, 10, 0), {"parent_done": False}, T.FINISHED),
        (FileCounts(10, 10, 0), {"input_closed": False}, T.FINISHED),
        (FileCounts(10, 7, 3), {}, T.FINISHED),
        (FileCounts(10, 0, 10), {}, T.FAILED),
        (FileCounts(0, 0, 0), {}, T.FAILED),
        (FileCounts(10, 7, 3), {"fail_goal_unreached": True, "goal_per_mille": 800}, T.FAILED),
        (FileCounts(10, 8, 2), {"fail_goal_unreached": True, "goal_per_mille": 800}, T.FINISHED),
    ],
    ids=["all-ok", "parent-running", "input-open", "some-ok", "none-ok", "empty", "goal-missed", "goal-met"],
)
def test_final_status_rule(counts: FileCounts, kw: dict[str, object], expected: TaskStatus) -> None:
    assert final_status(counts, **kw) is expected  # type: ignore[arg-type]


def test_split_codes_round_trip() -> None:
    codes = split_codes("NF=2, MF=200,US")
    assert codes == {"NF": "2", "MF": "200", "US": "1"}
    assert split_codes(join_split_codes(codes)) == codes

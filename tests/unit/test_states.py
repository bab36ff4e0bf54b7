"""The job state machine table: every allowed and refused transition, finals are terminal."""

from __future__ import annotations

import pytest

from pandawms.core.states import FINAL_STATES, JOB_TRANSITIONS, JobStatus, is_allowed, parse_status

S = JobStatus

ALLOWED = [
    (S.DEFINED, S.ACTIVATED),
    (S.DEFINED, S.ASSIGNED),
    (S.ASSIGNED, S.ACTIVATED),
    (S.ACTIVATED, S.SENT),
    (S.SENT, S.STARTING),
    (S.SENT, S.RUNNING),
    (S.STARTING, S.RUNNING),
    (S.RUNNING, S.HOLDING),
    (S.HOLDING, S.FINISHED),
    (S.HOLDING, S.FAILED),
    (S.HOLDING, S.TRANSFERRING),
    (S.TRANSFERRING, S.FINISHED),
    (S.ACTIVATED, S.CLOSED),
    (S.ACTIVATED, S.CANCELLED),
    (S.RUNNING, S.FAILED),
    (S.SENT, S.FAILED),
]
REFUSED = [
    (S.ACTIVATED, S.RUNNING),
    (S.DEFINED, S.SENT),
    (S.RUNNING, S.SENT),
    (S.RUNNING, S.ACTIVATED),
    (S.TRANSFERRING, S.HOLDING),
    (S.HOLDING, S.RUNNING),
    (S.RUNNING, S.FINISHED),
    (S.ACTIVATED, S.FINISHED),
]


@pytest.mark.parametrize(("src", "dst"), ALLOWED)
def test_allowed(src: JobStatus, dst: JobStatus) -> None:
    assert is_allowed(src, dst)


@pytest.mark.parametrize(("src", "dst"), REFUSED)
def test_refused(src: JobStatus, dst: JobStatus) -> None:
    assert not is_allowed(src, dst)


def test_final_states_never_change_and_every_state_has_a_row() -> None:
    assert set(JOB_TRANSITIONS) == set(JobStatus)
    for final in FINAL_STATES:
        assert JOB_TRANSITIONS[final] == frozenset()
    for src, targets in JOB_TRANSITIONS.items():
        assert src not in targets
        if src not in FINAL_STATES:
            assert S.FAILED in targets or S.CLOSED in targets


def test_every_active_state_can_reach_finished() -> None:
    for start in set(JobStatus) - FINAL_STATES:
        seen, todo = {start}, [start]
        while todo:
            for nxt in JOB_TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert S.FINISHED in seen, start


def test_parse_status_names_allowed_values() -> None:
    assert parse_status("running") is S.RUNNING
    with pytest.raises(ValueError, match="expected one of: defined"):
        parse_status("runing")

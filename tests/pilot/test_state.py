"""The job phase machine: the transition table, checked advances, the kill request and the errors."""

from __future__ import annotations

import itertools

import pytest

from pandawms.pilot.state import PHASE_TRANSITIONS, InvalidPhaseTransition, JobPhase, JobState

P = JobPhase
HAPPY_PATH = [P.SETUP, P.STAGEIN, P.RUNNING, P.STAGEOUT, P.LOGGING, P.REPORTING, P.DONE]


def _state_in(phase: JobPhase) -> JobState:
    state = JobState(1)
    for step in HAPPY_PATH[: HAPPY_PATH.index(phase) + 1] if phase is not P.RECEIVED else []:
        state.advance(step)
    return state


@pytest.mark.parametrize(("current", "target"), list(itertools.product(JobPhase, JobPhase)))
def test_advance_follows_the_table(current: JobPhase, target: JobPhase) -> None:
    # given a job in `current`, when advancing to `target`, then only the table's transitions are accepted
    state = _state_in(current)
    if target in PHASE_TRANSITIONS[current]:
        state.advance(target)
        assert state.phase is target
    else:
        with pytest.raises(InvalidPhaseTransition):
            state.advance(target)
        assert state.phase is current


def test_every_phase_before_the_log_can_abort_to_logging_and_all_paths_end_in_done() -> None:
    for phase in (P.RECEIVED, P.SETUP, P.STAGEIN, P.RUNNING, P.STAGEOUT):
        assert P.LOGGING in PHASE_TRANSITIONS[phase]
    assert PHASE_TRANSITIONS[P.DONE] == frozenset()


def test_first_error_is_reported_and_the_status_follows_it() -> None:
    state = JobState(7)
    assert state.final_status == "finished" and state.first_error is None
    state.record_error(1305, "payload exited with code 3")
    state.record_error(1165, "missing output")
    assert state.final_status == "failed"
    assert state.first_error is not None and state.first_error.code == 1305
    assert [e.code for e in state.errors] == [1305, 1165]


def test_only_the_first_kill_request_counts() -> None:
    state = JobState(7)
    assert state.request_kill(1144, "server kill")
    assert not state.request_kill(1201, "SIGTERM")
    assert state.kill_requested.is_set() and state.wakeup.is_set()
    assert [e.code for e in state.errors] == [1144]


def test_heartbeats_only_while_the_job_is_active() -> None:
    state = JobState(1)
    seen = []
    for phase in HAPPY_PATH:
        state.advance(phase)
        seen.append(state.sends_heartbeats)
    assert seen == [True, True, True, True, False, False, False]

"""Transition rules keyed by (from, to) (core/rules.py) and what every job state must have."""

from __future__ import annotations

import dataclasses

import pytest

from pandawms.agents.watchdogs import rules_from_config
from pandawms.config import WatchdogConfig
from pandawms.core.rules import TRANSITION_RULES, plan_transition, rule_for
from pandawms.core.specs import QueueLoad
from pandawms.core.states import ACTIVE_STATES, FINAL_STATES, JobStatus, is_allowed
from pandawms.monitor.style import STATE_CHART
from pandawms.protocol.display import STATE_FILL, STATE_ORDER

S = JobStatus
RULES = rules_from_config(WatchdogConfig())


@pytest.mark.parametrize("state", sorted(ACTIVE_STATES))
def test_every_active_state_has_a_timeout_rule(state: JobStatus) -> None:
    assert any(state in r.statuses for r in RULES), f"no watchdog ends jobs stuck in {state}"


@pytest.mark.parametrize("state", list(JobStatus))
def test_every_state_has_a_colour_and_a_place(state: JobStatus) -> None:
    assert state in STATE_FILL
    assert state in STATE_CHART
    assert state.value in STATE_ORDER


def test_queue_load_counts_job_states() -> None:
    assert {f.name for f in dataclasses.fields(QueueLoad)} <= {s.value for s in ACTIVE_STATES}


@pytest.mark.parametrize("state", sorted(FINAL_STATES))
def test_every_ending_stamps_the_end_time(state: JobStatus) -> None:
    assert rule_for(S.RUNNING, state).stamp_end


def test_rules_name_allowed_transitions() -> None:
    for current, target in TRANSITION_RULES:
        assert current is None or is_allowed(current, target), (current, target)


CASES = [
    # current, target, via, kill pending -> path, retry, refusal
    (S.RUNNING, S.FAILED, (), False, (S.RUNNING, S.FAILED), True, ""),
    (S.RUNNING, S.FAILED, (), True, (S.RUNNING, S.CANCELLED), False, ""),
    (S.RUNNING, S.FINISHED, (S.HOLDING,), True, (S.RUNNING, S.HOLDING, S.CANCELLED), False, ""),
    (S.SENT, S.FINISHED, (S.HOLDING,), False, (S.SENT, S.HOLDING, S.FINISHED), False, ""),
    (S.ACTIVATED, S.CLOSED, (), False, (S.ACTIVATED, S.CLOSED), False, ""),
    (S.FINISHED, S.FAILED, (), False, (S.FINISHED, S.FAILED), True, "cannot go finished -> failed"),
    (S.DEFINED, S.RUNNING, (), False, (S.DEFINED, S.RUNNING), False, "cannot go defined -> running"),
]


@pytest.mark.parametrize(("current", "target", "via", "kill", "path", "retry", "refusal"), CASES)
def test_plan_transition(
    current: JobStatus,
    target: JobStatus,
    via: tuple[JobStatus, ...],
    kill: bool,
    path: tuple[JobStatus, ...],
    retry: bool,
    refusal: str,
) -> None:
    plan = plan_transition(current, target, via, kill_pending=kill)
    assert (plan.path, plan.rule.retry, plan.refusal) == (path, retry, refusal)


def test_only_from_refuses_a_job_that_moved_on() -> None:
    plan = plan_transition(S.RUNNING, S.FAILED, only_from=frozenset({S.SENT}))
    assert plan.refusal == "is running, not sent"


def test_start_time_is_stamped_when_a_pilot_starts_running() -> None:
    assert rule_for(S.SENT, S.RUNNING).stamp_start
    assert rule_for(S.STARTING, S.RUNNING).stamp_start
    assert not rule_for(S.RUNNING, S.HOLDING).stamp_start

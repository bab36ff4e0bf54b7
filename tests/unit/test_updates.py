"""Pilot update rules (reference states.md §1.2) as a table."""

from __future__ import annotations

import pytest

from pandawms.core.states import JobStatus
from pandawms.core.updates import PilotReport, UpdateKind, plan_update

S = JobStatus
K = UpdateKind

CASES = [
    # current, reported, command_to_pilot -> kind, target, command (a final update goes via holding:
    # test_final_updates_pass_through_holding)
    (S.SENT, "starting", "", K.TRANSITION, S.STARTING, ""),
    (S.SENT, "running", "", K.TRANSITION, S.RUNNING, ""),
    (S.STARTING, "running", "", K.TRANSITION, S.RUNNING, ""),
    (S.RUNNING, "running", "", K.HEARTBEAT, None, ""),
    (S.RUNNING, "starting", "", K.HEARTBEAT, None, ""),
    (S.RUNNING, "finished", "", K.FINAL, S.FINISHED, ""),
    (S.RUNNING, "failed", "", K.FINAL, S.FAILED, ""),
    (S.RUNNING, "failed", "tobekilled", K.FINAL, S.FAILED, "tobekilled"),
    (S.RUNNING, "running", "tobekilled", K.HEARTBEAT, None, "tobekilled"),
    (S.RUNNING, "holding", "", K.TRANSITION, S.HOLDING, ""),
    (S.HOLDING, "running", "", K.REFUSE, None, ""),
    (S.HOLDING, "finished", "", K.FINAL, S.FINISHED, ""),
    (S.TRANSFERRING, "holding", "", K.REFUSE, None, ""),
    (S.FINISHED, "finished", "", K.REFUSE, None, "alreadydone"),
    (S.FAILED, "running", "", K.REFUSE, None, "tobekilled"),
    (S.CANCELLED, "failed", "tobekilled", K.REFUSE, None, "alreadydone"),
]


@pytest.mark.parametrize(("current", "reported", "cmd", "kind", "target", "command"), CASES)
def test_plan_update(
    current: JobStatus, reported: str, cmd: str, kind: UpdateKind, target: JobStatus | None, command: str
) -> None:
    plan = plan_update(current, 1, cmd, PilotReport(panda_id=1, status=reported))
    assert (plan.kind, plan.target, plan.command) == (kind, target, command)


def test_attempt_mismatch_is_refused_with_kill() -> None:
    plan = plan_update(S.RUNNING, 2, "", PilotReport(panda_id=1, status="running", attempt_nr=1))
    assert plan.kind is K.REFUSE and plan.command == "tobekilled" and "attempt 1" in plan.message


@pytest.mark.parametrize(
    ("current", "via"), [(S.SENT, (S.HOLDING,)), (S.RUNNING, (S.HOLDING,)), (S.HOLDING, ())]
)
def test_final_updates_pass_through_holding(current: JobStatus, via: tuple[JobStatus, ...]) -> None:
    plan = plan_update(current, 1, "", PilotReport(panda_id=1, status="finished"))
    assert plan.via == via

"""core.chaining as tables: the parent as a child sees it, a defined child's start, when a feed stops."""

from __future__ import annotations

import pytest

from pandawms.core.chaining import ParentState, Start, input_stops, parent_state, start_child
from pandawms.core.tasks import TaskStatus

P, T = ParentState, TaskStatus


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (None, P.UNKNOWN),
        (T.DONE, P.COMPLETED),
        (T.FINISHED, P.COMPLETED),
        (T.FAILED, P.CORRUPTED),
        (T.BROKEN, P.CORRUPTED),
        (T.ABORTED, P.CORRUPTED),
        *[(s, P.RUNNING) for s in (T.DEFINED, T.RUNNING, T.PAUSED, T.PENDING, T.EXHAUSTED, T.ABORTING)],
    ],
)
def test_parent_state(status: TaskStatus | None, state: ParentState) -> None:
    assert parent_state(status) is state


@pytest.mark.parametrize(
    ("parent", "no_wait", "fed", "action"),
    [
        (P.RUNNING, False, 0, Start.WAIT),
        (P.RUNNING, False, 3, Start.GO),
        (P.RUNNING, True, 0, Start.GO),
        (P.COMPLETED, False, 0, Start.GO),  # the usual checks: an empty input holds the task
        (P.UNKNOWN, False, 0, Start.GO),
        (P.CORRUPTED, False, 5, Start.BREAK),
        (P.CORRUPTED, True, 0, Start.BREAK),
    ],
)
def test_start_child(parent: ParentState, no_wait: bool, fed: int, action: Start) -> None:
    decision = start_child(7, parent, "x", no_wait=no_wait, fed_files=fed)
    assert decision.action is action
    if action is Start.BREAK:
        assert decision.reason == "parent task 7 failed to complete (x)"
    if action is Start.WAIT:
        assert decision.reason == "parent task 7 has produced no input file yet"


@pytest.mark.parametrize(
    ("parent", "exists", "is_open", "stops"),
    [
        (P.RUNNING, True, True, False),
        (P.RUNNING, True, False, False),  # closed but the parent may still reopen and add
        (P.RUNNING, False, False, False),
        (P.COMPLETED, True, True, False),  # its PostProcessor closes it in the same transaction
        (P.COMPLETED, True, False, True),
        (P.COMPLETED, False, False, True),
        (P.CORRUPTED, True, True, True),  # a broken parent never closes its outputs
        (P.UNKNOWN, True, True, True),
    ],
)
def test_input_stops(parent: ParentState, exists: bool, is_open: bool, stops: bool) -> None:
    assert input_stops(parent, exists=exists, is_open=is_open) is stops

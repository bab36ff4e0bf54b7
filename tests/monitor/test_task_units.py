"""Pure parts of the task pages: task state colours and order, the task filter grammar, progress figures."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pandawms.core.errors import InvalidInput
from pandawms.core.tasks import FileCounts, TaskFileStatus, TaskStatus
from pandawms.monitor.pages_tasks import parse_task_selection, progress_out
from pandawms.protocol.display import STATE_FILL, TASK_STATE_ORDER

NOW = datetime(2026, 1, 1, 12, 0, 0)


def test_every_task_and_file_state_has_a_colour_and_tasks_a_place() -> None:
    assert sorted(TASK_STATE_ORDER) == sorted(s.value for s in TaskStatus)
    assert all(s in STATE_FILL for s in TaskStatus) and all(s in STATE_FILL for s in TaskFileStatus)


@pytest.mark.parametrize(
    ("state", "fill"),
    [
        ("done", "#62AC21"),
        ("finished", "#96ca69"),
        ("scouting", "#DBF1C6"),
        ("broken", "#db9591"),
        ("running", "#C7E9A9"),
    ],
)
def test_task_states_take_bigpanda_fills_shared_with_job_states(state: str, fill: str) -> None:
    assert STATE_FILL[state] == fill


def test_task_selection_grammar_and_window() -> None:
    sel, window = parse_task_selection({"status": "run*|scout*", "username": "alice|bob", "days": "2"}, NOW)
    assert sel.statuses == ("scouting", "scouted", "running") and window.since == NOW - timedelta(days=2)
    assert [m.column for m in sel.matches] == ["user_name"]
    active, lifted = parse_task_selection({"status": "pending"}, NOW)
    assert active.statuses == ("pending",) and lifted.since is None
    by_id, any_time = parse_task_selection({"jeditaskid": "7,9"}, NOW)
    assert by_id.ids == (7, 9) and any_time.since is None
    default, week = parse_task_selection({}, NOW)
    assert week.since == NOW - timedelta(days=7) and default.status_only
    for bad, field in (
        ({"status": "zzz*"}, "status"),
        ({"jeditaskid": "x"}, "jeditaskid"),
        ({"taskname": "a|"}, "taskname"),
    ):
        with pytest.raises(InvalidInput) as err:
            parse_task_selection(bad, NOW)
        assert err.value.field == field


def test_progress_in_files() -> None:
    p = progress_out(FileCounts(total=3, finished=1, failed=1))
    assert (p.remaining, p.finished_percent, p.failed_percent) == (1, 33.3, 33.3)
    empty = progress_out(FileCounts(0, 0, 0))
    assert (empty.remaining, empty.finished_percent) == (0, 0.0)

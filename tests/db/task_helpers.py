"""Task helpers for API and CLI tests: task-parameter JSON, submission, and moving a task along its
states through the one task status writer (services/lifecycle_tasks.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from pandawms.core.tasks import TaskStatus
from pandawms.db.engine import Database
from pandawms.services import lifecycle_tasks
from tests.db.helpers import API, ok

T = TaskStatus
# registered -> defined is done by task/submit; these reach the final states from defined
TO_RUNNING = (T.READY, T.RUNNING)
TO_DONE = (T.READY, T.RUNNING, T.PREPARED, T.DONE)
TO_ABORTED = (T.ABORTING, T.ABORTED)


def task_params(name: str = "user.alice.ana.v1", **over: Any) -> dict[str, Any]:
    """A valid user task: one input, one output with ${SN}, a log."""
    base: dict[str, Any] = {
        "taskName": name,
        "userName": "alice",
        "transPath": "run.sh",
        "nFilesPerJob": 2,
        "jobParameters": [
            {"type": "constant", "value": "--verbose"},
            {"type": "template", "param_type": "input", "value": "${IN}", "dataset": "user.alice:in.v1"},
            {
                "type": "template",
                "param_type": "output",
                "value": "out.${SN}.root",
                "dataset": f"user.alice:{name}.out",
            },
        ],
        "log": {"dataset": f"user.alice:{name}.log", "value": "log.${SN}.tgz"},
    }
    base.update(over)
    return base


def submit_task(client: TestClient, name: str = "user.alice.ana.v1", **over: Any) -> int:
    answer = ok(client.post(f"{API}/task/submit", json=task_params(name, **over)))
    assert answer["status"] == "defined", answer
    return int(answer["jediTaskID"])


def details(client: TestClient, task_id: int) -> dict[str, Any]:
    data: dict[str, Any] = ok(client.get(f"{API}/task/get_details", params={"task_id": task_id}))
    return data


def move(db: Database, task_id: int, path: Sequence[TaskStatus], now: datetime, reason: str = "") -> None:
    """Drive the task through ``path`` (each step must be accepted)."""
    with db.write() as conn:
        for target in path:
            moved = lifecycle_tasks.transition_task(conn, task_id, target, now, reason or f"to {target}")
            assert moved.accepted, moved

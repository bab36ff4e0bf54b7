"""Contract cases of the task command routes (tests/db/test_openapi_contract.py): each command is sent
to a task in a status that allows it, made directly in the task buffer on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from pandawms.core.tasks import TaskCommand, TaskStatus
from pandawms.protocol.paths import API_PREFIX
from pandawms.server.context import ServerContext
from pandawms.server.routes_task_commands import PATHS
from tests.db.task_control_helpers import drive, new_task

T = TaskStatus
C = TaskCommand
START: dict[TaskCommand, TaskStatus] = {
    C.KILL: T.RUNNING,
    C.FINISH: T.RUNNING,
    C.RETRY: T.FAILED,
    C.PAUSE: T.RUNNING,
    C.RESUME: T.PAUSED,
    C.REASSIGN: T.RUNNING,
    C.AVALANCHE: T.SCOUTING,
}
BODIES: dict[TaskCommand, dict[str, Any]] = {
    C.FINISH: {"soft": True},
    C.RETRY: {"newParams": {"ramCount": 4000}},
    C.REASSIGN: {"site": "BIG"},
}


def _task_for(client: TestClient, command: TaskCommand) -> int:
    state = client.app.state  # type: ignore[attr-defined]
    tasks: dict[TaskCommand, int] = getattr(state, "command_tasks", {})
    if not tasks:
        ctx: ServerContext = state.ctx
        with ctx.db.write() as conn:
            for cmd, status in START.items():
                tasks[cmd] = new_task(conn, ctx.clock(), name=f"contract.{cmd.value}").task_id
                drive(conn, tasks[cmd], status, ctx.clock())
        state.command_tasks = tasks
    return tasks[command]


def _case(command: TaskCommand) -> Callable[[TestClient, object], httpx.Response]:
    def call(client: TestClient, _world: object) -> httpx.Response:
        body = {"jediTaskID": _task_for(client, command), "requestedBy": "alice", **BODIES.get(command, {})}
        resp: httpx.Response = client.post(f"{API_PREFIX}{PATHS[command]}", json=body)
        return resp

    return call


TASK_COMMAND_CASES = {("POST", f"{API_PREFIX}{path}"): _case(command) for command, path in PATHS.items()}

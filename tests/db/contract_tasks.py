"""Contract cases of the task routes (tests/db/test_openapi_contract.py): a task that was scouted, with
a job and a child, built on first use, so every optional part of the answers is present."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from pandawms.core.tasks import TaskStatus
from pandawms.server.context import ServerContext
from tests.db.helpers import API, submit
from tests.db.task_helpers import move, submit_task, task_params

Call = Callable[[TestClient, object], httpx.Response]


def _task(client: TestClient) -> int:
    state = client.app.state  # type: ignore[attr-defined]
    if getattr(state, "task_world", None) is None:
        ctx: ServerContext = state.ctx
        task_id = submit_task(client, "user.alice.contract")
        submit(client, n=1, taskID=task_id)
        path = (TaskStatus.READY, TaskStatus.SCOUTING, TaskStatus.SCOUTED, TaskStatus.RUNNING)
        move(ctx.db, task_id, path, ctx.clock())
        submit_task(client, "user.alice.contract.child", parent_tid=task_id)
        state.task_world = task_id
    return int(state.task_world)


def _get(path: str, **params: Any) -> Call:
    def call(client: TestClient, _world: object) -> httpx.Response:
        resp: httpx.Response = client.get(f"{API}{path}", params={"task_id": _task(client), **params})
        return resp

    return call


def _list(client: TestClient, _world: object) -> httpx.Response:
    _task(client)
    resp: httpx.Response = client.get(f"{API}/task/list", params={"limit": 1})
    return resp


def _submit(client: TestClient, _world: object) -> httpx.Response:
    resp: httpx.Response = client.post(f"{API}/task/submit", json=task_params("user.alice.contract.new"))
    return resp


TASK_CASES: dict[tuple[str, str], Call] = {
    ("POST", f"{API}/task/submit"): _submit,
    ("GET", f"{API}/task/get_details"): _get("/task/get_details"),
    ("GET", f"{API}/task/get_status"): _get("/task/get_status"),
    ("GET", f"{API}/task/get_task_parameters"): _get("/task/get_task_parameters"),
    ("GET", f"{API}/task/get_job_ids"): _get("/task/get_job_ids"),
    ("GET", f"{API}/task/list"): _list,
}

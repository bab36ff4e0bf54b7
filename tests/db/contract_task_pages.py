"""Contract cases of the monitor's task pages (tests/db/test_openapi_contract.py): a task with file rows and
jobs, built through services.lifecycle_tasks on first use."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient

from tests.conftest import FrozenClock
from tests.monitor.task_helpers import build_task


def _task(client: TestClient) -> int:
    state = client.app.state  # type: ignore[attr-defined]
    if getattr(state, "task_page_world", None) is None:
        state.task_page_world = build_task(state.ctx.db, FrozenClock()()).task_id
    return int(state.task_page_world)


def _page(path: Callable[[int], str]) -> Callable[[TestClient, object], httpx.Response]:
    def call(client: TestClient, _world: object) -> httpx.Response:
        resp: httpx.Response = client.get(path(_task(client)), params={"json": ""})
        return resp

    return call


TASK_PAGE_CASES = {
    ("GET", "/tasks/"): _page(lambda _t: "/tasks/"),
    ("GET", "/task/{jeditaskid}/"): _page(lambda t: f"/task/{t}/"),
}

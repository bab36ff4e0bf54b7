"""The task command routes over HTTP: PanDA's code in an HTTP 200 envelope (success only for code 0),
bad arguments as 400/422 naming the field; the control agents then carry the command out."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pandawms.agents.jedi_control import jedi_control_agents
from pandawms.core.tasks import TaskStatus
from pandawms.db import tasks as tasks_db
from pandawms.server.context import ServerContext
from tests.conftest import FrozenClock
from tests.db.helpers import API
from tests.db.task_control_helpers import drive, new_task

T = TaskStatus


def _ctx(client: TestClient) -> ServerContext:
    ctx: ServerContext = client.app.state.ctx  # type: ignore[attr-defined]
    return ctx


def _task(client: TestClient, status: TaskStatus, name: str) -> int:
    ctx = _ctx(client)
    with ctx.db.write() as conn:
        task_id = new_task(conn, ctx.clock(), name=name).task_id
        drive(conn, task_id, status, ctx.clock())
    return task_id


def test_codes_in_the_envelope_and_the_commando_runs_them(client: TestClient, clock: FrozenClock) -> None:
    running = _task(client, T.RUNNING, "t1")
    done = _task(client, T.DONE, "t2")
    queued = client.post(f"{API}/task/kill", json={"jediTaskID": running, "requestedBy": "alice"})
    missing = client.post(f"{API}/task/pause", json={"jediTaskID": 999_999})
    refused = client.post(f"{API}/task/pause", json={"jediTaskID": done})
    assert [r.status_code for r in (queued, missing, refused)] == [200, 200, 200]
    body = queued.json()
    assert body["success"] is True and body["data"]["code"] == 0 and body["data"]["command"] == "kill"
    assert body["data"]["commandID"] >= 1 and body["data"]["jediTaskID"] == running
    assert missing.json()["success"] is False and missing.json()["data"]["code"] == 2
    assert refused.json()["data"]["code"] == 4
    assert refused.json()["message"].startswith(f"task {done}: pause is not allowed for a done task")

    agents = {a.name: a for a in jedi_control_agents(_ctx(client).db)}
    assert set(agents) == {"task_commando", "post_processor", "scout_evaluator", "task_watchdog"}
    assert agents["task_commando"].run_once(clock()) == 1
    with _ctx(client).db.read() as conn:
        task = tasks_db.get_task(conn, running)
    assert task is not None and task.status is T.ABORTED


def test_bad_arguments_are_refused_naming_the_field(client: TestClient) -> None:
    failed = _task(client, T.FAILED, "t1")
    bad_param = client.post(f"{API}/task/retry", json={"jediTaskID": failed, "newParams": {"nFiles": 3}})
    no_id = client.post(f"{API}/task/kill", json={})
    bad_site = client.post(f"{API}/task/reassign", json={"jediTaskID": failed, "site": "no site!"})
    assert bad_param.status_code == 400 and bad_param.json()["message"].startswith("newParams.nFiles:")
    assert no_id.status_code == 422 and "jediTaskID" in no_id.json()["message"]
    assert bad_site.status_code == 422 and "site" in bad_site.json()["message"]

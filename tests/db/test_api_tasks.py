"""Task API on both back ends: submit (defined, datasets, history, parameters kept), bad parameters 400
naming the field, duplicates and the active-task cap 409, details with progress, jobs and scouts,
listings with filters and keyset pages, 404 for unknown tasks."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from pandawms.config import ServerConfig
from pandawms.core.errors import Conflict
from pandawms.core.tasks import TaskStatus
from pandawms.db import migrate
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.protocol.tasks import TaskParams
from pandawms.server.app import create_app
from pandawms.services import tasks as task_service
from tests.conftest import DEFAULT_QUEUES, FrozenClock, add_queues, make_db_url
from tests.db.catalog_helpers import fails
from tests.db.helpers import API, ok, submit
from tests.db.task_helpers import TO_ABORTED, TO_DONE, TO_RUNNING, details, move, submit_task, task_params

T = TaskStatus
NOW = datetime(2026, 1, 1, 12, 0, 0)


def _list(client: TestClient, **params: Any) -> dict[str, Any]:
    data: dict[str, Any] = ok(client.get(f"{API}/task/list", params=params))
    return data


def _ids(client: TestClient, **params: Any) -> list[int]:
    return [t["jediTaskID"] for t in _list(client, **params)["tasks"]]


def test_submit_defines_the_task_with_its_datasets_history_and_parameters(client: TestClient) -> None:
    sent = task_params(ramCount=1500, includedSite="SMALL,BIG", nFilesPerJob=3)
    answer = ok(client.post(f"{API}/task/submit", json=sent))
    task_id = answer["jediTaskID"]
    assert answer == {"jediTaskID": task_id, "status": "defined"}
    d = details(client, task_id)
    assert (d["taskName"], d["userName"], d["status"], d["splitRule"]) == (
        "user.alice.ana.v1",
        "alice",
        "defined",
        "NF=3",
    )
    assert (d["ramCount"], d["includedSite"], d["currentPriority"]) == (1500, ["SMALL", "BIG"], 1000)
    assert [(s["type"], s["datasetName"], s["status"]) for s in d["datasets"]] == [
        ("input", "user.alice:in.v1", "defined"),
        ("output", "user.alice:user.alice.ana.v1.out", "defined"),
        ("log", "user.alice:user.alice.ana.v1.log", "defined"),
    ]
    assert [(h["previous"], h["status"], h["reason"]) for h in d["history"]] == [
        ("", "registered", "submitted"),
        ("registered", "defined", "parameters refined"),
    ]
    assert (d["jobStatusCounts"], d["scouts"], d["nFiles"]) == ({}, None, 0)
    stored = ok(client.get(f"{API}/task/get_task_parameters", params={"task_id": task_id}))
    assert stored["taskName"] == sent["taskName"] and stored["includedSite"] == ["SMALL", "BIG"]
    assert stored["jobParameters"][1]["dataset"] == "user.alice:in.v1"
    status = ok(client.get(f"{API}/task/get_status", params={"task_id": task_id}))
    assert status == {"jediTaskID": task_id, "status": "defined", "oldStatus": None, "errorDialog": ""}


def _no_sn_output() -> dict[str, Any]:
    p = task_params()
    p["jobParameters"][2]["value"] = "out.root"
    return p


BAD: dict[str, tuple[Any, str]] = {
    "bad JSON": (b'{"taskName": ', "not valid JSON"),
    "not an object": ([task_params()], "must be one JSON object"),
    "unknown key": (task_params(uniqueTaskName=True), "uniqueTaskName: Extra inputs are not permitted"),
    "missing taskName": ({k: v for k, v in task_params().items() if k != "taskName"}, "taskName: Field"),
    "output without ${SN}": (_no_sn_output(), "jobParameters.2: Value error, an output file name needs"),
    "no input": (
        task_params(jobParameters=[{"type": "constant", "value": "x"}]),
        "jobParameters: no input dataset",
    ),
    "noInput without nEvents": (
        task_params(noInput=True, jobParameters=[{"type": "constant", "value": "x"}]),
        "noInput: a task without input needs nEvents",
    ),
    "unknown parent": (task_params(parent_tid=999), "parent_tid: no task 999"),
    "bad split value": (task_params(nFilesPerJob=0), "nFilesPerJob: Input should be greater than"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_parameters_are_refused_400_naming_the_field(client: TestClient, case: str) -> None:
    body, message = BAD[case]
    if isinstance(body, bytes):
        resp = client.post(f"{API}/task/submit", content=body, headers={"Content-Type": "application/json"})
    else:
        resp = client.post(f"{API}/task/submit", json=body)
    fails(resp, 400, message)
    assert _ids(client) == []  # nothing stored


def test_duplicate_active_task_names_are_refused_until_the_first_ends(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    first = submit_task(client, "user.alice.dup")
    fails(client.post(f"{API}/task/submit", json=task_params("user.alice.dup")), 409, "taskName:")
    again = client.post(f"{API}/task/submit", json=task_params("user.alice.dup"))
    assert f"jediTaskID {first}, defined" in again.json()["message"]
    other_user = submit_task(client, "user.alice.dup", userName="bob")
    other_label = submit_task(client, "user.alice.dup", prodSourceLabel="managed")
    move(db, first, TO_ABORTED, clock())
    second = submit_task(client, "user.alice.dup")
    assert len({first, other_user, other_label, second}) == 4


@pytest.fixture
def capped(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[TestClient]:
    add_queues(db, DEFAULT_QUEUES, clock())
    config = ServerConfig(
        agents=False, db_url=db.url, data_dir=tmp_path / "data", max_active_tasks_per_user=2
    )
    with TestClient(create_app(config, db, clock=clock)) as c:
        yield c


def test_the_active_task_cap_per_user(capped: TestClient, db: Database, clock: FrozenClock) -> None:
    a, _b = submit_task(capped, "t.a"), submit_task(capped, "t.b")
    fails(capped.post(f"{API}/task/submit", json=task_params("t.c")), 409, "too many active tasks")
    submit_task(capped, "t.c", userName="bob")  # the cap is per user
    move(db, a, TO_DONE, clock())
    submit_task(capped, "t.c")  # a final task no longer counts


def test_a_child_of_a_running_parent_reads_mutable_inputs(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    parent = submit_task(client, "user.alice.parent")
    move(db, parent, TO_RUNNING, clock())
    child = submit_task(client, "user.alice.child", parent_tid=parent)
    ended = submit_task(client, "user.alice.ended")
    move(db, ended, TO_DONE, clock())
    late = submit_task(client, "user.alice.late", parent_tid=ended)
    mutable = {s["type"]: s["mutable"] for s in details(client, child)["datasets"]}
    assert mutable == {"input": True, "output": False, "log": False}
    assert details(client, child)["parent_tid"] == parent
    assert [s["mutable"] for s in details(client, late)["datasets"]] == [False, False, False]
    assert _ids(client, parent_tid=parent) == [child]


def test_details_show_progress_jobs_and_what_the_scouts_measured(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    task_id = submit_task(client)
    jobs = submit(client, n=3, taskID=task_id, computingSite="SMALL")
    submit(client, n=1, computingSite="SMALL")  # not the task's
    ok(client.post(f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL", "n_jobs": 1}))
    with db.write() as conn:
        [master] = [d for d in tasks_db.datasets_of(conn, task_id) if d.type.value == "input"]
        tasks_db.update_dataset(
            conn, master.dataset_id, clock(), {"n_files": 10, "n_files_finished": 4, "n_files_failed": 1}
        )
    move(db, task_id, (T.READY, T.SCOUTING), clock())
    with db.write() as conn:
        tasks_db.update_task(conn, task_id, clock(), {"cpu_time": 12.5, "ram_count": 1800})
    move(db, task_id, (T.SCOUTED,), clock(), "scouts: cpuTime 12.5, ramCount 1800")
    d = details(client, task_id)
    assert (d["nFiles"], d["nFilesFinished"], d["nFilesFailed"]) == (10, 4, 1)
    assert d["jobStatusCounts"] == {"activated": 2, "sent": 1}
    assert d["scouts"] == {
        "cpuTime": 12.5,
        "ramCount": 1800,
        "outDiskCount": 0,
        "time": clock().isoformat() + "Z",  # UTC on the wire
        "reason": "scouts: cpuTime 12.5, ramCount 1800",
    }
    got = ok(client.get(f"{API}/task/get_job_ids", params={"task_id": task_id}))
    assert got == [j["PandaID"] for j in jobs]
    [entry] = _list(client)["tasks"]
    assert (entry["jediTaskID"], entry["nFiles"], entry["nFilesFinished"], entry["nJobsRunning"]) == (
        task_id,
        10,
        4,
        0,
    )


def test_listing_filters_and_keyset_pages(client: TestClient, db: Database, clock: FrozenClock) -> None:
    old = submit_task(client, "user.alice.old")
    clock.advance(hours=3)
    a1 = submit_task(client, "user.alice.a_1", workingGroup="AP_HIGGS")
    a2 = submit_task(client, "user.alice.aX1")
    bob = submit_task(client, "user.bob.b1", userName="bob")
    prod = submit_task(client, "mc23.evgen", prodSourceLabel="managed", userName="prod")
    move(db, a2, TO_RUNNING, clock())
    assert _ids(client) == [prod, bob, a2, a1, old]
    assert _ids(client, status="running") == [a2]
    assert _ids(client, status="running,defined", user="alice") == [a2, a1, old]
    assert _ids(client, status=["running", "defined"], label="managed") == [prod]
    assert _ids(client, user=["bob", "prod"]) == [prod, bob]
    assert _ids(client, name="user.alice.*") == [a2, a1, old]
    assert _ids(client, name="user.alice.a_?") == [a1]  # "_" is literal, not LIKE's wildcard
    assert _ids(client, name="user.alice.a?1") == [a2, a1]
    assert _ids(client, name="user.alice") == []  # no wildcard: the exact name
    assert _ids(client, name="USER.alice.*") == []  # case-sensitive on both back ends
    assert _ids(client, working_group="AP_HIGGS") == [a1]
    assert _ids(client, hours=1) == [prod, bob, a2, a1]
    pages: list[list[int]] = []
    cursor: int | None = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2} | ({"before_id": cursor} if cursor else {})
        page = _list(client, **params)
        pages.append([t["jediTaskID"] for t in page["tasks"]])
        cursor = page["next_before_id"]
        if cursor is None:
            break
    assert pages == [[prod, bob], [a2, a1], [old]]
    fails(client.get(f"{API}/task/list", params={"status": "runing"}), 400, "status: unknown task status")
    assert client.get(f"{API}/task/list", params={"limit": 1001}).status_code == 422


@pytest.mark.parametrize(
    "path", ["get_details", "get_status", "get_task_parameters", "get_job_ids"], ids=lambda p: p
)
def test_an_unknown_task_is_404(client: TestClient, path: str) -> None:
    fails(client.get(f"{API}/task/{path}", params={"task_id": 999}), 404, "task 999 not found")


@pytest.fixture
def pg_db(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    database = Database(make_db_url("postgresql", tmp_path, request))
    migrate.upgrade(database)
    yield database
    database.dispose()


def test_concurrent_submits_of_one_name_on_postgresql_make_one_task(pg_db: Database) -> None:
    """The second submit waits on the user's advisory lock until the first commits, then sees the
    duplicate (without the lock both would pass the check: neither sees the other's uncommitted row).
    SQLite's write transactions are serial, so this race exists only on PostgreSQL."""
    params = TaskParams.model_validate(task_params("user.alice.race"))
    stored, outcome = threading.Event(), queue.Queue[object]()

    def second() -> None:
        stored.wait(10)
        try:
            with pg_db.write() as conn:
                outcome.put(task_service.submit(conn, params, NOW, max_active_per_user=10))
        except Conflict as exc:
            outcome.put(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with pg_db.write() as conn:
        first = task_service.submit(conn, params, NOW, max_active_per_user=10)
        stored.set()
        _wait_for_lock_waiter(pg_db)
    thread.join(10)
    got = outcome.get(timeout=1)
    assert isinstance(got, Conflict) and f"jediTaskID {first.task_id}" in str(got)


def _wait_for_lock_waiter(database: Database) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with database.read() as conn:
            if conn.execute(text(WAITING_ADVISORY)).scalar_one():
                return
    raise AssertionError("the second submit never waited on the advisory lock")


WAITING_ADVISORY = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"

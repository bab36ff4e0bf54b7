"""The protocol is the whole contract: every route in the OpenAPI spec declares a typed response model,
and its answer (the envelope's ``data``; a monitor page's JSON twin) validates against the model the spec
advertises and dumps back to the same JSON. An untyped dict or a model that drifted fails here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from pandawms.config import ServerConfig
from pandawms.core.states import PILOT_REPORTABLE
from pandawms.protocol.actions import WorkerReportOutcome
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.pilot import UpdateRequest
from pandawms.protocol.status import JobStatusEntry
from pandawms.server.app import create_app
from pandawms.services.lifecycle import Outcome
from tests.db.contract import (
    answer_problems,
    declared_component,
    model_problems,
    operations,
    response_model,
    untyped,
)
from tests.db.contract_auth import AUTH_CASES
from tests.db.contract_data import DATA_CASES
from tests.db.contract_task_commands import TASK_COMMAND_CASES
from tests.db.contract_task_pages import TASK_PAGE_CASES
from tests.db.contract_tasks import TASK_CASES
from tests.db.helpers import API, acquire, describe, ok, submit, update

# Routes that answer something other than a JSON model, each with the reason.
NO_MODEL: dict[tuple[str, str], str] = {
    ("GET", f"{API}/file_server/download_log"): "the log tarball itself (application/gzip)",
    ("GET", "/job/"): "redirects to /job/N/",
    ("GET", "/search/"): "redirects to the job, queue or user found",
}
# Untyped spots left in models owned elsewhere, each with the reason. Nothing else may accept anything.
KNOWN_UNTYPED: dict[str, str] = {
    "BrokerageOut.rejected.*.*": "monitor job page model (being reworked): protocol.brokerage.QueueRejection",
    "pandawms__monitor__models__JobPage.files[].*": "monitor job page model (being reworked)",
}
UNKNOWN_ID = 999_999


@dataclass
class World:
    """A task buffer with jobs in several states, a factory with workers, a stored log."""

    running: int
    finished: int
    to_kill: int
    killed: int
    to_reassign: int
    big: int
    worker: int


def build_world(client: TestClient) -> World:
    small = [j["PandaID"] for j in submit(client, n=7, computingSite="SMALL")]
    [big] = submit(client, coreCount=4)  # brokered: SMALL rejected (1 core)
    assert big["computingSite"] == "BIG", big
    rejected = describe(client, big["PandaID"])["brokerage"]["rejected"]
    assert set(rejected) == {"SMALL"}, rejected  # so the description carries a typed rejection
    limits = {"max_workers": 5, "max_queued": 5}
    grant = ok(
        client.post(f"{API}/harvester/add_workers", json={"harvester_id": "h1", "queue": "SMALL", **limits})
    )
    worker = grant["workers"][0]["worker_id"]
    running, finished, to_kill, failed = (
        j["PandaID"] for j in acquire(client, "SMALL", n=4, worker_id=worker)
    )
    update(client, running, "running", attempt_nr=1)
    update(client, to_kill, "running", attempt_nr=1)
    update(client, finished, "finished", attempt_nr=1, pilot_error_code=0, trans_exit_code=0)
    update(client, failed, "failed", attempt_nr=1, pilot_error_code=1150, pilot_error_diag="looping job")
    killed, to_reassign = [i for i in small if i not in (running, finished, to_kill, failed)][:2]
    ok(client.post(f"{API}/job/kill", json={"job_ids": [killed]}))
    ok(
        client.post(
            f"{API}/file_server/upload_log",
            params={"job_id": finished, "filename": "job.log.tgz"},
            content=b"\x1f\x8b not really gzip",
            headers={"Content-Type": "application/octet-stream"},  # as the pilot sends it: stored as sent
        )
    )
    return World(running, finished, to_kill, killed, to_reassign, big["PandaID"], worker)


Call = Callable[[TestClient, World], httpx.Response]


def _get(path: str, **params: Any) -> Call:
    return lambda c, _w: c.get(path, params=params)


def _post(path: str, body: Callable[[World], dict[str, Any]]) -> Call:
    return lambda c, w: c.post(path, json=body(w))


def _page(path: Callable[[World], str]) -> Call:
    return lambda c, w: c.get(path(w), params={"json": ""})


CASES: dict[tuple[str, str], Call] = {
    ("GET", f"{API}/health"): _get(f"{API}/health"),
    ("GET", f"{API}/system/is_alive"): _get(f"{API}/system/is_alive"),
    ("GET", f"{API}/ready"): _get(f"{API}/ready"),
    ("POST", f"{API}/job/submit"): _post(f"{API}/job/submit", lambda w: {"jobs": [{"transformation": "x"}]}),
    ("GET", f"{API}/job/get_status"): lambda c, w: c.get(
        f"{API}/job/get_status", params={"job_ids": [w.running, w.finished, UNKNOWN_ID]}
    ),
    ("GET", f"{API}/job/get_description"): lambda c, w: c.get(
        f"{API}/job/get_description", params={"job_id": w.big}
    ),
    ("GET", f"{API}/job/list"): _get(f"{API}/job/list", limit=50),
    ("POST", f"{API}/job/kill"): _post(
        f"{API}/job/kill", lambda w: {"job_ids": [w.to_kill, w.killed, UNKNOWN_ID]}
    ),
    ("POST", f"{API}/job/reassign"): _post(
        f"{API}/job/reassign", lambda w: {"job_ids": [w.to_reassign, w.running]}
    ),
    ("POST", f"{API}/job/retry"): _post(f"{API}/job/retry", lambda w: {"job_ids": [w.killed, w.finished]}),
    ("POST", f"{API}/pilot/acquire_jobs"): _post(
        f"{API}/pilot/acquire_jobs",
        lambda w: {"site_name": "BIG", "n_jobs": 2, "core_count": 8, "node": "wn", "request_id": "r-1"},
    ),
    ("POST", f"{API}/pilot/update_job"): _post(
        f"{API}/pilot/update_job", lambda w: {"job_id": w.running, "job_status": "running", "attempt_nr": 1}
    ),
    ("POST", f"{API}/pilot/update_jobs_bulk"): _post(
        f"{API}/pilot/update_jobs_bulk",
        lambda w: {
            "job_list": [
                {"job_id": w.running, "job_status": "running", "attempt_nr": 1},
                {"job_id": UNKNOWN_ID, "job_status": "running"},
                {"job_id": w.running, "job_status": "running", "start_time": "yesterday"},
            ],
            "harvester_id": "h1",
        },
    ),
    ("GET", f"{API}/pilot/get_job_status"): lambda c, w: c.get(
        f"{API}/pilot/get_job_status", params={"job_ids": [w.to_kill, w.running, UNKNOWN_ID]}
    ),
    ("GET", f"{API}/queue/list"): _get(f"{API}/queue/list"),
    ("GET", f"{API}/queue/get"): _get(f"{API}/queue/get", name="SMALL"),
    ("POST", f"{API}/queue/upsert"): _post(f"{API}/queue/upsert", lambda w: {"name": "GPU", "cores": 16}),
    ("POST", f"{API}/queue/set_status"): _post(
        f"{API}/queue/set_status", lambda w: {"name": "BIG", "status": "brokeroff"}
    ),
    ("POST", f"{API}/file_server/upload_log"): lambda c, w: c.post(
        f"{API}/file_server/upload_log", params={"job_id": w.running, "filename": "a.tgz"}, content=b"log"
    ),
    ("POST", f"{API}/harvester/add_workers"): _post(
        f"{API}/harvester/add_workers",
        lambda w: {"harvester_id": "h2", "queue": "SMALL", "max_workers": 9, "max_queued": 9},
    ),
    ("POST", f"{API}/harvester/update_workers"): _post(
        f"{API}/harvester/update_workers",
        lambda w: {
            "harvester_id": "h1",
            "workers": [
                {"worker_id": w.worker, "status": "running"},
                {"worker_id": UNKNOWN_ID, "status": "failed"},
            ],
        },
    ),
    ("GET", f"{API}/harvester/get_worker_stats"): _get(f"{API}/harvester/get_worker_stats"),
    ("POST", f"{API}/harvester/heartbeat"): _post(
        f"{API}/harvester/heartbeat", lambda w: {"harvester_id": "h1", "host": "node1", "alive_workers": 5}
    ),
    ("GET", "/"): _page(lambda w: "/"),
    ("GET", "/jobs/"): _page(lambda w: "/jobs/"),
    ("GET", "/errors/"): _page(lambda w: "/errors/"),
    ("GET", "/sites/"): _page(lambda w: "/sites/"),
    ("GET", "/users/"): _page(lambda w: "/users/"),
    ("GET", "/job/{pandaid}/"): _page(lambda w: f"/job/{w.finished}/"),
    ("GET", "/site/{name}/"): _page(lambda w: "/site/SMALL/"),
    ("GET", "/user/{name}/"): _page(lambda w: "/user/alice/"),
    **DATA_CASES,  # the catalog routes, in their own small world
    **TASK_PAGE_CASES,  # the monitor's task pages, over one task
    **TASK_CASES,  # the task routes, around one scouted task
    **TASK_COMMAND_CASES,  # task/kill ... task/avalanche, each to a task that allows it
    **AUTH_CASES,  # the issuer: JWKS, discovery, token grants, whoami, the audit log
}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """The app as served (no requests, so no database is touched)."""
    return create_app(ServerConfig(agents=False, db_url=f"sqlite:///{tmp_path / 'x.db'}", data_dir=tmp_path))


def test_every_route_has_a_contract_case_or_a_listed_exception(app: FastAPI) -> None:
    spec_ops = operations(app.openapi())
    assert set(NO_MODEL) <= spec_ops, "an exception names a route that is gone"
    assert spec_ops - set(NO_MODEL) == set(CASES), "add a case for the new route (or remove a stale one)"


def test_every_route_declares_the_typed_model_the_spec_advertises(app: FastAPI) -> None:
    spec = app.openapi()
    components = spec["components"]["schemas"]
    problems: list[str] = []
    found: set[str] = set()
    for method, path in sorted(CASES):
        problems += model_problems(app, spec, method, path)
        name = declared_component(spec, method, path)
        if name is not None:
            found.update(untyped({"$ref": f"#/components/schemas/{name}"}, components, name))
    assert not problems, "\n".join(problems)
    assert found == set(KNOWN_UNTYPED), f"untyped schema spots: {sorted(found - set(KNOWN_UNTYPED))}"


def test_every_route_answers_with_its_declared_model(client: TestClient) -> None:
    world = build_world(client)
    app = client.app
    assert isinstance(app, FastAPI)
    problems: list[str] = []
    for (method, path), call in CASES.items():
        resp = call(client, world)
        model = response_model(app, method, path)
        assert isinstance(model, type) and issubclass(model, BaseModel)
        if resp.status_code != 200:
            problems.append(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:300]}")
            continue
        problems += [f"{method} {path}: {p}" for p in answer_problems(model, resp.json())]
    assert not problems, "\n".join(problems)


def test_the_checks_catch_untyped_models_and_drifted_answers() -> None:
    loose = Envelope[dict[str, object]].model_json_schema()
    assert untyped(loose, {}, "Envelope") == ["Envelope.data.*"]
    typed = Envelope[dict[str, int]].model_json_schema()
    assert untyped(typed, {}, "Envelope") == []
    model = Envelope[list[JobStatusEntry]]
    entry = {"PandaID": 1, "jobStatus": "running", "attemptNr": 1}
    assert answer_problems(model, {"success": True, "message": "", "data": [entry]}) == []
    drifted = [{**entry, "command": "NULL"}]
    assert answer_problems(model, {"success": True, "message": "", "data": drifted})
    assert answer_problems(model, {"success": True, "message": "", "data": [{**entry, "jobStatus": "lost"}]})
    assert answer_problems(model, {"success": True, "data": [entry]})  # not an envelope


def test_pilot_reported_statuses_come_from_core_states() -> None:
    schema = UpdateRequest.model_json_schema()["properties"]["job_status"]
    assert schema["enum"] == sorted(PILOT_REPORTABLE)
    assert UpdateRequest(job_id=1, job_status="holding").job_status == "holding"
    with pytest.raises(ValidationError, match="'sent' is not a status a pilot reports; expected one of: "):
        UpdateRequest(job_id=1, job_status="sent")


def test_worker_report_outcomes_cover_the_lifecycle_outcomes() -> None:
    assert {o.value for o in Outcome} <= {o.value for o in WorkerReportOutcome}

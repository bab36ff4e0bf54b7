"""The pilot fast path and the FastAPI routes answer every request the same (status, headers, body).

Two servers on two fresh databases of the same backend share one frozen clock; the same script of
requests (good, repeated, late, malformed) goes to both and every answer must be identical.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pandawms.config import ServerConfig
from pandawms.db import migrate
from pandawms.db.engine import Database
from pandawms.server.app import create_app
from tests.conftest import DEFAULT_QUEUES, FrozenClock, add_queues, make_db_url
from tests.db.helpers import API

ACQ = f"{API}/pilot/acquire_jobs"
UPD = f"{API}/pilot/update_job"
JOB = {"transformation": "/bin/echo", "jobParameters": "hi", "prodUserName": "alice"}


def _client(backend: str, where: Path, request: pytest.FixtureRequest, clock: FrozenClock, fast: bool) -> Any:
    db = Database(make_db_url(backend, where, request))
    migrate.upgrade(db)
    add_queues(db, DEFAULT_QUEUES, clock())
    config = ServerConfig(agents=False, db_url=db.url, data_dir=where / "data")
    return db, TestClient(create_app(config, db, clock=clock, fast_path=fast))


@pytest.fixture
def pair(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, clock: FrozenClock
) -> Iterator[tuple[TestClient, TestClient]]:
    fast_db, fast = _client(backend, tmp_path / "fast", request, clock, True)
    routes_db, routes = _client(backend, tmp_path / "routes", request, clock, False)
    with fast, routes:
        yield fast, routes
    fast_db.dispose()
    routes_db.dispose()


def _answer(
    client: TestClient, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[Any, ...]:
    kw: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    r = client.post(path, headers=headers, **kw)
    keep = ("content-type", "retry-after")
    return r.status_code, {k: v for k, v in r.headers.items() if k in keep}, r.content


def both(pair: tuple[TestClient, TestClient], path: str, body: Any, **headers: str) -> Any:
    fast, routes = (_answer(c, path, body, headers or None) for c in pair)
    assert fast == routes, f"{path} {body!r}: fast path {fast} != routes {routes}"
    return fast


def test_every_pilot_answer_is_the_same_on_both_paths(pair: tuple[TestClient, TestClient]) -> None:
    # given the same three jobs on both servers
    for client in pair:
        assert client.post(
            f"{API}/job/submit", json={"jobs": [{**JOB, "computingSite": "SMALL"}] * 3}
        ).is_success
    # when the same pilot conversation goes to each, then each answer matches byte for byte
    status, _, _ = both(pair, ACQ, {"site_name": "SMALL", "n_jobs": 2, "node": "wn1"})
    assert status == 200
    for update in (
        {"job_id": 1, "job_status": "starting"},
        {"job_id": 1, "job_status": "running", "max_rss": 100, "start_time": "2026-01-01 12:00:00"},
        {"job_id": 1, "job_status": "running"},  # heartbeat
        {"job_id": 1, "job_status": "finished", "attempt_nr": 1, "trans_exit_code": 0},
        {"job_id": 1, "job_status": "finished"},  # repeated final: alreadydone
        {"job_id": 2, "job_status": "failed", "pilot_error_code": 1099, "pilot_error_diag": "x"},
        {"job_id": 2, "job_status": "running", "attempt_nr": 7},  # other attempt: tobekilled
        {"job_id": 999, "job_status": "running"},  # unknown job
    ):
        assert both(pair, UPD, update)[0] == 200
    both(pair, ACQ, {"site_name": "NOWHERE"})  # no jobs
    # an acquire with a request id, then its repeat (the answer was lost): the same job, twice
    keyed = {"site_name": "SMALL", "node": "wn2", "request_id": "r-1"}
    first = both(pair, ACQ, keyed)
    assert first == both(pair, ACQ, keyed) and b'"PandaID":3' in first[2]
    both(pair, ACQ, {"site_name": "SMALL", "n_jobs": 3})


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (ACQ, {"site_name": "SMALL", "n_jobs": 0}, 422),
        (ACQ, {"n_jobs": 1}, 422),
        (ACQ, [], 422),
        (ACQ, {"site_name": "SMALL", "node": "wn1", "request_id": "no spaces"}, 422),
        (ACQ, {"site_name": "SMALL", "node": "wn1", "request_id": "r" * 65}, 422),
        (ACQ, {"site_name": "SMALL", "request_id": "whose"}, 400),
        (UPD, {"job_id": 1, "job_status": "exploded"}, 422),
        (UPD, {"job_id": 1, "job_status": "running", "start_time": "yesterday"}, 400),
        (UPD, b"{not json", 422),
        (UPD, b"", 422),
    ],
)
def test_bad_input_gets_the_same_error(
    pair: tuple[TestClient, TestClient], path: str, body: Any, status: int
) -> None:
    for client in pair:
        assert client.post(f"{API}/job/submit", json={"jobs": [{**JOB, "computingSite": "SMALL"}]}).is_success
        client.post(ACQ, json={"site_name": "SMALL"})
    got, _, content = both(pair, path, body, **{"Content-Type": "application/json"})
    assert got == status, content


def test_gzip_bodies_are_the_same_on_both_paths(pair: tuple[TestClient, TestClient]) -> None:
    body = gzip.compress(b'{"site_name": "SMALL", "n_jobs": 1}')
    assert both(pair, ACQ, body, **{"Content-Type": "application/json", "Content-Encoding": "gzip"})[0] == 200


SUBMIT = f"{API}/job/submit"


@pytest.mark.parametrize(
    "body",
    [
        {"jobs": [{**JOB, "computingSite": "SMALL"}] * 700},
        {"jobs": [{**JOB, "computingSite": "SMALL"}] * 300 + [{**JOB, "coreCount": 0}]},
        {"jobs": [{**JOB, "coreCount": -1}] + [JOB] * 600 + [{"jobParameters": "no transformation"}]},
        {"jobs": [{**JOB, "computingSite": "NOPE"}]},
        {"jobs": [JOB], "extra": 1},
        {"jobs": []},
        {"jobs": "many"},
        [JOB],
        b"{not json",
        b"",
    ],
)
def test_submit_answers_the_same_on_both_paths(pair: tuple[TestClient, TestClient], body: Any) -> None:
    # the fast path validates big batches in slices in a worker thread; answers must not change
    status, _, content = both(pair, SUBMIT, body, **{"Content-Type": "application/json"})
    assert (status == 200) == (isinstance(body, dict) and len(body["jobs"]) == 700), content

"""A repeated acquire_jobs (same pilot and request_id, the answer was lost) gets the same jobs back.

Both back ends: the repeat claims nothing new and writes no history; another request id, or another
pilot with the same id, claims normally; once the jobs moved on, the repeat claims new work; with auth
on, the pilot token's queue still bounds the repeat.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pandawms.agents.watchdogs import acquire_requests_agent
from pandawms.config import WatchdogConfig
from pandawms.db.engine import Database
from pandawms.db.schema import acquire_requests, job_status_history
from pandawms.services import pilot
from tests.conftest import FrozenClock
from tests.db.helpers import API, describe, ok, status_of, submit, update
from tests.db.security_helpers import Secure, secure_server

PILOT = {"pilot_id": "pilot-1", "node": "wn01"}


def acquire(client: TestClient, site: str, request_id: str, n: int = 1, **kw: Any) -> list[dict[str, Any]]:
    body = {"site_name": site, "n_jobs": n, "request_id": request_id, **PILOT, **kw}
    jobs: list[dict[str, Any]] = ok(client.post(f"{API}/pilot/acquire_jobs", json=body))["jobs"]
    return jobs


def history_rows(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(job_status_history)).scalar_one())


def test_a_repeat_gets_the_same_jobs_and_claims_nothing(client: TestClient, db: Database) -> None:
    ids = [
        j["PandaID"] for j in submit(client, 3, computingSite="SMALL", files=[{"lfn": "a", "type": "input"}])
    ]
    first = acquire(client, "SMALL", "req-1", n=2)
    rows = history_rows(db)
    again = acquire(client, "SMALL", "req-1", n=2)
    assert again == first and [j["PandaID"] for j in first] == ids[:2]  # the same payload, field for field
    assert history_rows(db) == rows  # no second dispatch recorded
    assert [h["status"] for h in describe(client, ids[0])["history"]] == ["defined", "activated", "sent"]
    assert status_of(client, ids[2]) == "activated"  # nothing new claimed
    # a new request id is a new claim
    assert [j["PandaID"] for j in acquire(client, "SMALL", "req-2", n=2)] == ids[2:]


def test_a_worker_repeat_is_keyed_on_the_worker(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    body = {"site_name": "SMALL", "worker_id": 7, "request_id": "r"}
    first = ok(client.post(f"{API}/pilot/acquire_jobs", json={**body, "pilot_id": "a"}))["jobs"]
    # the same worker repeating its call finds its job; another worker with the same id claims anew
    again = ok(client.post(f"{API}/pilot/acquire_jobs", json={**body, "pilot_id": "a"}))["jobs"]
    assert [x["PandaID"] for x in first] == [x["PandaID"] for x in again] == [j["PandaID"]]
    other = ok(client.post(f"{API}/pilot/acquire_jobs", json={**body, "worker_id": 8}))["jobs"]
    assert other == []


def test_another_pilot_with_the_same_request_id_gets_nothing_of_the_first(client: TestClient) -> None:
    a, b = (j["PandaID"] for j in submit(client, 2, computingSite="SMALL"))
    assert [j["PandaID"] for j in acquire(client, "SMALL", "same")] == [a]
    assert [j["PandaID"] for j in acquire(client, "SMALL", "same", pilot_id="pilot-2")] == [b]
    assert acquire(client, "SMALL", "same", node="wn02") == []  # a third pilot: a normal claim, no job left
    assert [j["PandaID"] for j in acquire(client, "SMALL", "same")] == [a]  # the first still gets its own


def test_after_the_job_moved_on_a_repeat_claims_new_work(client: TestClient) -> None:
    a, b = (j["PandaID"] for j in submit(client, 2, computingSite="SMALL"))
    assert [j["PandaID"] for j in acquire(client, "SMALL", "r")] == [a]
    update(client, a, "starting")
    assert [j["PandaID"] for j in acquire(client, "SMALL", "r")] == [a]  # still handed out to it
    update(client, a, "running")
    assert [j["PandaID"] for j in acquire(client, "SMALL", "r")] == [b]
    assert [j["PandaID"] for j in acquire(client, "SMALL", "r")] == [b]  # recorded under the same key


def test_a_repeat_for_another_queue_claims_there(client: TestClient) -> None:
    [small] = submit(client, computingSite="SMALL")
    [big] = submit(client, computingSite="BIG")
    assert [j["PandaID"] for j in acquire(client, "SMALL", "r")] == [small["PandaID"]]
    assert [j["PandaID"] for j in acquire(client, "BIG", "r")] == [big["PandaID"]]


@pytest.mark.parametrize(
    ("value", "why"),
    [("", "at least 1 character"), ("x" * 65, "at most 64 characters"), ("a b", "should match pattern")],
)
def test_bad_request_ids_are_a_422_naming_the_field(client: TestClient, value: str, why: str) -> None:
    resp = client.post(f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL", "request_id": value, **PILOT})
    assert resp.status_code == 422 and "request_id" in resp.json()["message"]
    assert why in resp.json()["message"]


def test_a_request_id_needs_a_pilot_identity(client: TestClient) -> None:
    submit(client, computingSite="SMALL")
    resp = client.post(f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL", "request_id": "r"})
    assert resp.status_code == 400 and "request_id" in resp.json()["message"]


def test_old_records_are_cleaned(client: TestClient, db: Database, clock: FrozenClock) -> None:
    submit(client, 2, computingSite="SMALL")
    acquire(client, "SMALL", "old")
    acquire(client, "SMALL", "none", node="wn09", pilot_id="")  # claims the second job
    acquire(client, "SMALL", "empty", node="wn10")  # nothing claimed: nothing kept
    agent = acquire_requests_agent(db, WatchdogConfig(sent_timeout=1800))
    assert agent.run_once(clock()) == 0
    clock.advance(seconds=1801)
    assert agent.run_once(clock()) == 2
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(acquire_requests)).scalar_one() == 0


@pytest.fixture
def sec(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[Secure]:
    yield from secure_server(db, clock, tmp_path)


def test_with_auth_the_pilot_token_queue_still_bounds_a_repeat(sec: Secure) -> None:
    job = {"transformation": "/bin/echo", "prodUserName": "alice"}
    for site in ("BIG", "SMALL"):
        body = {"jobs": [{**job, "computingSite": site}]}
        ok(sec.client.post(f"{API}/job/submit", json=body, headers=sec.headers("alice")))
    call = {"n_jobs": 1, "request_id": "r", **PILOT}
    big = ok(
        sec.client.post(
            f"{API}/pilot/acquire_jobs", json={**call, "site_name": "BIG"}, headers=sec.headers("admin")
        )
    )
    assert len(big["jobs"]) == 1
    # the SMALL pilot repeating that call for BIG is refused; for SMALL it claims its own queue's job
    resp = sec.client.post(
        f"{API}/pilot/acquire_jobs", json={**call, "site_name": "BIG"}, headers=sec.headers("pilot")
    )
    assert resp.status_code == 403 and "acquires only for queue SMALL" in resp.json()["message"]
    got = ok(
        sec.client.post(
            f"{API}/pilot/acquire_jobs", json={**call, "site_name": "SMALL"}, headers=sec.headers("pilot")
        )
    )
    assert [j["computingSite"] for j in got["jobs"]] == ["SMALL"]
    again = ok(
        sec.client.post(
            f"{API}/pilot/acquire_jobs", json={**call, "site_name": "SMALL"}, headers=sec.headers("pilot")
        )
    )
    assert again["jobs"] == got["jobs"]


def test_two_copies_of_one_request_at_once_share_one_claim(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    # given three jobs and the same keyed call sent twice at the same moment (a resend racing the first)
    submit(client, 3, computingSite="SMALL")
    query = pilot.AcquireQuery(queue="SMALL", n_jobs=2, node="wn01", pilot_id="p", request_id="race")
    start = threading.Barrier(2)
    got: list[list[int]] = []

    def call() -> None:
        start.wait(timeout=30)
        with db.write() as conn:
            got.append([j.panda_id for j in pilot.acquire_jobs(conn, query, clock()).jobs])

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # then both got the same two jobs and the third is still waiting
    assert len(got) == 2 and got[0] == got[1] and len(got[0]) == 2
    with db.read() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(job_status_history)
                .where(job_status_history.c.job_status == "sent")
            ).scalar_one()
            == 2
        )

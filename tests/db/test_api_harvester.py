"""Factory endpoints: grants sized over every factory of a queue, reports, stats, and the worker-job link."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from pandawms.agents.watchdogs import missed_workers_agent
from pandawms.config import WatchdogConfig
from pandawms.db import schema
from pandawms.db import workers as workers_db
from pandawms.db.engine import Database
from pandawms.services import workers
from tests.conftest import FrozenClock
from tests.db.helpers import API, acquire, ok, submit

LIMITS = {"max_workers": 5, "max_queued": 5, "max_new": 0}


def grant(client: TestClient, harvester: str, queue: str = "SMALL", **kw: Any) -> dict[str, Any]:
    body = {"harvester_id": harvester, "queue": queue, **LIMITS, **kw}
    data: dict[str, Any] = ok(client.post(f"{API}/harvester/add_workers", json=body))
    return data


def test_grants_follow_activated_jobs_and_count_all_factories(client: TestClient) -> None:
    assert grant(client, "f1")["granted"] == 0  # no activated job, no pilot
    submit(client, n=3, computingSite="SMALL")
    first = grant(client, "f1")
    assert first["granted"] == 3 and first["activated"] == 3
    second = grant(client, "f2")  # another factory: the 3 queued workers already cover the jobs
    assert second["granted"] == 0 and second["queued"] == 3
    submit(client, n=10, computingSite="SMALL")
    assert grant(client, "f2")["granted"] == 2  # max_workers 5 over both factories


def test_worker_runs_when_its_pilot_takes_a_job_and_reports_end(client: TestClient) -> None:
    submit(client, computingSite="SMALL")
    [w] = grant(client, "f1")["workers"]
    acquire(client, "SMALL", worker_id=w["worker_id"])
    assert (
        ok(client.get(f"{API}/harvester/get_worker_stats", params={"queue": "SMALL"}))["SMALL"]["running"]
        == 1
    )
    body = {
        "harvester_id": "f1",
        "workers": [{"worker_id": w["worker_id"], "status": "finished", "exit_code": 0}],
    }
    [r] = ok(client.post(f"{API}/harvester/update_workers", json=body))
    assert r["outcome"] == "accepted" and r["status"] == "finished"
    [again] = ok(client.post(f"{API}/harvester/update_workers", json=body))
    assert again["outcome"] == "noop"
    back = {"harvester_id": "f1", "workers": [{"worker_id": w["worker_id"], "status": "running"}]}
    assert ok(client.post(f"{API}/harvester/update_workers", json=back))[0]["outcome"] == "rejected"
    other = {"harvester_id": "f2", "workers": [{"worker_id": w["worker_id"], "status": "failed"}]}
    assert ok(client.post(f"{API}/harvester/update_workers", json=other))[0]["outcome"] == "rejected"
    missing = {"harvester_id": "f1", "workers": [{"worker_id": 9999, "status": "failed"}]}
    assert ok(client.post(f"{API}/harvester/update_workers", json=missing))[0]["outcome"] == "notfound"


def test_bad_input_and_offline_queue(client: TestClient) -> None:
    resp = client.post(f"{API}/harvester/add_workers", json={"harvester_id": "f1", "queue": "NOPE", **LIMITS})
    assert resp.status_code == 404 and "NOPE" in resp.json()["message"]
    resp = client.post(
        f"{API}/harvester/add_workers", json={"harvester_id": "f 1", "queue": "SMALL", **LIMITS}
    )
    assert resp.status_code == 422 and "harvester_id" in resp.json()["message"]
    resp = client.post(
        f"{API}/harvester/update_workers",
        json={"harvester_id": "f1", "workers": [{"worker_id": 1, "status": "sleeping"}]},
    )
    assert resp.status_code == 422 and "status" in resp.json()["message"]
    submit(client, n=2, computingSite="SMALL")
    ok(client.post(f"{API}/queue/set_status", json={"name": "SMALL", "status": "offline"}))
    off = grant(client, "f1")
    assert off["granted"] == 0 and "offline" in off["reason"]


def test_concurrent_factories_never_over_submit(client: TestClient) -> None:
    submit(client, n=50, computingSite="BIG")
    granted: list[int] = []
    lock = threading.Lock()

    def factory(name: str) -> None:
        for _ in range(5):
            n = grant(client, name, queue="BIG", max_workers=7, max_queued=7)["granted"]
            with lock:
                granted.append(n)

    threads = [threading.Thread(target=factory, args=(f"f{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 7
    assert ok(client.get(f"{API}/harvester/get_worker_stats"))["BIG"]["submitted"] == 7


def _stats(client: TestClient, queue: str) -> dict[str, int]:
    data: dict[str, dict[str, int]] = ok(
        client.get(f"{API}/harvester/get_worker_stats", params={"queue": queue})
    )
    return data[queue]


def test_heartbeat_is_recorded_and_validated(client: TestClient, db: Database, clock: FrozenClock) -> None:
    body = {"harvester_id": "f1", "host": "node1", "alive_workers": 4}
    data = ok(client.post(f"{API}/harvester/heartbeat", json=body))
    assert data == {"harvester_id": "f1", "last_seen": clock().isoformat(), "batch_states": 0}
    clock.advance(seconds=30)
    ok(client.post(f"{API}/harvester/heartbeat", json=body))
    with db.read() as conn:
        assert workers_db.last_seen(conn, "f1") == clock()
    bad = client.post(f"{API}/harvester/heartbeat", json={"harvester_id": "f1", "alive_workers": -1})
    assert bad.status_code == 422 and "alive_workers" in bad.json()["message"]


def test_workers_of_a_silent_factory_end_missed_and_free_the_queue(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    # given two factories on SMALL: f1 holds every queued slot, f2 has a running worker
    submit(client, n=10, computingSite="SMALL")
    held = grant(client, "f1", max_workers=3, max_queued=3)["workers"]
    [running] = grant(client, "f2", max_workers=4, max_queued=4)["workers"]
    acquire(client, "SMALL", worker_id=running["worker_id"])
    assert grant(client, "f2", max_workers=4, max_queued=4)["granted"] == 0  # the queue is full
    # when f1 goes silent for longer than factory_silence while f2 keeps calling
    for _ in range(4):
        clock.advance(seconds=1000)
        ok(client.post(f"{API}/harvester/heartbeat", json={"harvester_id": "f2"}))
    with db.write() as conn:
        ended = workers.mark_missed(conn, clock(), silence=3600, limit=1000)
        again = workers.mark_missed(conn, clock(), silence=3600, limit=1000)
    # then only f1's workers end, as missed, once, with a diagnostic naming the factory
    assert (ended, again) == (3, 0)
    stats = _stats(client, "SMALL")
    assert stats["missed"] == 3 and stats["running"] == 1 and stats["submitted"] == 0
    with db.read() as conn:
        diag = conn.execute(
            select(schema.workers.c.diag).where(schema.workers.c.worker_id == held[0]["worker_id"])
        ).scalar_one()
    assert "f1" in diag and "3600" in diag
    # and f2 may now fill the freed slots
    assert grant(client, "f2", max_workers=4, max_queued=4)["granted"] == 3
    # and f1's late report of a missed worker is settled, not an error
    late = {"harvester_id": "f1", "workers": [{"worker_id": held[0]["worker_id"], "status": "finished"}]}
    [r] = ok(client.post(f"{API}/harvester/update_workers", json=late))
    assert r["outcome"] == "rejected" and r["status"] == "missed"


def test_missed_workers_agent_runs_from_config(client: TestClient, db: Database, clock: FrozenClock) -> None:
    submit(client, computingSite="SMALL")
    grant(client, "f1")
    agent = missed_workers_agent(db, WatchdogConfig(factory_silence=60))
    assert agent.run_once(clock.advance(seconds=59)) == 0
    assert agent.run_once(clock.advance(seconds=2)) == 1


def test_a_repeated_request_id_gets_the_first_grant_not_new_workers(client: TestClient) -> None:
    # given a factory whose add_workers answer was lost after the server granted 2 workers
    submit(client, n=5, computingSite="SMALL")
    first = grant(client, "f1", max_new=2, request_id="req-0001-abcdef")
    assert first["granted"] == 2
    # when it asks again with the same request id
    again = grant(client, "f1", max_new=2, request_id="req-0001-abcdef")
    # then it gets the same workers and nothing more was created
    assert [w["worker_id"] for w in again["workers"]] == [w["worker_id"] for w in first["workers"]]
    assert "repeated request" in again["reason"]
    assert _stats(client, "SMALL")["submitted"] == 2
    # and the same id from another factory, or a new id, is a new request
    assert grant(client, "f2", max_new=1, request_id="req-0001-abcdef")["granted"] == 1
    assert grant(client, "f1", max_new=1, request_id="req-0002-abcdef")["granted"] == 1
    bad = client.post(
        f"{API}/harvester/add_workers",
        json={"harvester_id": "f1", "queue": "SMALL", **LIMITS, "request_id": "short"},
    )
    assert bad.status_code == 422 and "request_id" in bad.json()["message"]


def test_multi_job_workers_are_granted_by_their_slots(client: TestClient) -> None:
    # given 10 activated single-core jobs on BIG
    submit(client, n=10, computingSite="BIG")
    # when a factory whose workers run 4 jobs at once asks
    first = grant(client, "f1", queue="BIG", max_workers=10, max_queued=10, jobs_per_worker=4)
    # then 3 workers cover the 10 jobs, and a repeat asks for no more
    assert first["granted"] == 3 and "4 job(s) per worker" in first["reason"]
    assert grant(client, "f1", queue="BIG", max_workers=10, max_queued=10, jobs_per_worker=4)["granted"] == 0
    bad = {"harvester_id": "f1", "queue": "BIG", **LIMITS, "jobs_per_worker": 0}
    resp = client.post(f"{API}/harvester/add_workers", json=bad)
    assert resp.status_code == 422 and "jobs_per_worker" in resp.json()["message"]

"""Bulk pilot calls as a factory (Harvester) makes them, on SQLite and PostgreSQL: acquire_jobs with
n_jobs, and pilot/update_jobs_bulk with one result per entry, bad entries refused without the good ones
lost and without anything of theirs stored."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from pandawms.db import workers as workers_db
from pandawms.db.engine import Database
from pandawms.protocol.pilot import MAX_BULK_UPDATES
from tests.db.helpers import API, acquire, describe, ok, status_of, submit

BULK = f"{API}/pilot/update_jobs_bulk"


def _bulk(client: TestClient, entries: list[Any], **kw: Any) -> list[dict[str, Any]]:
    data = ok(client.post(BULK, json={"job_list": entries, **kw}))
    results: list[dict[str, Any]] = data["results"]
    return results


def _history(client: TestClient, job_id: int) -> list[str]:
    return [h["status"] for h in describe(client, job_id)["history"]]


def test_acquire_n_jobs_claims_up_to_n_in_one_call(client: TestClient) -> None:
    ids = [j["PandaID"] for j in submit(client, 5, computingSite="SMALL")]
    first = acquire(client, "SMALL", n=3)
    rest = acquire(client, "SMALL", n=3)
    assert [j["PandaID"] for j in first] == ids[:3]
    assert [j["PandaID"] for j in rest] == ids[3:]  # only two were left
    assert acquire(client, "SMALL", n=3) == []
    assert {status_of(client, i) for i in ids} == {"sent"}


def test_bulk_update_runs_and_finishes_every_job_with_a_result_each(client: TestClient, db: Database) -> None:
    submit(client, 4, computingSite="SMALL")
    ids = [j["PandaID"] for j in acquire(client, "SMALL", n=4)]
    running = _bulk(client, [{"job_id": i, "job_status": "running"} for i in ids], harvester_id="h1")
    assert [(r["index"], r["job_id"], r["success"], r["jobStatus"]) for r in running] == [
        (n, i, True, "running") for n, i in enumerate(ids)
    ]
    assert all(r["command"] == "NULL" and r["StatusCode"] == 0 for r in running)
    final = [{"job_id": i, "job_status": "finished", "trans_exit_code": 0, "attempt_nr": 1} for i in ids]
    assert [r["jobStatus"] for r in _bulk(client, final)] == ["finished"] * 4
    for i in ids:
        assert _history(client, i)[-3:] == ["running", "holding", "finished"]
    with db.read() as conn:  # the factory's call stamped its liveness, like its other calls
        assert workers_db.last_seen(conn, "h1") is not None


def test_bad_entries_are_refused_alone_and_store_nothing(client: TestClient) -> None:
    submit(client, 3, computingSite="SMALL")
    good, bad_time, bad_end = (j["PandaID"] for j in acquire(client, "SMALL", n=3))
    before = {i: _history(client, i) for i in (bad_time, bad_end)}
    results = _bulk(
        client,
        [
            {"job_id": bad_time, "job_status": "running", "start_time": "yesterday", "max_rss": 5},
            {"job_id": good, "job_status": "running", "max_rss": 7},
            {"job_id": bad_end, "job_status": "finished", "end_time": "2026-13-45 99:00:00", "max_rss": 5},
        ],
    )
    assert [r["success"] for r in results] == [False, True, False]
    assert [r["job_id"] for r in results] == [bad_time, good, bad_end]
    assert results[0]["StatusCode"] == 50 and results[2]["StatusCode"] == 50
    assert "job_list.0.start_time" in results[0]["message"] and "yesterday" in results[0]["message"]
    assert "job_list.2.end_time" in results[2]["message"]
    assert results[1]["jobStatus"] == "running"
    assert status_of(client, good) == "running"
    assert describe(client, good)["job"]["maxRSS"] == 7
    for i in (bad_time, bad_end):  # nothing of a refused entry is stored
        assert status_of(client, i) == "sent" and _history(client, i) == before[i]
        assert describe(client, i)["job"]["maxRSS"] in (None, 0)


def test_an_entry_against_the_schema_is_a_422_naming_it_and_nothing_is_stored(client: TestClient) -> None:
    submit(client, 2, computingSite="SMALL")
    good, other = (j["PandaID"] for j in acquire(client, "SMALL", n=2))
    entries: list[tuple[Any, str]] = [
        ({"job_id": other, "job_status": "exploded"}, "job_list.1.job_status"),
        ({"job_status": "running"}, "job_list.1.job_id"),
        ("not an object", "job_list.1"),
        ({"job_id": other, "job_status": "running", "surprise": 1}, "job_list.1.surprise"),
        ({"job_id": True, "job_status": "running"}, "job_list.1.job_id"),
    ]
    for bad, named in entries:
        resp = client.post(BULK, json={"job_list": [{"job_id": good, "job_status": "running"}, bad]})
        assert resp.status_code == 422, (bad, resp.text)
        assert named in resp.json()["message"], resp.text
    assert status_of(client, good) == "sent" and status_of(client, other) == "sent"


def test_refusals_and_repeats_answer_per_job_like_update_job(client: TestClient) -> None:
    submit(client, 2, computingSite="SMALL")
    a, b = (j["PandaID"] for j in acquire(client, "SMALL", n=2))
    results = _bulk(
        client,
        [
            {"job_id": a, "job_status": "running"},
            {"job_id": a, "job_status": "running"},  # a repeat in the same call: a heartbeat
            {"job_id": b, "job_status": "running", "site_name": "BIG"},  # not the job's queue
            {"job_id": 999_999, "job_status": "running"},
        ],
    )
    assert [r["success"] for r in results] == [True] * 4
    assert [r["command"] for r in results] == ["NULL", "NULL", "tobekilled", "tobekilled"]
    assert results[3]["jobStatus"] is None and "999999 not found" in results[3]["message"]
    assert _history(client, a).count("running") == 1


def test_bad_bodies_are_422_naming_the_problem_and_store_nothing(client: TestClient) -> None:
    submit(client, 1, computingSite="SMALL")
    [j] = acquire(client, "SMALL")
    entry = {"job_id": j["PandaID"], "job_status": "running"}
    cases: list[tuple[Any, str]] = [
        ({"job_list": []}, "job_list"),
        ({"job_list": [entry] * (MAX_BULK_UPDATES + 1)}, "job_list"),
        ({"job_list": [entry], "extra": 1}, "extra"),
        ({"job_list": [entry], "harvester_id": 5}, "harvester_id"),
        ({"jobs": [entry]}, "job_list"),
        ([entry], "request"),
    ]
    for body, named in cases:
        resp = client.post(BULK, json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert named in resp.json()["message"], resp.text
    resp = client.post(BULK, content=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and "JSON" in resp.json()["message"]
    assert status_of(client, j["PandaID"]) == "sent"


def test_a_mixed_bulk_answers_and_stores_exactly_what_single_updates_would(client: TestClient) -> None:
    """Heartbeats are written together (db/heartbeats.py) and the other entries alone: a job's later entries
    in the same call see its earlier ones, and the answers and stored columns are those of update_job
    called entry by entry."""
    submit(client, 8, computingSite="SMALL")
    ids = [j["PandaID"] for j in acquire(client, "SMALL", n=8)]
    start = [{"job_id": i, "job_status": "running"} for i in ids]
    assert {r["jobStatus"] for r in _bulk(client, start)} == {"running"}
    a, b, c, d = ids[:4]
    entries: list[dict[str, Any]] = [
        {"job_id": a, "job_status": "running", "max_rss": 11},  # a heartbeat
        {"job_id": b, "job_status": "running", "max_rss": 12, "cpu_consumption_time": 3},  # other columns
        {"job_id": a, "job_status": "finished", "trans_exit_code": 0, "max_rss": 13},  # a's second: ends it
        {"job_id": a, "job_status": "running", "max_rss": 14},  # after its end: refused, nothing stored
        {"job_id": 999_999_999, "job_status": "running"},  # no such job
        {"job_id": c, "job_status": "running", "pilot_log": "tail of the log"},  # texts: written alone
        {"job_id": d, "job_status": "running", "attempt_nr": 7},  # wrong attempt: kill
        {"job_id": b, "job_status": "running", "max_rss": 15},  # b's second heartbeat
    ]
    results = _bulk(client, entries)
    # the same updates one by one on the other four jobs, mapped entry by entry
    twin = dict(zip((a, b, c, d), ids[4:], strict=True))
    single = []
    for e in entries:
        job = twin.get(e["job_id"], e["job_id"])
        single.append(ok(client.post(f"{API}/pilot/update_job", json={**e, "job_id": job})))
    keys = ("success", "command", "jobStatus", "StatusCode")
    assert [tuple(r[k] for k in keys) for r in results] == [(True, *(s[k] for k in keys[1:])) for s in single]
    assert [r["command"] for r in results][2:5] == ["NULL", "tobekilled", "tobekilled"]
    for job, other in twin.items():
        mine, theirs = describe(client, job)["job"], describe(client, other)["job"]
        for field in ("jobStatus", "maxRSS", "cpuConsumptionTime", "attemptNr"):
            assert mine[field] == theirs[field], (job, field)
        assert _history(client, job) == _history(client, other)
    assert describe(client, a)["job"]["maxRSS"] == 13 and describe(client, b)["job"]["maxRSS"] == 15

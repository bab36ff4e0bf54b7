"""Pilot endpoints over real SQLite and PostgreSQL: dispatch matching, heartbeats, final updates, guards."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import FrozenClock
from tests.db.helpers import API, acquire, describe, ok, status_of, submit, update


def test_full_cycle_records_every_state_and_metrics(client: TestClient) -> None:
    [j] = submit(
        client,
        computingSite="SMALL",
        files=[{"lfn": "in.root", "type": "input"}, {"lfn": "out.root", "type": "output"}],
    )
    [pj] = acquire(client, "SMALL", node="wn01")
    assert pj["PandaID"] == j["PandaID"] and pj["transformation"] == "/bin/echo" and pj["jobPars"] == "hello"
    assert pj["inFiles"] == "in.root" and pj["outFiles"] == "out.root"
    assert update(client, j["PandaID"], "starting")["command"] == "NULL"
    update(client, j["PandaID"], "running", max_rss=1000)
    report = {
        "out.root": {
            "guid": "g-1",
            "fsize": 123,
            "adler32": "0a0b0c0d",
            "surl": "file:///x/out.root",
            "endpoint": "LOCAL",
        }
    }
    ans = update(
        client,
        j["PandaID"],
        "finished",
        trans_exit_code=0,
        cpu_consumption_time=5,
        max_rss=2048,
        max_pss=1900,
        job_output_report=report,
        attempt_nr=1,
    )
    assert ans["jobStatus"] == "finished"
    d = describe(client, j["PandaID"])
    assert [h["status"] for h in d["history"]] == [
        "defined",
        "activated",
        "sent",
        "starting",
        "running",
        "holding",
        "finished",
    ]
    job = d["job"]
    assert job["maxRSS"] == 2048 and job["cpuConsumptionTime"] == 5 and job["startTime"] and job["endTime"]
    out = next(f for f in job["files"] if f["lfn"] == "out.root")
    assert out["GUID"] == "g-1" and out["checksum"] == "ad:0a0b0c0d" and out["status"] == "ready"


def test_dispatch_order_is_priority_then_age(client: TestClient) -> None:
    low = submit(client, computingSite="SMALL", currentPriority=10)[0]["PandaID"]
    hi1 = submit(client, computingSite="SMALL", currentPriority=500)[0]["PandaID"]
    hi2 = submit(client, computingSite="SMALL", currentPriority=500)[0]["PandaID"]
    got = [j["PandaID"] for j in acquire(client, "SMALL", n=3)]
    assert got == [hi1, hi2, low]
    assert acquire(client, "SMALL") == []


def test_dispatch_matches_pilot_resources_and_labels(client: TestClient) -> None:
    big = submit(client, computingSite="BIG", minRamCount=6000, coreCount=4)[0]["PandaID"]
    small = submit(client, computingSite="BIG", minRamCount=1000)[0]["PandaID"]
    prod = submit(client, computingSite="BIG", prodSourceLabel="managed")[0]["PandaID"]
    assert [j["PandaID"] for j in acquire(client, "BIG", n=5, memory=2000, prod_source_label="user")] == [
        small
    ]
    assert acquire(client, "BIG", n=5, memory=8000, core_count=2, prod_source_label="user") == []
    assert [j["PandaID"] for j in acquire(client, "BIG", n=5, prod_source_label="managed")] == [prod]
    assert [j["PandaID"] for j in acquire(client, "BIG", n=5, core_count=4)] == [big]


def test_acquire_bad_input(client: TestClient) -> None:
    resp = client.post(f"{API}/pilot/acquire_jobs", json={"site_name": "NOPE"})
    assert resp.status_code == 400 and "site_name" in resp.json()["message"]
    resp = client.post(f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL", "prod_source_label": "zzz"})
    assert resp.status_code == 400 and "prod_source_label" in resp.json()["message"]
    resp = client.post(f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL", "n_jobs": 0})
    assert resp.status_code == 422 and "n_jobs" in resp.json()["message"]
    assert client.post(f"{API}/pilot/acquire_jobs", json={}).status_code == 422


def test_offline_and_test_queues(client: TestClient) -> None:
    user_job = submit(client, computingSite="SMALL")[0]["PandaID"]
    test_job = submit(client, computingSite="SMALL", prodSourceLabel="test")[0]["PandaID"]
    ok(client.post(f"{API}/queue/set_status", json={"name": "SMALL", "status": "offline"}))
    data = ok(client.post(f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL"}))
    assert data["jobs"] == [] and data["StatusCode"] == 20 and "offline" in data["message"]
    ok(client.post(f"{API}/queue/set_status", json={"name": "SMALL", "status": "test"}))
    assert [j["PandaID"] for j in acquire(client, "SMALL", n=5)] == [test_job]
    ok(client.post(f"{API}/queue/set_status", json={"name": "SMALL", "status": "online"}))
    assert [j["PandaID"] for j in acquire(client, "SMALL", n=5)] == [user_job]


def test_repeated_and_late_updates_are_safe(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    jid = j["PandaID"]
    acquire(client, "SMALL")
    update(client, jid, "running")
    assert update(client, jid, "starting")["jobStatus"] == "running"  # late starting coerced
    update(client, jid, "finished")
    again = update(client, jid, "finished")
    assert again["command"] == "alreadydone" and again["jobStatus"] == "finished"
    assert update(client, jid, "running")["command"] == "tobekilled"
    hist = [h["status"] for h in describe(client, jid)["history"]]
    assert hist.count("finished") == 1


def test_attempt_mismatch_and_unknown_job_get_tobekilled(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    ans = update(client, j["PandaID"], "running", attempt_nr=2)
    assert ans["command"] == "tobekilled" and "attempt" in ans["message"]
    assert status_of(client, j["PandaID"]) == "sent"
    assert update(client, 987654, "running")["command"] == "tobekilled"


def test_update_bad_input(client: TestClient) -> None:
    for body, field in [
        ({"job_status": "running"}, "job_id"),
        ({"job_id": 1, "job_status": "sleeping"}, "job_status"),
        ({"job_id": 1, "job_status": "running", "max_rss": -5}, "max_rss"),
        ({"job_id": 1, "job_status": "running", "start_time": "noon"}, "start_time"),
    ]:
        resp = client.post(f"{API}/pilot/update_job", json=body)
        assert 400 <= resp.status_code < 500 and field in resp.json()["message"], (field, resp.text)


def test_failed_job_is_retried_as_new_attempt_until_max(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL", maxAttempt=2)
    jid = j["PandaID"]
    acquire(client, "SMALL")
    update(client, jid, "running")
    update(client, jid, "failed", pilot_error_code=1305, pilot_error_diag="exit 1", trans_exit_code=1)
    d = describe(client, jid)
    assert d["job"]["jobStatus"] == "failed" and len(d["retries"]) == 1
    child = describe(client, d["retries"][0])["job"]
    assert child["attemptNr"] == 2 and child["parentID"] == jid and child["jobStatus"] == "activated"
    acquire(client, "SMALL")
    update(client, child["PandaID"], "failed", pilot_error_code=1305)
    assert describe(client, child["PandaID"])["retries"] == []


def test_non_retryable_error_is_not_retried(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    update(client, j["PandaID"], "failed", pilot_error_code=1346, pilot_error_diag="transform not found")
    assert describe(client, j["PandaID"])["retries"] == []


def test_get_job_status_for_pilot(client: TestClient, clock: FrozenClock) -> None:
    [j] = submit(client, computingSite="SMALL")
    data = ok(client.get(f"{API}/pilot/get_job_status", params={"job_ids": [j["PandaID"]]}))
    assert data == [{"PandaID": j["PandaID"], "jobStatus": "activated", "attemptNr": 1, "command": "NULL"}]


def test_log_upload_and_download(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    jid = j["PandaID"]
    none_yet = client.get(f"{API}/file_server/download_log", params={"job_id": jid})
    assert none_yet.status_code == 404 and "no log" in none_yet.json()["message"]
    no_job = client.get(f"{API}/file_server/download_log", params={"job_id": 777777})
    assert no_job.status_code == 404 and "job 777777 not found" in no_job.json()["message"]
    url = f"{API}/file_server/upload_log"
    resp = client.post(
        url, params={"job_id": jid, "filename": "log.tgz", "attempt_nr": 1}, content=b"TARBALL"
    )
    assert ok(resp)["size"] == 7
    got = client.get(f"{API}/file_server/download_log", params={"job_id": jid})
    assert got.status_code == 200 and got.content == b"TARBALL"
    for params, field in [
        ({"job_id": jid, "filename": "../x"}, "filename"),
        ({"job_id": jid, "filename": "l.tgz", "attempt_nr": 2}, "attempt_nr"),
        ({"job_id": 99999, "filename": "l.tgz"}, "99999"),
    ]:
        bad = client.post(url, params=params, content=b"x")
        assert 400 <= bad.status_code < 500 and field in bad.json()["message"], bad.text
    assert (
        "empty"
        in client.post(url, params={"job_id": jid, "filename": "a.tgz"}, content=b"").json()["message"]
    )


def test_health_and_openapi(client: TestClient) -> None:
    health = ok(client.get(f"{API}/health"))
    assert health["status"] == "ok" and health["database_ok"] is True
    assert ok(client.get(f"{API}/system/is_alive")) == {"alive": "yes"}
    spec = client.get(f"{API}/openapi.json").json()
    for path in (
        "/job/submit",
        "/job/list",
        "/job/kill",
        "/job/reassign",
        "/job/retry",
        "/job/get_description",
        "/job/get_status",
        "/pilot/acquire_jobs",
        "/pilot/update_job",
        "/pilot/get_job_status",
        "/queue/list",
        "/queue/set_status",
        "/file_server/upload_log",
        "/file_server/download_log",
    ):
        assert f"/api/v1{path}" in spec["paths"], path

"""Client endpoints on SQLite and PostgreSQL: submit, status, description, list, kill, reassign, retry."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.db.helpers import API, acquire, describe, ok, status_of, submit, update


def test_submit_brokers_to_a_fitting_queue_and_records_why(client: TestClient) -> None:
    # given a job needing 4 cores and 8 GB, which only BIG can run
    [job] = submit(client, coreCount=4, minRamCount=8000)
    # then it is activated at BIG, and SMALL's rejection is stored with its reason
    assert job["jobStatus"] == "activated" and job["computingSite"] == "BIG"
    d = describe(client, job["PandaID"])
    assert d["brokerage"]["chosen"] == "BIG"
    assert "core(s)" in d["brokerage"]["rejected"]["SMALL"]["reason"]
    assert [h["status"] for h in d["history"]] == ["defined", "activated"]


def test_submit_impossible_job_fails_with_brokerage_reason(client: TestClient) -> None:
    [job] = submit(client, minRamCount=10**6)
    assert job["jobStatus"] == "failed"
    d = describe(client, job["PandaID"])
    errs = {e["component"]: e for e in d["job"]["errors"]}
    assert errs["brokerage"]["code"] == 1
    assert "memory" in errs["brokerage"]["diag"]


def test_mixed_batch_places_each_job_on_its_own(client: TestClient) -> None:
    jobs = [
        {"transformation": "a"},
        {"transformation": "b", "minRamCount": 10**6},
        {"transformation": "c", "computingSite": "BIG"},
    ]
    data = ok(client.post(f"{API}/job/submit", json={"jobs": jobs}))
    assert [(j["jobStatus"], j["computingSite"]) for j in data] == [
        ("activated", "BIG"),
        ("failed", None),
        ("activated", "BIG"),
    ]  # equal weights: name order


def test_submit_to_preset_queue_and_unknown_queue(client: TestClient) -> None:
    [job] = submit(client, computingSite="SMALL")
    assert job["computingSite"] == "SMALL"
    resp = client.post(f"{API}/job/submit", json={"jobs": [{"transformation": "x", "computingSite": "NOPE"}]})
    assert resp.status_code == 400 and "computingSite" in resp.json()["message"]


def test_submit_bad_input_names_the_field_and_stores_nothing(client: TestClient) -> None:
    before = ok(client.get(f"{API}/job/list"))["jobs"]
    bad = [
        ({"jobs": []}, "jobs"),
        ({"jobs": [{"jobParameters": "x"}]}, "transformation"),
        ({"jobs": [{"transformation": "x", "coreCount": 0}]}, "coreCount"),
        ({"jobs": [{"transformation": "x", "minRamCount": -1}]}, "minRamCount"),
        ({"jobs": [{"transformation": "x", "prodSourceLabel": "bogus"}]}, "prodSourceLabel"),
        ({"jobs": [{"transformation": "x", "maxAttempt": 99}]}, "maxAttempt"),
        ({"jobs": [{"transformation": "x", "colour": "red"}]}, "colour"),
        ({"jobs": [{"transformation": "x", "files": [{"lfn": "a/b", "type": "input"}]}]}, "lfn"),
        (
            {"jobs": [{"transformation": "x", "includedSites": ["A"], "excludedSites": ["A"]}]},
            "includedSites",
        ),
        ({"jobs": [{"transformation": "ok"}, {"transformation": ""}]}, "transformation"),
    ]
    for body, field in bad:
        resp = client.post(f"{API}/job/submit", json=body)
        assert 400 <= resp.status_code < 500, (body, resp.text)
        assert resp.json()["success"] is False and field in resp.json()["message"], (field, resp.text)
    assert ok(client.get(f"{API}/job/list"))["jobs"] == before


def test_submit_large_batch_in_one_call(client: TestClient) -> None:
    jobs = submit(client, n=2000)
    assert len({j["PandaID"] for j in jobs}) == 2000
    assert all(j["jobStatus"] == "activated" for j in jobs)


def test_get_status_and_unknown_ids(client: TestClient) -> None:
    [job] = submit(client)
    data = ok(client.get(f"{API}/job/get_status", params={"job_ids": [job["PandaID"], 999999]}))
    assert data[0] == {"PandaID": job["PandaID"], "jobStatus": "activated", "attemptNr": 1}
    assert data[1]["jobStatus"] is None
    assert client.get(f"{API}/job/get_status").status_code == 422


def test_get_description_unknown_job_is_404(client: TestClient) -> None:
    resp = client.get(f"{API}/job/get_description", params={"job_id": 424242})
    assert resp.status_code == 404 and "424242" in resp.json()["message"]
    assert client.get(f"{API}/job/get_description", params={"job_id": "abc"}).status_code == 422


def test_list_filters_and_keyset_pagination(client: TestClient) -> None:
    submit(client, n=5, prodUserName="alice")
    submit(client, n=3, prodUserName="bob", computingSite="BIG")
    bob = ok(client.get(f"{API}/job/list", params={"user": "bob"}))["jobs"]
    assert len(bob) == 3 and {j["computingSite"] for j in bob} == {"BIG"}
    both = ok(client.get(f"{API}/job/list", params={"user": "alice|bob", "status": "activated"}))["jobs"]
    assert len(both) == 8
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"before_id": cursor} if cursor else {})}
        page = ok(client.get(f"{API}/job/list", params=params))
        seen.extend(j["PandaID"] for j in page["jobs"])
        cursor = page["next_before_id"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 8
    exact = ok(client.get(f"{API}/job/list", params={"limit": 8}))
    assert len(exact["jobs"]) == 8 and exact["next_before_id"] is None  # no empty extra page
    assert ok(client.get(f"{API}/job/list", params={"label": "managed"}))["jobs"] == []
    assert len(ok(client.get(f"{API}/job/list", params={"hours": 1}))["jobs"]) == 8


def test_list_bad_filters(client: TestClient) -> None:
    resp = client.get(f"{API}/job/list", params={"status": "runing"})
    assert resp.status_code == 400 and "runing" in resp.json()["message"]
    assert client.get(f"{API}/job/list", params={"limit": 0}).status_code == 422
    assert "since" in client.get(f"{API}/job/list", params={"since": "yesterday"}).json()["message"]


def test_kill_activated_running_and_final_jobs(client: TestClient) -> None:
    a, b = submit(client, n=2, computingSite="SMALL")
    [sent] = acquire(client, "SMALL")
    update(client, sent["PandaID"], "running")
    queued = b["PandaID"] if sent["PandaID"] == a["PandaID"] else a["PandaID"]
    res = ok(client.post(f"{API}/job/kill", json={"job_ids": [queued, sent["PandaID"], 777777]}))
    assert [r["outcome"] for r in res] == ["done", "requested", "notfound"]
    assert status_of(client, queued) == "cancelled"
    # the running job's pilot hears tobekilled at its next heartbeat and ends the job
    assert update(client, sent["PandaID"], "running")["command"] == "tobekilled"
    update(client, sent["PandaID"], "failed", pilot_error_code=1144, pilot_error_diag="killed")
    assert status_of(client, sent["PandaID"]) == "cancelled"
    assert describe(client, sent["PandaID"])["retries"] == []  # a killed job is not retried
    again = ok(client.post(f"{API}/job/kill", json={"job_ids": [queued]}))
    assert again[0]["outcome"] == "noop"


def test_kill_codes(client: TestClient) -> None:
    [j] = submit(client)
    ok(client.post(f"{API}/job/kill", json={"job_ids": [j["PandaID"]], "code": 2}))
    assert status_of(client, j["PandaID"]) == "closed"  # code 2 = expire -> closed
    resp = client.post(f"{API}/job/kill", json={"job_ids": [j["PandaID"]], "code": 12345})
    assert resp.status_code == 400 and "code" in resp.json()["message"]
    assert client.post(f"{API}/job/kill", json={"job_ids": []}).status_code == 422


def test_force_kill_ends_a_running_job_at_once(client: TestClient) -> None:
    submit(client, computingSite="SMALL")
    [j] = acquire(client, "SMALL")
    update(client, j["PandaID"], "running")
    ok(client.post(f"{API}/job/kill", json={"job_ids": [j["PandaID"]], "code": 9}))
    assert status_of(client, j["PandaID"]) == "cancelled"
    assert update(client, j["PandaID"], "running")["command"] == "tobekilled"


def test_reassign_closes_and_creates_new_attempt(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    [r] = ok(client.post(f"{API}/job/reassign", json={"job_ids": [j["PandaID"]], "site": "BIG"}))
    assert r["outcome"] == "done" and status_of(client, j["PandaID"]) == "closed"
    new = describe(client, r["newPandaID"])["job"]
    assert new["computingSite"] == "BIG" and new["attemptNr"] == 2 and new["parentID"] == j["PandaID"]
    assert new["relationType"] == "reassign"
    # re-broker without a site: the old queue is excluded
    [r2] = ok(client.post(f"{API}/job/reassign", json={"job_ids": [r["newPandaID"]]}))
    assert describe(client, r2["newPandaID"])["job"]["computingSite"] == "SMALL"
    bad = client.post(f"{API}/job/reassign", json={"job_ids": [j["PandaID"]], "site": "NOPE"})
    assert bad.status_code == 400 and "site" in bad.json()["message"]
    [closed] = ok(client.post(f"{API}/job/reassign", json={"job_ids": [j["PandaID"]]}))
    assert closed["outcome"] == "rejected"


def test_manual_retry(client: TestClient) -> None:
    [j] = submit(client, maxAttempt=1, computingSite="SMALL")
    acquire(client, "SMALL")
    update(client, j["PandaID"], "running")
    update(client, j["PandaID"], "failed", pilot_error_code=1305)
    assert describe(client, j["PandaID"])["retries"] == []  # max attempts reached
    [r] = ok(client.post(f"{API}/job/retry", json={"job_ids": [j["PandaID"]]}))
    assert r["outcome"] == "done"
    assert describe(client, r["newPandaID"])["job"]["attemptNr"] == 2
    [again] = ok(client.post(f"{API}/job/retry", json={"job_ids": [j["PandaID"]]}))
    assert again["outcome"] == "noop" and again["newPandaID"] == r["newPandaID"]
    [active] = ok(client.post(f"{API}/job/retry", json={"job_ids": [r["newPandaID"]]}))
    assert active["outcome"] == "rejected"

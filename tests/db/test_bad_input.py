"""Bad input is a 4xx naming what is wrong, the same on both back ends, and nothing stored changes
(issue 12, findings 1-4): integers past their column, non-positive ids, booleans for integers, NUL
characters, unbounded time windows; an unhandled error or an unreachable database answers the envelope."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pandawms.protocol.bounds import BIGINT_MAX, INT_MAX
from tests.db.helpers import API, acquire, describe, ok, status_of, submit, update

HUGE = 2**63
JOB = {"transformation": "/bin/echo", "computingSite": "SMALL"}


def refused(resp: Any, *names: str) -> str:
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    body = resp.json()
    assert body["success"] is False and body["data"] is None, body
    message = str(body["message"])
    for name in names:
        assert name in message, (name, message)
    return message


def jobs_total(client: TestClient) -> int:
    return len(ok(client.get(f"{API}/job/list", params={"limit": 10_000}))["jobs"])


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("job/submit", {"jobs": [{**JOB, "taskID": HUGE}]}, "taskID"),
        ("job/submit", {"jobs": [{**JOB, "jobsetID": -1}]}, "jobsetID"),
        ("job/submit", {"jobs": [{**JOB, "files": [{"lfn": "a", "type": "input", "fsize": HUGE}]}]}, "fsize"),
        ("job/submit", {"jobs": [{**JOB, "coreCount": True}]}, "coreCount"),
        ("pilot/acquire_jobs", {"site_name": "SMALL", "memory": HUGE}, "memory"),
        ("pilot/acquire_jobs", {"site_name": "SMALL", "worker_id": -5}, "worker_id"),
        ("pilot/update_job", {"job_id": HUGE, "job_status": "running"}, "job_id"),
        ("pilot/update_job", {"job_id": 1, "job_status": "running", "core_count": INT_MAX + 1}, "core_count"),
        ("job/retry", {"job_ids": [HUGE]}, "job_ids"),
        ("job/retry", {"job_ids": [-3]}, "job_ids"),
        ("job/retry", {"job_ids": [False]}, "job_ids"),
        ("job/kill", {"job_ids": [1], "code": HUGE}, "code"),
        ("harvester/heartbeat", {"harvester_id": "f1", "alive_workers": False}, "alive_workers"),
        (
            "harvester/update_workers",
            {"harvester_id": "f1", "workers": [{"worker_id": 10**35, "status": "running"}]},
            "worker_id",
        ),
        (
            "harvester/update_workers",
            {"harvester_id": "f1", "workers": [{"worker_id": -5, "status": "running"}]},
            "worker_id",
        ),
        ("task/kill", {"jediTaskID": HUGE}, "jediTaskID"),
    ],
)
def test_out_of_range_and_mistyped_integers_are_422_naming_the_field(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    before = jobs_total(client)
    resp = client.post(f"{API}/{path}", json=body)
    assert resp.status_code == 422, resp.text
    refused(resp, field)
    assert jobs_total(client) == before


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("job/get_status", {"job_ids": "5073626306876910310785024"}, "job_ids"),
        ("job/get_status", {"job_ids": "0"}, "job_ids"),
        ("job/get_description", {"job_id": str(HUGE)}, "job_id"),
        ("job/list", {"hours": "1e308"}, "hours"),
        ("job/list", {"hours": "inf"}, "hours"),
        ("job/list", {"before_id": str(HUGE)}, "before_id"),
        ("task/list", {"hours": "inf"}, "hours"),
        ("pilot/get_job_status", {"job_ids": str(HUGE)}, "job_ids"),
    ],
)
def test_out_of_range_query_numbers_are_422(
    client: TestClient, path: str, params: dict[str, str], name: str
) -> None:
    refused(client.get(f"{API}/{path}", params=params), name)


def test_the_largest_storable_values_are_accepted(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL", taskID=BIGINT_MAX)
    assert describe(client, j["PandaID"])["job"]["taskID"] == BIGINT_MAX


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("job/list", {"user": "al\x00ice"}, "user"),
        ("queue/get", {"name": "SM\x00ALL"}, "name"),
        ("harvester/get_worker_stats", {"queue": "SMALL\x00"}, "queue"),
    ],
)
def test_nul_in_a_query_is_400_naming_the_parameter(
    client: TestClient, path: str, params: dict[str, str], name: str
) -> None:
    resp = client.get(f"{API}/{path}", params=params)
    assert resp.status_code == 400
    refused(resp, name, "NUL")


def test_nul_in_a_submitted_field_is_400_naming_it_and_nothing_is_stored(client: TestClient) -> None:
    before = jobs_total(client)
    resp = client.post(f"{API}/job/submit", json={"jobs": [JOB, {**JOB, "jobParameters": "a\x00b"}]})
    assert resp.status_code == 400
    refused(resp, "jobs[1].jobParameters", "NUL")
    assert jobs_total(client) == before


def test_nul_in_acquire_node_is_refused(client: TestClient) -> None:
    submit(client, computingSite="SMALL")
    resp = client.post(f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL", "node": "wn\x0001"})
    refused(resp, "node", "NUL")
    assert len(acquire(client, "SMALL")) == 1  # the job was not handed out by the refused call


def test_a_final_update_with_nul_in_its_diagnostics_still_ends_the_job(client: TestClient) -> None:
    # given a running job whose payload wrote a NUL into its stderr
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    update(client, j["PandaID"], "running")
    # when the pilot's final update carries it in the diagnostics
    update(
        client,
        j["PandaID"],
        "failed",
        pilot_error_code=1305,
        pilot_error_diag="payload said \x00 and died",
        pilot_log="tail \x00",
    )
    # then the job ends, with the NUL shown as U+FFFD (stored alike on SQLite and PostgreSQL)
    job = describe(client, j["PandaID"])["job"]
    assert status_of(client, j["PandaID"]) in ("failed", "holding")
    assert {"component": "pilot", "code": 1305, "diag": "payload said \ufffd and died"} in job["errors"]


def test_a_body_over_the_limit_is_413_before_it_is_read(client: TestClient) -> None:
    resp = client.post(
        f"{API}/job/submit",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": str(10**12)},
    )
    assert resp.status_code == 413
    refused(resp, "limit")


def test_an_unhandled_error_is_the_envelope_and_the_connection_stays(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pandawms.services import queries

    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(queries, "jobs_by_id", boom)
    resp = client.get(f"{API}/job/get_status", params={"job_ids": "1"})
    assert resp.status_code == 500
    body = resp.json()
    assert body["success"] is False and "RuntimeError" in body["message"] and "kaboom" not in body["message"]
    assert client.get(f"{API}/health").status_code == 200  # the same client keeps working


def test_an_unreachable_database_is_503_with_retry_after(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from pandawms.services import queries

    def down(*_a: Any, **_k: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(queries, "jobs_by_id", down)
    resp = client.get(f"{API}/job/get_status", params={"job_ids": "1"})
    assert resp.status_code == 503 and resp.headers["Retry-After"].isdigit()
    assert "database unavailable" in resp.json()["message"]


def test_a_later_upload_named_to_sort_last_does_not_shadow_the_current_attempts_log(
    client: TestClient,
) -> None:
    # given a job that was retried: attempt 1 uploaded its log, the retry (a new attempt) uploads its own
    [j] = submit(client, computingSite="SMALL")
    jid = j["PandaID"]
    url = f"{API}/file_server/upload_log"
    ok(client.post(url, params={"job_id": jid, "filename": "log.tgz"}, content=b"THE-REAL-LOG"))
    # when someone uploads a file named to sort last, and then the real log is uploaded again
    ok(client.post(url, params={"job_id": jid, "filename": "zzzz.tgz"}, content=b"POISON"))
    ok(client.post(url, params={"job_id": jid, "filename": "log.tgz"}, content=b"THE-REAL-LOG-2"))
    # then the download is the newest upload, not the alphabetically last name
    got = client.get(f"{API}/file_server/download_log", params={"job_id": jid})
    assert got.status_code == 200 and got.content == b"THE-REAL-LOG-2"


def test_a_failed_log_write_leaves_no_partial_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from pandawms.services.logstore import LogStore

    store = LogStore(Path(tmp_path))

    def full(self: Path, data: bytes) -> int:
        self.open("wb").close()  # the file is created, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match="No space"):
        store.write(7, 1, "log.tgz", b"x" * 10)
    assert [p for p in Path(tmp_path).rglob("*") if p.is_file()] == []


def test_an_id_repeated_in_one_retry_makes_one_new_attempt(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    ok(client.post(f"{API}/job/kill", json={"job_ids": [j["PandaID"]]}))
    before = jobs_total(client)
    results = ok(client.post(f"{API}/job/retry", json={"job_ids": [j["PandaID"]] * 500 + [777_777]}))
    assert len(results) == 501 and {r["newPandaID"] for r in results[:500]} == {results[0]["newPandaID"]}
    assert results[0]["outcome"] == "done" and results[-1]["outcome"] == "notfound"
    assert jobs_total(client) == before + 1


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            "job/submit",
            {"jobs": [{**JOB, "corecount": 2}]},
            "jobs.0.corecount: Extra inputs are not permitted",
        ),
        (
            "job/submit",
            {"jobs": [{**JOB, "files": [{"lfn": "a", "type": "input", "fsze": 1}]}]},
            "jobs.0.files.0.fsze: Extra inputs are not permitted - did you mean fsize?",
        ),
        ("pilot/acquire_jobs", {"site_name": "SMALL", "n_job": 1}, "n_job: Extra inputs are not permitted"),
    ],
)
def test_unknown_field_answer_suggests_the_known_name(
    client: TestClient, path: str, body: dict[str, Any], expected: str
) -> None:
    before = jobs_total(client)
    message = refused(client.post(f"{API}/{path}", json=body))
    assert expected in message
    assert "did you mean" in message, message
    assert jobs_total(client) == before


def test_unknown_task_parameter_suggests_the_known_name(client: TestClient) -> None:
    params = {
        "taskName": "user.x.t",
        "userName": "x",
        "vo": "atlas",
        "prodSourceLabel": "user",
        "transPath": "/bin/true",
        "jobParameters": [{"type": "constant", "value": "x"}],
        "nFilesPerJobb": 2,
    }
    message = refused(client.post(f"{API}/task/submit", json=params))
    assert "nFilesPerJobb: Extra inputs are not permitted - did you mean nFilesPerJob" in message, message


def test_a_batch_error_time_must_be_a_date_time_string(client: TestClient) -> None:
    error = {"report_id": "00000000", "queue": "SMALL", "time": 0, "reason": "sbatch: refused"}
    body = {"harvester_id": "f1", "alive_workers": 0, "batch_errors": [error]}
    message = refused(client.post(f"{API}/harvester/heartbeat", json=body), "batch_errors.0.time")
    assert "date-time string" in message, message
    error["time"] = "2026-01-01T12:00:00Z"
    assert client.post(f"{API}/harvester/heartbeat", json=body).status_code == 200

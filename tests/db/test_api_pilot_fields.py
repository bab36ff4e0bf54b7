"""What pilots send besides their status is kept or checked (issue 8 §11-13), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection

from pandawms.agents.watchdogs import rules_from_config
from pandawms.config import WatchdogConfig
from pandawms.db.engine import Database
from pandawms.services import placement
from pandawms.services.termination import JobRetryPolicy
from pandawms.services.watchdog import apply_rule
from tests.conftest import FrozenClock
from tests.db.helpers import API, acquire, describe, ok, status_of, submit, update

REPORT = {
    "out.root": {"guid": "g-1", "fsize": 9, "adler32": "01020304", "surl": "file:///o", "endpoint": "L"}
}


def test_a_refused_final_update_registers_no_output(client: TestClient) -> None:
    # given a job not yet handed to any pilot
    [j] = submit(client, computingSite="SMALL", files=[{"lfn": "out.root", "type": "output"}])
    # when a stray pilot reports it finished with an output
    ans = update(client, j["PandaID"], "finished", job_output_report=REPORT, meta_data={"exitCode": 0})
    # then the job is unchanged and neither the output nor the job report was registered
    assert ans["jobStatus"] == "activated" and "cannot go activated -> holding" in ans["message"]
    d = describe(client, j["PandaID"])
    [out] = d["job"]["files"]
    assert (out["GUID"], out["status"], d["metaData"]) == ("", "", "")


def test_pilot_log_and_job_report_are_kept_and_shown(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    update(client, j["PandaID"], "running", pilot_log="setup done\n")
    update(client, j["PandaID"], "finished", meta_data={"exeErrorCode": 0, "events": 10})
    d = describe(client, j["PandaID"])
    assert d["pilotLog"] == "setup done\n"  # a later update without a log keeps the earlier one
    assert d["metaData"] == '{"events": 10, "exeErrorCode": 0}'
    page = client.get(f"/job/{j['PandaID']}/", params={"json": "1"}).json()
    assert page["pilotLog"] == "setup done\n" and page["metaData"] == d["metaData"]


def test_oversized_metadata_is_refused_naming_the_field(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    resp = client.post(
        f"{API}/pilot/update_job",
        json={"job_id": j["PandaID"], "job_status": "running", "meta_data": {"x": "y" * 1_000_001}},
    )
    assert resp.status_code == 422 and "meta_data" in resp.text
    assert status_of(client, j["PandaID"]) == "sent"


def test_an_update_from_another_queue_is_refused_with_a_kill(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    ans = update(client, j["PandaID"], "running", site_name="BIG")
    assert ans["command"] == "tobekilled" and "runs at SMALL, not at BIG" in ans["message"]
    assert status_of(client, j["PandaID"]) == "sent"
    assert update(client, j["PandaID"], "running", site_name="SMALL")["jobStatus"] == "running"


def test_acquire_records_the_pilot_and_checks_the_worker_factory(client: TestClient) -> None:
    submit(client, computingSite="SMALL", n=2)
    grant = ok(
        client.post(
            f"{API}/harvester/add_workers",
            json={"harvester_id": "f1", "queue": "SMALL", "max_workers": 5, "max_queued": 5, "max_new": 0},
        )
    )
    wid = grant["workers"][0]["worker_id"]
    bad = client.post(
        f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL", "worker_id": wid, "harvester_id": "f2"}
    )
    assert bad.status_code == 400 and "harvester_id" in bad.text and "'f1'" in bad.text
    [pj] = acquire(client, "SMALL", worker_id=wid, harvester_id="f1", pilot_id="pilot-42")
    assert describe(client, pj["PandaID"])["job"]["pilotID"] == "pilot-42"


def test_submission_takes_the_servers_default_max_attempt(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    assert describe(client, j["PandaID"])["job"]["maxAttempt"] == 3  # ServerConfig.default_max_attempt
    [k] = submit(client, computingSite="SMALL", maxAttempt=7, destinationSE="DISK1")
    job = describe(client, k["PandaID"])["job"]
    assert (job["maxAttempt"], job["destinationSE"]) == (7, "DISK1")
    sent = {pj["PandaID"]: pj["destinationSE"] for pj in acquire(client, "SMALL", n=2)}
    assert sent == {j["PandaID"]: "", k["PandaID"]: "DISK1"}


def test_a_watchdog_batch_reads_the_brokerage_snapshot_once(
    client: TestClient, db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given 5 running jobs, all silent past the lost-heartbeat limit, each with a retry to broker
    ids = [j["PandaID"] for j in submit(client, n=5)]
    assert len(acquire(client, "SMALL", n=5) + acquire(client, "BIG", n=5)) == 5
    for pid in ids:
        update(client, pid, "running")
    clock.advance(seconds=WatchdogConfig().lost_heartbeat + 1)
    loads: list[int] = []
    real = placement.Broker.load

    def counted(
        cls: type[placement.Broker], conn: Connection, *, with_loads: bool = True
    ) -> placement.Broker:
        loads.append(1)
        return real(conn, with_loads=with_loads)

    monkeypatch.setattr(placement.Broker, "load", classmethod(counted))
    rule = next(r for r in rules_from_config(WatchdogConfig()) if r.name == "lost_heartbeat")
    # when the watchdog ends them in one batch
    with db.write() as conn:
        assert apply_rule(conn, rule, clock(), JobRetryPolicy(), limit=100) == 5
    # then every job got its retry from one snapshot of queues and loads
    assert len(loads) == 1
    assert all(describe(client, pid)["retries"] for pid in ids)


def test_numbers_too_big_for_the_task_buffer_are_bad_input(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    for field, value in (("max_rss", 2**63), ("trans_exit_code", 2**31), ("job_id", 2**63)):
        body = {"job_id": j["PandaID"], "job_status": "running", field: value}
        resp = client.post(f"{API}/pilot/update_job", json=body)
        assert resp.status_code == 422 and field in resp.text, (field, resp.text)
    assert status_of(client, j["PandaID"]) == "sent"
    files = [{"scope": "user.a", "name": "f", "bytes": 2**64, "adler32": "0a0b0c0d", "guid": "0" * 32}]
    ok(client.post(f"{API}/scope/add", json={"scope": "user.a", "account": "a"}))
    ok(client.post(f"{API}/did/add", json={"dids": [{"scope": "user.a", "name": "ds"}]}))
    resp = client.post(f"{API}/did/add_files", json={"dataset": "user.a:ds", "files": files})
    assert resp.status_code == 422, resp.text
    assert "files.0.bytes" in resp.json()["message"] and "less than or equal" in resp.json()["message"]
    files[0]["bytes"] = 5
    ok(client.post(f"{API}/did/add_files", json={"dataset": "user.a:ds", "files": files}))

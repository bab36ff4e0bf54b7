"""Watchdog agents with a frozen clock: lost heartbeat, sent/holding timeouts, expiry, re-brokerage."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pandawms.agents.brokerage import brokerage_agent
from pandawms.agents.watchdogs import watchdog_agents
from pandawms.config import WatchdogConfig
from pandawms.core.retry import SYSTEM_CLOSURE_CAP
from pandawms.db.engine import Database
from pandawms.services.termination import JobRetryPolicy
from tests.conftest import FrozenClock
from tests.db.helpers import API, acquire, describe, ok, status_of, submit, update

CFG = WatchdogConfig(
    lost_heartbeat=7200,
    sent_timeout=1800,
    holding_timeout=3600,
    activated_expiry=86400,
    defined_timeout=14400,
)


def run_watchdogs(db: Database, clock: FrozenClock) -> dict[str, int]:
    return {a.name: a.run_once(clock()) for a in watchdog_agents(db, CFG, JobRetryPolicy())}


def test_lost_heartbeat_fails_the_job_with_code_100_and_retries_it(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    update(client, j["PandaID"], "running")
    clock.advance(seconds=7199)
    assert run_watchdogs(db, clock)["lost_heartbeat"] == 0
    update(client, j["PandaID"], "running")  # a heartbeat resets the clock
    clock.advance(seconds=7199)
    assert run_watchdogs(db, clock)["lost_heartbeat"] == 0
    clock.advance(seconds=2)
    assert run_watchdogs(db, clock)["lost_heartbeat"] == 1
    d = describe(client, j["PandaID"])
    errs = {e["component"]: e for e in d["job"]["errors"]}
    assert d["job"]["jobStatus"] == "failed" and errs["jobdispatcher"]["code"] == 100
    assert len(d["retries"]) == 1 and status_of(client, d["retries"][0]) == "activated"
    # the dead pilot, if it comes back, is told to stop
    assert update(client, j["PandaID"], "running")["command"] == "tobekilled"
    assert run_watchdogs(db, clock)["lost_heartbeat"] == 0  # idempotent


def test_sent_timeout_code_102(client: TestClient, db: Database, clock: FrozenClock) -> None:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    clock.advance(seconds=1801)
    assert run_watchdogs(db, clock)["sent_timeout"] == 1
    errs = {e["component"]: e["code"] for e in describe(client, j["PandaID"])["job"]["errors"]}
    assert errs == {"jobdispatcher": 102}


def test_sent_timeouts_are_system_closures_bounded_by_the_cap(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    # given a maxAttempt=1 job whose every attempt is claimed by a pilot that is then lost
    [j] = submit(client, computingSite="SMALL", maxAttempt=1)
    pid, seen = j["PandaID"], []
    for _ in range(SYSTEM_CLOSURE_CAP + 2):
        assert [x["PandaID"] for x in acquire(client, "SMALL")] == [pid]
        clock.advance(seconds=1801)
        assert run_watchdogs(db, clock)["sent_timeout"] == 1
        d = describe(client, pid)
        seen.append((d["job"]["attemptNr"], d["job"]["maxAttempt"], d["job"]["jobStatus"]))
        if not d["retries"]:
            break
        [pid] = d["retries"]
    # then each closure was retried with one more attempt, up to the cap; the next one ended the job
    assert seen == [(1, 1, "failed"), (2, 2, "failed"), (3, 3, "failed"), (4, 4, "failed")]
    assert acquire(client, "SMALL") == []


def test_holding_timeout_code_103(client: TestClient, db: Database, clock: FrozenClock) -> None:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    update(client, j["PandaID"], "holding")
    clock.advance(seconds=3601)
    assert run_watchdogs(db, clock)["holding_timeout"] == 1
    assert status_of(client, j["PandaID"]) == "failed"


def test_killed_job_with_lost_pilot_ends_cancelled(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    update(client, j["PandaID"], "running")
    ok(client.post(f"{API}/job/kill", json={"job_ids": [j["PandaID"]]}))
    clock.advance(hours=3)
    run_watchdogs(db, clock)
    d = describe(client, j["PandaID"])
    assert d["job"]["jobStatus"] == "cancelled" and d["retries"] == []


def test_never_started_jobs_expire_as_closed(client: TestClient, db: Database, clock: FrozenClock) -> None:
    [j] = submit(client, computingSite="SMALL")
    clock.advance(days=1, seconds=1)
    assert run_watchdogs(db, clock)["activated_expiry"] == 1
    d = describe(client, j["PandaID"])
    assert d["job"]["jobStatus"] == "closed" and d["retries"] == []
    assert {e["component"]: e["code"] for e in d["job"]["errors"]} == {"taskbuffer": 102}


def test_waiting_job_is_rebrokered_when_a_queue_comes_back(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    for name in ("SMALL", "BIG"):
        ok(client.post(f"{API}/queue/set_status", json={"name": name, "status": "offline"}))
    [j] = submit(client)
    assert j["jobStatus"] == "defined"
    agent = brokerage_agent(db, 60, 100)
    assert agent.run_once(clock()) == 0
    ok(client.post(f"{API}/queue/set_status", json={"name": "BIG", "status": "online"}))
    assert agent.run_once(clock()) == 1
    job = describe(client, j["PandaID"])["job"]
    assert job["jobStatus"] == "activated" and job["computingSite"] == "BIG"


def test_a_job_that_keeps_waiting_does_not_hide_the_ones_behind_it(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    # given every queue offline, an older job that only BIG may run and a newer one that any queue may run
    for name in ("SMALL", "BIG"):
        ok(client.post(f"{API}/queue/set_status", json={"name": name, "status": "offline"}))
    [old] = submit(client, includedSites=["BIG"])
    [new] = submit(client)
    # when only SMALL comes back
    ok(client.post(f"{API}/queue/set_status", json={"name": "SMALL", "status": "online"}))
    # then one pass places the newer job although the older one must go on waiting (SQLite's short
    # batches used to stop at the first job that stayed)
    assert brokerage_agent(db, 60, 100).run_once(clock()) == 1
    assert status_of(client, old["PandaID"]) == "defined"
    assert describe(client, new["PandaID"])["job"]["computingSite"] == "SMALL"


def test_a_job_lost_in_dispatch_is_retried_even_with_max_attempt_1(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    # given a job with one attempt allowed, claimed by a pilot whose answer was lost
    [j] = submit(client, computingSite="SMALL", maxAttempt=1)
    acquire(client, "SMALL")
    # when the sent timeout closes it
    clock.advance(seconds=1801)
    assert run_watchdogs(db, clock)["sent_timeout"] == 1
    # then it is a system closure, not a failure of the job: a new attempt is queued
    job = describe(client, j["PandaID"])["job"]
    assert job["jobStatus"] == "failed"
    [retry] = acquire(client, "SMALL")
    assert retry["PandaID"] != j["PandaID"] and retry["attemptNr"] == 2
    # and the closure did not use up the user's one attempt, which a failure of the retry now does
    update(client, retry["PandaID"], "failed", pilot_error_code=1305, pilot_error_diag="payload failed")
    d = describe(client, retry["PandaID"])
    assert (d["job"]["maxAttempt"], d["job"]["jobStatus"], d["retries"]) == (2, "failed", [])

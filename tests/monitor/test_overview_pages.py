"""/errors/, /sites/, /site/<q>/, /users/, /user/<u>/: counts, failure rate, breakdowns and diagnosis."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.db.helpers import API, ok, submit
from tests.monitor.helpers import page_json, run_jobs


def test_errors_page_rates_and_breakdowns(mon: TestClient) -> None:
    # given on SMALL: alice 1 failed (1099) + 3 finished; on BIG: bob 2 failed (1305)
    run_jobs(mon, "SMALL", 4, user="alice", fail=1, code=1099)
    run_jobs(mon, "BIG", 2, user="bob", fail=2, code=1305)
    # when
    data = page_json(mon, "/errors/")
    # then failure rate = failed / (failed + finished) = 3 / 6
    assert data["failureRate"] == 50.0
    by_code = {(e["component"], e["code"]): e for e in data["errsByCount"]}
    assert by_code["pilot", 1305]["count"] == 2 and by_code["pilot", 1099]["count"] == 1
    assert data["errsByCount"][0]["code"] == 1305  # most frequent first
    sites = {g["name"]: g for g in data["errsBySite"]}
    assert (sites["BIG"]["failed"], sites["BIG"]["finished"], sites["BIG"]["failureRate"]) == (2, 0, 100.0)
    assert (sites["SMALL"]["failed"], sites["SMALL"]["failureRate"]) == (1, 25.0)
    assert sites["SMALL"]["url"] == "/site/SMALL/"
    users = {g["name"]: g for g in data["errsByUser"]}
    assert users["alice"]["errors"][0]["url"] == (
        "/jobs/?jobstatus=failed%7Cholding&errorcode=pilot%3A1099&produsername=alice"
    )
    # and each count links to the filtered job list, which holds exactly those jobs
    linked = page_json(mon, by_code["pilot", 1305]["url"])
    assert linked["total"] == 2 and {j["jobStatus"] for j in linked["jobs"]} == {"failed"}
    # and the failures-over-time chart stacks by code
    chart = next(c for c in data["charts"] if c["name"] == "failures")
    assert {s["name"] for s in chart["series"]} == {"pilot:1305", "pilot:1099"}
    assert sum(sum(s["values"]) for s in chart["series"]) == 3
    assert "<svg" in mon.get("/errors/").text


def test_errors_page_filters_by_queue(mon: TestClient) -> None:
    run_jobs(mon, "SMALL", 2, fail=1)
    run_jobs(mon, "BIG", 1, fail=1, code=1305)
    data = page_json(mon, "/errors/?computingsite=BIG")
    assert [(e["code"], e["count"]) for e in data["errsByCount"]] == [(1305, 1)]


def test_sites_list_counts_workers_and_limits(mon: TestClient) -> None:
    # given two finished + one failed on SMALL, two queued on BIG, and a factory worker on BIG
    run_jobs(mon, "SMALL", 3, fail=1)
    submit(mon, 2, computingSite="BIG")
    ok(
        mon.post(
            f"{API}/harvester/add_workers",
            json={"harvester_id": "h1", "queue": "BIG", "max_workers": 1, "max_queued": 1},
        )
    )
    # when
    sites = {s["name"]: s for s in page_json(mon, "/sites/")["sites"]}
    # then
    assert sites["SMALL"]["counts"] == {"finished": 2, "failed": 1, "activated": 1}
    assert sites["SMALL"]["failureRate"] == pytest.approx(33.3)
    assert sites["BIG"]["counts"] == {"activated": 2} and sites["BIG"]["workers"] == {"submitted": 1}
    assert sites["BIG"]["cores"] == 8 and sites["SMALL"]["maxWalltime"] == 3600
    assert "SMALL" in mon.get("/sites/").text


def test_site_page_explains_why_nothing_runs(mon: TestClient) -> None:
    # given jobs waiting on SMALL with no pilot worker, and BIG set offline
    submit(mon, 2, computingSite="SMALL")
    ok(mon.post(f"{API}/queue/set_status", json={"name": "BIG", "status": "offline"}))
    small = page_json(mon, "/site/SMALL/")
    big = page_json(mon, "/site/BIG/")
    assert any("2 job(s) wait (activated) but no pilot worker" in d for d in small["diagnosis"])
    assert big["diagnosis"][0].startswith("The queue is offline")
    assert any("nothing was brokered here" in d for d in big["diagnosis"])
    assert "Diagnosis" in mon.get("/site/SMALL/").text


def test_site_page_lists_brokerage_rejections(mon: TestClient) -> None:
    # given a job too big for SMALL (brokerage puts it on BIG and records why SMALL was refused)
    [j] = submit(mon, 1, minRamCount=6000, coreCount=2)
    data = page_json(mon, "/site/SMALL/")
    [rej] = data["rejections"]
    assert rej["PandaID"] == j["PandaID"] and rej["permanent"] and "core" in rej["reason"]
    assert any("Brokerage refused this queue" in d for d in data["diagnosis"])


def test_users_pages(mon: TestClient) -> None:
    run_jobs(mon, "SMALL", 3, user="alice", fail=1)
    run_jobs(mon, "BIG", 1, user="bob")
    users = {u["name"]: u for u in page_json(mon, "/users/")["users"]}
    assert users["alice"]["counts"] == {"finished": 2, "failed": 1, "activated": 1}
    assert users["alice"]["failureRate"] == pytest.approx(33.3) and users["alice"]["cpuHours"] == 2.0
    assert users["bob"]["url"] == "/user/bob/"
    alice = page_json(mon, "/user/alice/")
    assert alice["user"]["counts"]["failed"] == 1 and alice["errsByCount"][0]["code"] == 1099
    nobody = page_json(mon, "/user/nobody/")
    assert nobody["user"]["counts"] == {} and nobody["user"]["failureRate"] is None


def test_site_page_lists_jobs_waiting_for_brokerage(mon: TestClient) -> None:
    # given every queue offline, so a new job waits in defined with the brokerage's explanation
    for name in ("SMALL", "BIG"):
        ok(mon.post(f"{API}/queue/set_status", json={"name": name, "status": "offline"}))
    [j] = submit(mon, 1)
    # when
    waiting = page_json(mon, "/site/SMALL/")["waiting"]
    # then
    assert [w["PandaID"] for w in waiting] == [j["PandaID"]]
    assert "SMALL: queue is offline" in waiting[0]["reason"]
    assert "Jobs still waiting for brokerage" in mon.get("/site/SMALL/").text


def test_a_user_named_by_a_grid_dn_has_a_page(mon: TestClient) -> None:
    # given a user whose name is a certificate DN, as grid users often are
    dn = "/DC=ch/DC=cern/OU=Users/CN=jdoe"
    run_jobs(mon, "SMALL", 2, user=dn)
    # when the users list links to their page, then the link works
    [row] = [u for u in page_json(mon, "/users/")["users"] if u["name"] == dn]
    page = page_json(mon, row["url"])
    assert page["user"]["name"] == dn and page["user"]["counts"]["finished"] == 2

"""Issue 13 on the pages: ``limit`` means one thing (the list shows at most that many jobs), ``hours``
takes decimals everywhere, one default window, and the job list's row carries its error code apart."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.db.helpers import submit
from tests.monitor.helpers import page_json, run_jobs


def test_limit_caps_the_list_and_the_summaries(mon: TestClient) -> None:
    submit(mon, 5, computingSite="SMALL")
    data = page_json(mon, "/jobs/?limit=2")
    assert len(data["jobs"]) == 2 and data["summarised"] == 2
    assert data["nextUrl"] and "limit=2" in data["nextUrl"]
    tasks = mon.get("/tasks/?limit=1&json")
    assert tasks.status_code == 200, tasks.text


@pytest.mark.parametrize("path", ["/", "/jobs/", "/errors/", "/sites/", "/users/", "/user/alice/", "/tasks/"])
def test_half_an_hour_is_a_window_everywhere(mon: TestClient, path: str) -> None:
    resp = mon.get(path + "?hours=0.5&json")
    assert resp.status_code == 200, resp.text
    assert resp.json()["selection"]["window"]["label"] == "last 30 minutes"


@pytest.mark.parametrize("path", ["/", "/jobs/", "/errors/", "/sites/", "/users/", "/user/alice/"])
def test_one_default_window_on_every_job_page(mon: TestClient, path: str) -> None:
    assert page_json(mon, path)["selection"]["window"]["label"] == "last 12 hours"


def test_a_failed_row_has_its_code_apart_from_the_message(mon: TestClient) -> None:
    [pid] = run_jobs(mon, "SMALL", 1, fail=1, code=1099)
    [row] = page_json(mon, f"/jobs/?pandaid={pid}")["jobs"]
    assert row["errorCode"] == "pilot:1099 STAGEINFAILED"
    assert row["error"].startswith(row["errorCode"]) and row["errorDiag"] in row["error"]


def test_home_has_a_per_queue_summary_and_the_most_recent_failures(mon: TestClient) -> None:
    failed = run_jobs(mon, "SMALL", 2, fail=1, code=1099)
    submit(mon, 1, computingSite="BIG")
    data = page_json(mon, "/")
    queues = {q["name"]: q["counts"] for q in data["queues"]}
    # (the failed job's retry waits, activated, on SMALL)
    assert queues["SMALL"] == {"finished": 1, "failed": 1, "activated": 1} and queues["BIG"] == {
        "activated": 1
    }
    assert [j["PandaID"] for j in data["recentFailures"]] == [failed[0]]
    assert data["recentFailures"][0]["errorCode"] == "pilot:1099 STAGEINFAILED"
    html = mon.get("/").text
    assert 'id="homequeues"' in html and 'id="recentfailures"' in html

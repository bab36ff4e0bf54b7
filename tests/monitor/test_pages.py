"""Every monitor page answers HTML and its JSON twin (?json, &json, Accept header) on both backends."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.db.helpers import submit
from tests.monitor.helpers import page_json, run_jobs

PAGES = {
    "/": {"selection", "stateCounts", "total", "failureRate", "charts"},
    "/jobs/": {
        "selection",
        "selectionsummary",
        "errsByCount",
        "jobs",
        "total",
        "totalExact",
        "nextUrl",
        "charts",
    },
    "/errors/": {"jobSummary", "errsByCount", "errsBySite", "errsByUser", "failureRate", "charts"},
    "/sites/": {"selection", "sites"},
    "/site/SMALL/": {"site", "diagnosis", "rejections", "errsByCount", "charts"},
    "/users/": {"selection", "users"},
    "/user/alice/": {"user", "errsByCount", "charts"},
}


@pytest.mark.parametrize("path", sorted(PAGES))
def test_every_page_has_html_and_json_twin(mon: TestClient, path: str) -> None:
    # given a few finished and failed jobs
    run_jobs(mon, "SMALL", 3, fail=1)
    # when the page is fetched as HTML, with ?json and with Accept: application/json
    html = mon.get(path)
    by_param = page_json(mon, path)
    by_header = mon.get(path, headers={"Accept": "application/json"})
    # then the HTML has the monitor chrome and both JSON forms carry the page's keys
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert 'class="topbar"' in html.text and "Job by ID" in html.text and 'class="selbar"' in html.text
    assert PAGES[path] <= set(by_param)
    assert by_header.status_code == 200 and by_header.json() == by_param


def test_job_page_html_and_json(mon: TestClient) -> None:
    # given a job
    [j] = submit(mon, 1, computingSite="SMALL")
    # when its page is fetched in both forms and through BigPanDA's /job?pandaid= form
    html = mon.get(f"/job/{j['PandaID']}/")
    data = page_json(mon, f"/job/{j['PandaID']}/")
    redirect = mon.get(f"/job?pandaid={j['PandaID']}&json", follow_redirects=False)
    # then
    assert html.status_code == 200 and f"PanDA job {j['PandaID']}" in html.text
    assert data["job"]["PandaID"] == j["PandaID"] and data["job"]["jobStatus"] == "activated"
    assert {"files", "history", "errors", "resources", "retries", "log"} <= set(data)
    assert redirect.status_code == 302 and redirect.headers["location"] == f"/job/{j['PandaID']}/?json"


def test_home_counts_jobs_by_state_in_the_window(mon: TestClient) -> None:
    # given 2 finished, 1 failed (its retry is activated) and 2 queued jobs
    run_jobs(mon, "SMALL", 3, fail=1)
    submit(mon, 2, computingSite="BIG")
    # when
    data = page_json(mon, "/")
    # then
    counts = {s["state"]: s["count"] for s in data["stateCounts"]}
    assert counts == {"activated": 3, "finished": 2, "failed": 1}
    assert data["total"] == 6 and data["failureRate"] == pytest.approx(33.3)
    assert data["stateCounts"][0]["url"] == "/jobs/?jobstatus=activated"


def test_quick_search_redirects(mon: TestClient) -> None:
    [j] = submit(mon, 1, computingSite="SMALL")
    cases = {
        f"/search/?pandaid={j['PandaID']}": f"/job/{j['PandaID']}/",
        f"/search/?q={j['PandaID']}": f"/job/{j['PandaID']}/",
        "/search/?queue=SMALL": "/site/SMALL/",
        "/search/?q=SMALL": "/site/SMALL/",
        "/search/?q=alice": "/user/alice/",
        "/search/?user=bob": "/user/bob/",
        "/search/?user=Jane Doe": "/user/Jane%20Doe/",
    }
    for url, target in cases.items():
        resp = mon.get(url, follow_redirects=False)
        assert (resp.status_code, resp.headers["location"]) == (302, target), url
    assert mon.get("/search/").status_code == 400


def test_static_files_and_openapi(mon: TestClient) -> None:
    # when
    css, js = mon.get("/static/monitor.css"), mon.get("/static/monitor.js")
    spec = mon.get("/api/v1/openapi.json").json()
    # then the assets are served locally and every page is documented with its JSON model
    assert css.status_code == 200 and js.status_code == 200 and "data-live" in js.text
    for path in (
        "/",
        "/jobs/",
        "/job/{pandaid}/",
        "/errors/",
        "/sites/",
        "/site/{name}/",
        "/users/",
        "/user/{name}/",
    ):
        op = spec["paths"][path]["get"]
        assert op["tags"] == ["monitor"], path
        content = op["responses"]["200"]["content"]
        assert "application/json" in content and "text/html" in content, path
    params = {p["name"] for p in spec["paths"]["/jobs/"]["get"]["parameters"]}
    assert {"jobstatus", "computingsite", "errorcode", "hours", "days", "limit", "sortby", "json"} <= params
    assert "JobsPage" in spec["components"]["schemas"]

"""/tasks/ and /task/<id>/ on both back ends: HTML and JSON twins, filters, keyset pages, progress in files,
jobs by state, scouts, retries, errors, the progress plot, the shares, and the job page's task link."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from pandawms.core.specs import ProdSourceLabel
from pandawms.core.tasks import TaskStatus
from pandawms.db.engine import Database
from tests.conftest import FrozenClock
from tests.monitor.helpers import page_json
from tests.monitor.task_helpers import add_jobs, build_task, new_task

T = TaskStatus


def test_task_list_shows_progress_active_jobs_and_state_counts(
    mon: TestClient, db: Database, clock: FrozenClock
) -> None:
    # given a running task with 20 master files (10 finished, 2 failed) and 2 active jobs, and a new task
    world = build_task(db, clock())
    with db.write() as conn:
        other = new_task(
            conn, clock(), "user.bob.ana", user="bob", label=ProdSourceLabel.USER, path=[T.DEFINED]
        )
    # when
    data = page_json(mon, "/tasks/")
    html = mon.get("/tasks/").text
    # then both are listed newest change first with progress and jobs, and the counts by state are exact
    rows = {t["jediTaskID"]: t for t in data["tasks"]}
    assert list(rows) == [world.task_id, other] or list(rows) == [other, world.task_id]
    t = rows[world.task_id]
    assert (t["status"], t["userName"], t["workingGroup"]) == ("running", "alice", "AP_TOP")
    p = t["progress"]
    assert (p["total"], p["finished"], p["failed"], p["remaining"]) == (20, 10, 2, 8)
    assert (p["finishedPercent"], p["failedPercent"]) == (50.0, 10.0)
    assert (t["nJobsRunning"], t["nJobsQueued"]) == (1, 1)
    assert rows[other]["progress"]["total"] == 0 and rows[other]["nJobsRunning"] == 0
    assert {s["state"]: s["count"] for s in data["stateCounts"]} == {"running": 1, "defined": 1}
    assert data["total"] == 2 and data["totalExact"]
    # and the HTML links each task, colours its state and draws the bar
    assert f'href="/task/{world.task_id}/"' in html and 'class="state s-running"' in html
    assert 'class="p-finished" style="width:50.0%"' in html and ".s-scouting{background:" in html
    assert '<a href="/tasks/">Tasks</a>' in html or 'href="/tasks/" class="active">Tasks' in html


def test_task_list_filters(mon: TestClient, db: Database, clock: FrozenClock) -> None:
    now = clock()
    with db.write() as conn:
        a = new_task(conn, now, "mc23.a")
        b = new_task(conn, now, "user.bob.b", user="bob", label=ProdSourceLabel.USER, working_group="")
        c = new_task(conn, now - timedelta(days=10), "mc23.old", path=[T.DEFINED])

    def ids(query: str) -> list[int]:
        return sorted(t["jediTaskID"] for t in page_json(mon, f"/tasks/?{query}")["tasks"])

    assert ids("username=bob") == [b]
    assert ids("taskname=mc23.*") == [a]  # the old one is outside the 7-day window
    assert ids("taskname=mc23.*&days=30") == [a, c]
    assert ids("status=defined") == [c]  # an active state lifts the window
    assert ids("status=!defined") == [a, b]
    assert ids(f"jeditaskid={c}") == [c]
    assert ids("prodsourcelabel=user") == [b]
    assert ids("workinggroup=AP_*") == [a]
    filtered = page_json(mon, "/tasks/?username=alice&days=30")
    assert filtered["total"] == 2 and {s["state"] for s in filtered["stateCounts"]} == {"running", "defined"}
    bad = mon.get("/tasks/?status=runing&json")
    assert bad.status_code == 400 and "status: unknown state 'runing'" in bad.json()["error"]
    assert mon.get("/tasks/?jobstatus=running").status_code == 400


def test_task_list_keyset_pages(mon: TestClient, db: Database, clock: FrozenClock) -> None:
    with db.write() as conn:
        made = [new_task(conn, clock.advance(minutes=1), f"t{i}", path=[T.DEFINED]) for i in range(5)]
    seen, url = [], "/tasks/?display_limit=2"
    for _ in range(5):
        page = page_json(mon, url)
        seen += [t["jediTaskID"] for t in page["tasks"]]
        if page["nextUrl"] is None:
            break
        url = page["nextUrl"]
    assert seen == made[::-1]
    assert mon.get("/tasks/?cursor=12&json").status_code == 400


def test_task_page_sections(mon: TestClient, db: Database, clock: FrozenClock) -> None:
    world = build_task(db, clock())
    # when
    data = page_json(mon, f"/task/{world.task_id}/")
    html = mon.get(f"/task/{world.task_id}/").text
    # then the task and its parameters
    assert data["task"]["jediTaskID"] == world.task_id and data["task"]["progress"]["finished"] == 10
    params = {p["name"]: p["value"] for p in data["params"]}
    assert params["task_name"] == "mc23.ttbar.reco" and params["status"] == "running"
    assert '"taskName": "mc23.ttbar.reco"' in data["taskParams"]
    # the datasets with their rows by state (one grouped query)
    sets = {d["datasetID"]: d for d in data["datasets"]}
    assert sets[world.master]["filesByState"] == {"finished": 10, "failed": 2, "running": 4, "ready": 4}
    assert sets[world.master]["master"] and not sets[world.output]["master"]
    assert sets[world.output]["filesByState"] == {"finished": 10}
    assert sets[world.master]["url"] == "/dataset/mc23:mc23.ttbar.reco.in/"
    # jobs by state
    jobs = {s["state"]: s["count"] for s in data["jobCounts"]}
    assert jobs == {"finished": 10, "failed": 6, "running": 1, "activated": 1} and data["jobsTotal"] == 18
    assert f"/jobs/?jeditaskid={world.task_id}&amp;jobstatus=failed" in html
    # the scouts and what they measured
    scouts = data["scouts"]
    assert [s["PandaID"] for s in scouts["jobs"]] == world.scouts
    assert [s["jobStatus"] for s in scouts["jobs"]] == ["finished", "finished", "failed"]
    assert scouts["jobs"][2]["error"].startswith("pilot:1099 STAGEINFAILED")
    measured = {m["name"]: m["value"] for m in scouts["measured"]}
    assert measured["cpuTime"] == "12.5 HS06·s per event" and measured["ramCount"] == "1800 MB per core"
    assert scouts["report"] == "to scouted"
    # retries: rows by attempt, the files failed finally with their last job's error
    retries = data["retries"]
    assert {a["attempt"]: a["files"] for a in retries["attempts"]} == {1: 16, 3: 2}
    assert retries["failedTotal"] == 2 and len(retries["failedFiles"]) == 2
    f = retries["failedFiles"][0]
    assert (f["attempt"], f["maxAttempt"], f["PandaID"]) == (3, 3, world.jobs["failed"][1])
    assert f["error"] == "pilot:1099 STAGEINFAILED stage-in of f.root failed"
    assert f["dataset"] == "mc23:mc23.ttbar.reco.in"
    # errors of its failed jobs, most frequent first, linking to them
    errs = [(e["component"], e["code"], e["count"]) for e in data["errsByCount"]]
    assert errs == [("pilot", 1099, 5), ("exe", 65, 1)]
    assert data["errsByCount"][0]["sampleDiag"] == "stage-in of f.root failed"
    assert (
        data["errsByCount"][0]["url"]
        == f"/jobs/?jeditaskid={world.task_id}&jobstatus=failed%7Cholding&errorcode=pilot%3A1099"
    )
    # the progress plot: cumulative finished and failed master files
    [chart] = data["charts"]
    series = {s["name"]: s["values"] for s in chart["series"]}
    assert chart["unit"] == "files" and series["finished"][-1] == 10 and series["failed"][-1] == 2
    assert series["finished"] == sorted(series["finished"]) and series["finished"][0] == 0
    # the history, oldest first
    assert [h["status"] for h in data["history"]] == [
        "registered",
        "defined",
        "ready",
        "scouting",
        "scouted",
        "running",
    ]
    # and the HTML has every section
    for text in (
        "Jobs by state",
        "Scouts",
        "Retries",
        "Errors of its failed jobs",
        "Task history",
        "Parameters",
    ):
        assert text in html
    assert "svg" in html and "Master input files done over time" in html


def test_task_page_unknown_and_bad_ids(mon: TestClient) -> None:
    missing = mon.get("/task/424242/")
    assert missing.status_code == 404 and "task 424242 not found" in missing.text
    assert mon.get("/task/424242/", params={"json": ""}).json() == {"error": "task 424242 not found"}
    bad = mon.get("/task/abc/", params={"json": ""})
    assert bad.status_code == 400 and bad.json()["error"].startswith("jeditaskid:")
    assert mon.get("/task/1/?status=running").status_code == 400


def test_an_empty_task_page(mon: TestClient, db: Database, clock: FrozenClock) -> None:
    with db.write() as conn:
        task_id = new_task(conn, clock(), path=[])
    data = page_json(mon, f"/task/{task_id}/")
    assert data["task"]["status"] == "registered" and data["jobsTotal"] == 0
    assert data["scouts"]["jobs"] == [] and data["retries"]["attempts"] == [] and data["errsByCount"] == []
    assert "No scout jobs." in mon.get(f"/task/{task_id}/").text


def test_job_page_links_to_its_task_and_jobs_take_jeditaskid(
    mon: TestClient, db: Database, clock: FrozenClock
) -> None:
    world = build_task(db, clock())
    pid = world.scouts[0]
    html = mon.get(f"/job/{pid}/").text
    assert f'<a href="/task/{world.task_id}/" id="tasklink">{world.task_id}</a>' in html and "scout" in html
    listed = page_json(mon, f"/jobs/?jeditaskid={world.task_id}&jobstatus=running")
    assert [j["PandaID"] for j in listed["jobs"]] == world.jobs["running"]


def test_shares_show_targets_and_running_cores(mon: TestClient, db: Database, clock: FrozenClock) -> None:
    now = clock()
    with db.write() as conn:
        task_id = new_task(conn, now)
        add_jobs(conn, task_id, 3, "running", now, core_count=8)  # managed: production
        add_jobs(conn, None, 2, "running", now, prod_source_label="user", core_count=1)  # analysis
        add_jobs(conn, None, 5, "activated", now, prod_source_label="user", core_count=1)  # not running
    shares = {s["name"]: s for s in page_json(mon, "/tasks/")["shares"]}
    assert set(shares) == {"production", "analysis"}
    prod, ana = shares["production"], shares["analysis"]
    assert (prod["target"], prod["cores"], ana["target"], ana["cores"]) == (0.7, 24, 0.3, 2)
    assert prod["usage"] == round(24 / 26, 4) and ana["ratio"] == round((2 / 26) / 0.3, 3)
    assert "Global shares" in mon.get("/tasks/").text

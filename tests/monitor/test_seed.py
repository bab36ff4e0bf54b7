"""seed_jobs builds a realistic, consistent history that every page can summarise."""

from __future__ import annotations

import itertools

from fastapi.testclient import TestClient
from sqlalchemy import text

from pandawms.core.states import JobStatus, is_allowed
from pandawms.db.engine import Database
from pandawms.monitor.seed import seed_jobs
from tests.conftest import FrozenClock
from tests.monitor.helpers import page_json


def test_seeded_history_is_consistent(db: Database, clock: FrozenClock) -> None:
    # when
    assert seed_jobs(db, 600, now=clock(), seed=7) == 600
    with db.read() as conn:
        jobs = {
            r[0]: r[1:]
            for r in conn.execute(text("SELECT panda_id, job_status, attempt_nr, parent_id FROM jobs"))
        }
        history = conn.execute(
            text("SELECT panda_id, job_status, previous_status FROM job_status_history ORDER BY row_id")
        ).all()
        bad_times = conn.execute(
            text("SELECT count(*) FROM jobs WHERE start_time < creation_time OR end_time < start_time")
        ).scalar_one()
        queues = conn.execute(text("SELECT count(*) FROM queues")).scalar_one()
        workers = conn.execute(text("SELECT count(*) FROM workers")).scalar_one()
    # then every job's history is a legal path ending in its status
    assert len(jobs) == 600 and queues == 12 and workers > 0 and bad_times == 0
    paths: dict[int, list[str]] = {}
    for pid, status, previous in history:
        steps = paths.setdefault(pid, [])
        assert previous == (steps[-1] if steps else "")
        steps.append(status)
    for pid, (status, attempt, parent) in jobs.items():
        path = [JobStatus(s) for s in paths[pid]]
        assert path[-1].value == status
        assert all(is_allowed(a, b) for a, b in itertools.pairwise(path)), path
        if parent is not None:
            assert jobs[parent][0] == "failed" and attempt == jobs[parent][1] + 1
    states = {s for s, _, _ in jobs.values()}
    assert {"finished", "failed", "running", "cancelled"} <= states
    assert sum(1 for _, _, parent in jobs.values() if parent is not None) > 5


def test_pages_summarise_a_seeded_workload(db: Database, clock: FrozenClock, mon: TestClient) -> None:
    # given
    seed_jobs(db, 600, now=clock())
    # when
    jobs = page_json(mon, "/jobs/?days=2")
    errors = page_json(mon, "/errors/?days=2")
    sites = page_json(mon, "/sites/")
    # then
    assert jobs["totalExact"] and jobs["total"] == sum(s["count"] for s in jobs["stateCounts"])
    assert len(jobs["jobs"]) == 100 and jobs["nextUrl"]
    assert errors["errsByCount"] and errors["failureRate"] is not None
    names = {s["name"]: s for s in sites["sites"]}
    assert names["SWT2_CPB"]["status"] == "offline" and names["CERN-PROD"]["counts"]
    offline = page_json(mon, "/site/SWT2_CPB/")
    assert offline["diagnosis"][0].startswith("The queue is offline") and offline["rejections"]
    for url in ("/", "/jobs/", "/errors/", "/sites/", "/site/MWT2_UCORE/", "/users/", "/user/atlasprod/"):
        assert mon.get(url).status_code == 200, url
    job = jobs["jobs"][0]["PandaID"]
    assert mon.get(f"/job/{job}/").status_code == 200

"""A page whose final jobs exceed ``limit`` summarises them from the hourly aggregates: its counts,
attribute summary, error table and histograms equal the same page summarised job by job."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from pandawms.agents.job_stats import fold_all
from pandawms.db.engine import Database
from pandawms.monitor.seed import seed_jobs
from tests.conftest import FrozenClock
from tests.monitor.helpers import page_json


def _summary(page: dict[str, Any]) -> dict[str, Any]:
    return {
        "states": {s["state"]: s["count"] for s in page["stateCounts"]},
        "total": page["total"],
        "attributes": {
            a["name"]: {v["value"]: v["count"] for v in a["values"]} for a in page["selectionsummary"]
        },
        "errors": {(e["component"], e["code"]): e["count"] for e in page["errsByCount"]},
        "histograms": {
            c["name"]: {s["name"]: s["values"] for s in c["series"]}
            for c in page["charts"]
            if c["name"] in ("walltime", "memory")
        },
    }


def test_hourly_summaries_equal_job_by_job(db: Database, clock: FrozenClock, mon: TestClient) -> None:
    # given four weeks of history, half of it folded into the aggregates and half still pending deltas
    seed_jobs(db, 300, now=clock(), seed=21)
    fold_all(db)
    seed_jobs(db, 300, now=clock(), seed=22)
    for query in ("days=30", "days=9&computingsite=CERN-PROD|BNL*", "days=20&produsername=!atlasprod"):
        # when one page reads every job (limit above the selection) and the other the aggregates
        exact = page_json(mon, f"/jobs/?{query}&limit=5000")
        hourly = page_json(mon, f"/jobs/?{query}&limit=40")
        # then
        assert not exact["hourly"] and hourly["hourly"], query
        assert exact["summarised"] == exact["total"] < 5000
        assert _summary(hourly) == _summary(exact), query
        assert hourly["totalExact"]
    errors = page_json(mon, "/errors/?days=30&limit=40")
    by_code = {(e["component"], e["code"]): e["count"] for e in errors["errsByCount"]}
    assert by_code == _summary(page_json(mon, "/jobs/?days=30&limit=5000"))["errors"]


def test_hourly_pages_render(db: Database, clock: FrozenClock, mon: TestClient) -> None:
    seed_jobs(db, 200, now=clock(), seed=23)
    for path in ("/jobs/?days=30&limit=20", "/errors/?days=30&limit=20", "/?days=30"):
        resp = mon.get(path)
        assert resp.status_code == 200, path
    assert "every ended job, from hourly totals" in mon.get("/jobs/?days=30&limit=20").text
    charts = page_json(mon, "/jobs/?days=30&limit=20")["charts"]
    states = next(c for c in charts if c["name"] == "states")
    assert "hourly totals" in states["title"]

"""The API fuzzed against its own spec (issue 12): schemathesis drives a live server on each back end with
generated requests, valid and invalid, NUL bytes and huge integers included. Any 5xx, an answer that
violates the spec, an undocumented status or content type, or an invalid request that is accepted fails.

Bounded: a fixed seed, a few examples per operation and no stateful phase (a few thousand requests per
back end). A valid-shaped request refused for its meaning (an unknown queue is a 400) is allowed, and the
response time is the benchmarks' business (no time limit is set), so those are not checked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pandawms.agents.runner import utcnow
from pandawms.config import ServerConfig
from pandawms.db.engine import Database
from pandawms.monitor.seed import seed_jobs
from pandawms.server.app import create_app
from tests.conftest import DEFAULT_QUEUES, FrozenClock, add_queues
from tests.livesupport.live_server import serve_in_thread

SEED = "20261202"
MAX_EXAMPLES = "3"
# the monitor's pages: every path outside /api/v1/ but the OIDC documents (the API test's business)
MONITOR_PATHS = "^/(?!api/|\\.well-known/)"
MONITOR_MAX_EXAMPLES = "2"  # ~17 pages: a few hundred requests in all with the coverage phase
MONITOR_JOBS = 300


def schemathesis_bin() -> str:
    here = Path(sys.executable).parent / "schemathesis"
    found = str(here) if here.exists() else shutil.which("schemathesis")
    assert found, "schemathesis is a test dependency (pyproject [test]); make test installs it"
    return found


def fuzz(spec: Path, url: str, include: str, max_examples: str, cwd: Path) -> None:
    """schemathesis over the operations of ``spec`` whose path matches ``include``; fails with its report."""
    run = subprocess.run(
        [
            schemathesis_bin(),
            "run",
            str(spec),
            "--url",
            url,
            "--include-path-regex",
            include,
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            max_examples,
            "--seed",
            SEED,
            "--request-timeout",
            "60",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        cwd=cwd,  # its cache (.schemathesis/) stays out of the checkout
        timeout=840,
        check=False,
    )
    failures = run.stdout.find("= FAILURES =")
    report = run.stdout[max(failures, 0) :][:15_000] + "\n...\n" + run.stdout[-3_000:] + run.stderr[-2_000:]
    assert run.returncode == 0, report


def fetch_spec(url: str, tmp_path: Path) -> Path:
    """The spec is fetched here, not by schemathesis: its loader gives up after 10 s, which a loaded
    machine's first request (building the spec) can take."""
    spec = tmp_path / "openapi.json"
    spec.write_bytes(httpx.get(f"{url}/api/v1/openapi.json", timeout=120).raise_for_status().content)
    return spec


@pytest.mark.timeout(900)
def test_the_api_answers_every_generated_request_within_its_spec(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    add_queues(db, DEFAULT_QUEUES, clock())
    app = create_app(ServerConfig(agents=False, db_url=db.url, data_dir=tmp_path / "data"), db)
    with serve_in_thread(app) as url:
        fuzz(fetch_spec(url, tmp_path), url, "^/api/v1/", MAX_EXAMPLES, tmp_path)


@pytest.mark.timeout(600)
def test_the_monitor_pages_answer_every_generated_request_within_their_spec(
    db: Database, tmp_path: Path
) -> None:
    """The BigPanDA pages (HTML and their ?json twins) over a small seeded history: a bad parameter is a
    documented 400 in the asked-for content type, an unknown object a documented 404."""
    seed_jobs(db, MONITOR_JOBS, now=utcnow())
    app = create_app(ServerConfig(agents=False, db_url=db.url, data_dir=tmp_path / "data"), db)
    with serve_in_thread(app) as url:
        spec = with_seeded_examples(fetch_spec(url, tmp_path), url)
        fuzz(spec, url, MONITOR_PATHS, MONITOR_MAX_EXAMPLES, tmp_path)


def with_seeded_examples(spec: Path, url: str) -> Path:
    """The spec with a seeded job, queue and user as the examples of the one-object pages' path
    parameters (generated ids would only reach their 404s), read from the list pages' JSON twins, and
    ``json`` in every page's example, so the examples phase checks each JSON twin against its schema."""
    first = {
        ("/job/{pandaid}/", "pandaid"): ("/jobs/?json&display_limit=1", "jobs", "PandaID"),
        ("/site/{name}/", "name"): ("/sites/?json", "sites", "name"),
        ("/user/{name}/", "name"): ("/users/?json", "users", "name"),
    }
    doc = json.loads(spec.read_text())
    for (path, name), (page, key, field) in first.items():
        rows = httpx.get(url + page, timeout=60).raise_for_status().json()[key]
        assert rows, f"the seeded history has no {key}"
        [param] = [p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == name]
        param["example"] = str(rows[0][field])
    for path, ops in doc["paths"].items():
        for param in ops.get("get", {}).get("parameters", []) if re.match(MONITOR_PATHS, path) else []:
            if param["name"] == "json":
                param["example"] = ""
    spec.write_text(json.dumps(doc))
    return spec

"""``panda bench monitor``: time the monitor's pages on a running server, over real HTTP.

Made for a seeded task buffer (``panda seed --jobs 1000000``): each page is requested once to warm up,
then ``repeat`` times with ``timestamp=`` (so the server builds it each time instead of answering from its
page cache); the median and worst wall times (request sent to last byte read) and the answer size are
reported, and the median of ``repeat`` plain requests, which the page cache answers. Pages are the JSON
twins plus the HTML of the biggest pages, so the template cost shows.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

# (label, path); NEXT and JOB are filled in from the first /jobs/ answer.
PAGES: tuple[tuple[str, str], ...] = (
    ("home", "/?json"),
    ("jobs (default window)", "/jobs/?json"),
    ("jobs failed", "/jobs/?jobstatus=failed&json"),
    ("jobs running", "/jobs/?jobstatus=running&json"),
    ("jobs one queue", "/jobs/?computingsite={queue}&json"),
    ("jobs one user", "/jobs/?produsername={user}&json"),
    ("jobs wildcards", "/jobs/?computingsite={queue_prefix}*&produsername=a*|m*&json"),
    ("jobs error code", "/jobs/?errorcode=pilot:1099&json"),
    ("jobs 7 days", "/jobs/?days=7&json"),
    ("jobs next page", "NEXT"),
    ("job page", "JOB"),
    ("errors (12 h)", "/errors/?json"),
    ("errors 1 day", "/errors/?days=1&json"),
    ("sites", "/sites/?json"),
    ("site", "/site/{queue}/?json"),
    ("users", "/users/?json"),
    ("user", "/user/{user}/?json"),
    ("jobs HTML", "/jobs/"),
    ("errors HTML", "/errors/"),
    ("site HTML", "/site/{queue}/"),
    # every summary page over a week, and the job list over the whole seeded history (four weeks)
    ("home 7 days", "/?days=7&json"),
    ("jobs 30 days", "/jobs/?days=30&json"),
    ("jobs 7 days HTML", "/jobs/?days=7"),
    ("errors 7 days", "/errors/?days=7&json"),
    ("sites 7 days", "/sites/?days=7&json"),
    ("site 7 days", "/site/{queue}/?days=7&json"),
    ("users 7 days", "/users/?days=7&json"),
    ("user 7 days", "/user/{user}/?days=7&json"),
)


@dataclass(frozen=True, slots=True)
class PageTiming:
    label: str
    path: str
    median_ms: float
    worst_ms: float
    cached_ms: float
    bytes: int


def _with(path: str, param: str) -> str:
    return path + ("&" if "?" in path else "?") + param


def _time(client: httpx.Client, path: str, repeat: int) -> tuple[float, float, float, int]:
    resp = client.get(path)  # warm-up: statement cache, templates, and the page cache for the cached run
    if resp.status_code != 200:
        raise RuntimeError(f"GET {path}: HTTP {resp.status_code}: {resp.text[:300]}")
    built, cached = [], []
    for i in range(repeat):
        start = time.perf_counter()
        resp = client.get(_with(path, f"timestamp={i}"))
        built.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        client.get(path)
        cached.append((time.perf_counter() - start) * 1000)
    return statistics.median(built), max(built), statistics.median(cached), len(resp.content)


def _busiest(rows: Iterable[dict[str, Any]], what: str) -> str:
    """The name of the row with the most jobs (the heaviest page of its kind)."""
    best = max(rows, key=lambda row: sum(row.get("counts", {}).values()), default=None)
    if best is None:
        raise RuntimeError(f"the server lists no {what}: seed it first (panda seed --jobs N)")
    return str(best["name"])


def bench_monitor(server: str, repeat: int = 5) -> list[PageTiming]:
    """Time every page of PAGES on the server at ``server`` (its root URL)."""
    with httpx.Client(base_url=server.rstrip("/"), timeout=120) as client:
        first = client.get("/jobs/?json")
        if first.status_code != 200:
            raise RuntimeError(f"GET /jobs/?json: HTTP {first.status_code}: {first.text[:300]}")
        data = first.json()
        if not data.get("jobs"):
            raise RuntimeError("the job list is empty: seed the server first (panda seed --jobs N)")
        queue = _busiest(client.get("/sites/?json").json()["sites"], "queues")
        user = _busiest(client.get("/users/?json").json()["users"], "users")
        fill = {"queue": queue, "queue_prefix": queue[:3], "user": user}
        special = {"NEXT": f"{data['nextUrl']}&json", "JOB": f"/job/{data['jobs'][0]['PandaID']}/?json"}
        out = []
        for label, template in PAGES:
            path = special.get(template) or template.format(**fill)
            median, worst, cached, size = _time(client, path, repeat)
            out.append(PageTiming(label, path, round(median, 1), round(worst, 1), round(cached, 1), size))
        return out


def as_dicts(timings: Iterable[PageTiming]) -> list[dict[str, Any]]:
    return [asdict(t) for t in timings]

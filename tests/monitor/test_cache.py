"""The page cache: one build per URL for a few seconds, shared by HTML and JSON, bypassed by timestamp=."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from pandawms.config import ServerConfig
from pandawms.db.engine import Database
from pandawms.monitor.cache import PageCache
from pandawms.server.app import create_app
from tests.conftest import DEFAULT_QUEUES, FrozenClock, add_queues
from tests.db.helpers import API, ok, submit


class Page(BaseModel):
    n: int


def _n(page: BaseModel) -> int:
    assert isinstance(page, Page), page
    return page.n


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_entries_live_ttl_seconds_and_the_oldest_go_first() -> None:
    ticks = Ticks()
    cache = PageCache(ttl=5, size=2, clock=ticks)
    builds: list[str] = []

    def build(key: str) -> Page:
        builds.append(key)
        return Page(n=len(builds))

    assert _n(cache.get_or_build("a", lambda: build("a"))) == 1
    ticks.t = 4.9
    assert _n(cache.get_or_build("a", lambda: build("a"))) == 1  # fresh: no rebuild
    ticks.t = 5.0
    assert _n(cache.get_or_build("a", lambda: build("a"))) == 2  # expired
    cache.get_or_build("b", lambda: build("b"))
    cache.get_or_build("c", lambda: build("c"))  # evicts "a", the least recently used
    cache.get_or_build("a", lambda: build("a"))
    assert builds == ["a", "a", "b", "c", "a"]
    assert (cache.hits, cache.misses) == (1, 5)


def test_ttl_zero_is_off_and_bad_settings_are_refused() -> None:
    cache = PageCache(ttl=0)
    pages = [cache.get_or_build("k", lambda: Page(n=1)) for _ in range(2)]
    assert pages[0] is not pages[1]
    with pytest.raises(ValueError, match="ttl"):
        PageCache(ttl=-1)


def test_a_page_is_shared_for_its_ttl_and_timestamp_bypasses_it(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    add_queues(db, DEFAULT_QUEUES, clock())
    config = ServerConfig(agents=False, db_url=db.url, data_dir=tmp_path / "data", monitor_cache_seconds=60)
    with TestClient(create_app(config, db, clock=clock)) as client:
        submit(client, n=2, computingSite="SMALL")
        first = client.get("/jobs/?json").json()
        assert first["total"] == 2
        # when more jobs arrive within the TTL
        ok(
            client.post(
                f"{API}/job/submit", json={"jobs": [{"transformation": "x", "computingSite": "SMALL"}]}
            )
        )
        # then the cached page is served (HTML and JSON alike) until timestamp= asks for a fresh one
        assert client.get("/jobs/?json").json()["total"] == 2
        assert client.get("/jobs/", headers={"Accept": "application/json"}).json()["total"] == 2
        assert client.get("/jobs/?json&timestamp=1").json()["total"] == 3
        assert client.get("/jobs/?jobstatus=activated&json").json()["total"] == 3  # another URL, built now


def test_concurrent_misses_of_one_key_build_once() -> None:
    # given a slow page and eight viewers asking for it at the same moment
    cache = PageCache(ttl=5)
    release = threading.Event()
    builds: list[int] = []

    def slow() -> Page:
        builds.append(1)
        release.wait(30)
        return Page(n=len(builds))

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(_n(cache.get_or_build("p", slow)))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    # when every viewer has reached the cache (building, or waiting for the build) while the build still runs
    deadline = time.monotonic() + 30
    while len(builds) + cache.joined < 8:
        assert time.monotonic() < deadline, (builds, cache.joined)
        time.sleep(0.01)  # poll for the event above, bounded by the deadline
    # then nobody has an answer yet and nobody started a second build (without one build per key, all
    # eight would be inside slow() now)
    assert builds == [1] and cache.joined == 7 and results == []
    release.set()
    for t in threads:
        t.join(30)
    # and the page was built once and every viewer got it
    assert builds == [1] and results == [1] * 8
    assert (cache.hits, cache.misses) == (7, 1)


def test_a_failed_build_does_not_block_the_next_request() -> None:
    cache = PageCache(ttl=5)

    def broken() -> Page:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        cache.get_or_build("p", broken)
    assert _n(cache.get_or_build("p", lambda: Page(n=2))) == 2

"""A short-lived cache of built page models, shared by everyone looking at the same URL.

Every open monitor tab polls its page every 5 s; at 1M jobs a summary page costs ~200 ms of server time,
so a dozen operators watching the error summary would keep a 2-core server busy recomputing the same page.
BigPanDA caches page data for 20 minutes; live pages need seconds, so entries live ``ttl`` seconds
(``monitor_cache_seconds``, default 5; 0 switches the cache off). ``timestamp=`` in the URL bypasses it,
as in BigPanDA. Freshness is measured on the monotonic clock: it is about server load, not job time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from pydantic import BaseModel

WAIT = 60.0  # s a request waits for another request's build of the same page


class PageCache:
    """Page models by key for ``ttl`` seconds, at most ``size`` entries (least recently used go first)."""

    def __init__(self, ttl: float, size: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl < 0 or size < 1:
            raise ValueError(f"page cache: ttl must be >= 0 and size >= 1, got ttl={ttl} size={size}")
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, BaseModel]] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Event] = {}
        self.hits = 0
        self.misses = 0
        self.joined = 0  # requests that waited for another request's build of their key

    def get_or_build(self, key: Hashable, build: Callable[[], BaseModel]) -> BaseModel:
        """The cached model for ``key`` if still fresh, else ``build()`` (stored when the cache is on).

        One build per key at a time: requests that miss while a build of the same key runs wait for it
        (up to ``WAIT`` s) instead of starting their own, so a slow page polled by many viewers is built
        once, not once per viewer.
        """
        if self.ttl == 0:
            return build()
        with self._lock:
            page = self._fresh(key)
            if page is not None:
                self.hits += 1
                return page
            running = self._building.get(key)
            if running is None:
                running = self._building[key] = threading.Event()
                owner = True
            else:
                owner = False
                self.joined += 1
        if not owner:
            running.wait(WAIT)
            with self._lock:
                page = self._fresh(key)
                if page is not None:
                    self.hits += 1
                    return page
            return build()  # the other build failed or is too slow: do our own, uncached
        try:
            self.misses += 1
            started = self._clock()
            page = build()  # outside the lock: a slow page never blocks other pages
            with self._lock:
                self._entries[key] = (started, page)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return page
        finally:
            with self._lock:
                del self._building[key]
            running.set()

    def _fresh(self, key: Hashable) -> BaseModel | None:
        """The entry if younger than ttl (caller holds the lock)."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[0] >= self.ttl:
            return None
        self._entries.move_to_end(key)
        return entry[1]

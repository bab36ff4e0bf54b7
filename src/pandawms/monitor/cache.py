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
        self.hits = 0
        self.misses = 0

    def get_or_build(self, key: Hashable, build: Callable[[], BaseModel]) -> BaseModel:
        """The cached model for ``key`` if still fresh, else ``build()`` (stored when the cache is on)."""
        if self.ttl == 0:
            return build()
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self.ttl:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[1]
            self.misses += 1
        page = build()  # outside the lock: a slow page never blocks other pages
        with self._lock:
            self._entries[key] = (now, page)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return page

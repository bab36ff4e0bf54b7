"""Global shares at work (scheduling.md §8): every job gets its share at creation, the JobGenerator takes
tasks of the most under-served share first, and the dispatcher serves that share first at each queue;
priority orders work only inside a share.

Usage is the cores of the jobs pilots hold (sent, starting, running) per leaf of the configured tree
(``ServerConfig.shares``). ``ShareCache`` keeps one snapshot per server process for ``ttl`` seconds, and
per queue which shares had activated jobs there (asked when a pilot of that queue first acquires after
the ``ttl``), so a pilot's acquire never counts anything: it reads the cached share order of its queue
and db/claims.claim_activated walks those shares in that order.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core import shares as core_shares
from pandawms.core.shares import DEFAULT_TREE, Share
from pandawms.core.specs import JobSpec
from pandawms.core.tasks import TaskStatus
from pandawms.db import shares as shares_db
from pandawms.db.shares import ShareLoad

DISPATCH_TTL = 5.0  # seconds a snapshot serves the dispatcher
MAX_QUEUES = 10_000  # queues whose waiting shares are kept (a bound against made-up queue names)
Reader = Callable[[], AbstractContextManager[Connection]]


def job_share(tree: Share, spec: JobSpec, working_group: str = "") -> str:
    """The leaf a job counts in (plain jobs have no working group)."""
    return core_shares.leaf_for(tree, spec.prod_source_label.value, working_group, spec.prod_user_name)


def assign(specs: Sequence[JobSpec], tree: Share) -> list[JobSpec]:
    """The specs with their share set (a spec that has one already, e.g. a retry's or a task's, keeps it)."""
    return [s if s.gshare else dataclasses.replace(s, gshare=job_share(tree, s)) for s in specs]


@dataclass(frozen=True, slots=True)
class ShareSnapshot:
    """The shares at one moment: cores used per leaf and the leaves most under-served first."""

    taken: datetime
    usage: Mapping[str, float]
    order: tuple[str, ...]

    def dispatch_order(self, waiting: frozenset[str]) -> tuple[str, ...]:
        """The leaves to serve first at a queue where ``waiting`` have activated jobs, most under-served
        first."""
        return tuple(s for s in self.order if s in waiting)


def snapshot(tree: Share, loads: Sequence[ShareLoad], now: datetime) -> ShareSnapshot:
    """Pure: the snapshot of ``loads`` (db/shares.share_load) under ``tree``."""
    usage: dict[str, float] = defaultdict(float)
    for row in loads:  # a job stored before shares were recorded counts in the leaf its label and user give
        usage[row.gshare or core_shares.leaf_for(tree, row.label, "", row.user)] += row.cores
    return ShareSnapshot(now, dict(usage), tuple(core_shares.order(tree, usage)))


def usage(conn: Connection, tree: Share, now: datetime) -> ShareSnapshot:
    """A fresh snapshot (one GROUP BY): the generator's once per cycle, the monitor's per page."""
    return snapshot(tree, shares_db.share_load(conn), now)


class ShareCache:
    """One snapshot per server process, refreshed at most every ``ttl`` seconds (by one caller at a
    time; the others keep using the previous snapshot meanwhile), and per queue the shares waiting there,
    as old at most."""

    def __init__(self, tree: Share = DEFAULT_TREE, ttl: float = DISPATCH_TTL) -> None:
        self.tree = tree
        self.ttl = ttl
        self._snap: ShareSnapshot | None = None
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[datetime, frozenset[str]]] = {}

    def get(self, read: Reader, now: datetime) -> ShareSnapshot:
        snap = self._snap
        if snap is not None and 0 <= (now - snap.taken).total_seconds() < self.ttl:
            return snap
        if snap is None:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            return snap  # another thread refreshes it
        try:
            with read() as conn:
                self._snap = usage(conn, self.tree, now)
            return self._snap
        finally:
            self._lock.release()

    def dispatch_order(self, read: Reader, queue: str, now: datetime) -> tuple[str, ...]:
        """The shares to serve first at ``queue`` (those with activated jobs there), most under-served
        first."""
        snap = self.get(read, now)
        cached = self._waiting.get(queue)
        if cached is None or not 0 <= (now - cached[0]).total_seconds() < self.ttl:
            if len(self._waiting) >= MAX_QUEUES:
                self._waiting.clear()
            with read() as conn:
                cached = (now, shares_db.shares_waiting_at(conn, queue, snap.order))
            self._waiting[queue] = cached
        return snap.dispatch_order(cached[1])


def task_order(conn: Connection, tree: Share, statuses: Sequence[TaskStatus], limit: int) -> list[int]:
    """Up to ``limit`` tasks in ``statuses``: those of the most under-served share first (usage now, one
    GROUP BY), by priority inside each share; tasks of no known share (stored before shares) last."""
    order = usage(conn, tree, datetime.min).order
    out: list[int] = []
    for share in _then_unknown(order):
        if len(out) >= limit:
            break
        out += shares_db.task_ids_in_share(conn, statuses, share, order, limit - len(out))
    return out


def _then_unknown(order: Sequence[str]) -> Iterator[str | None]:
    yield from order
    yield None

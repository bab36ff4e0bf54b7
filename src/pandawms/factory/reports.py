"""Worker reports waiting for the server: kept in memory and re-sent every cycle until the server answers.

A repeated report is a no-op on the server, so re-sending after a lost answer is safe. A report refused
for a reason that may pass (the worker changed concurrently) is retried a few times, then dropped loudly.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from pandawms.factory.client import FactoryClientError
from pandawms.protocol.factory import WorkerUpdate, WorkerUpdateResult

log = logging.getLogger(__name__)

MAX_REJECTIONS = 3
BATCH = 1000  # the server takes at most this many workers per call
_DONE_OUTCOMES = frozenset({"accepted", "noop"})
_FINAL = frozenset({"finished", "failed", "cancelled", "missed"})


class Reporter(Protocol):
    def update_workers(
        self,
        harvester_id: str,
        updates: list[WorkerUpdate],
        *,
        budget: float | None = None,
        cancel: threading.Event | None = None,
    ) -> list[WorkerUpdateResult]: ...


def settled(result: WorkerUpdateResult) -> bool:
    """Whether the server's answer ends this report: taken, already there, unknown, or final elsewhere."""
    if result.outcome in _DONE_OUTCOMES or result.outcome == "notfound":
        return True
    return result.status in _FINAL


@dataclass(slots=True)
class _Pending:
    update: WorkerUpdate
    rejections: int = 0


class PendingReports:
    """Reports by worker id; ``flush`` sends them and keeps those the server did not settle."""

    def __init__(self, harvester_id: str) -> None:
        self.harvester_id = harvester_id
        self._pending: dict[int, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, update: WorkerUpdate) -> None:
        self._pending[update.worker_id] = _Pending(update)

    def flush(
        self, client: Reporter, *, budget: float | None = None, cancel: threading.Event | None = None
    ) -> int:
        """Send every pending report; returns how many were settled. Transport failures keep them all."""
        settled_count = 0
        ids = list(self._pending)
        for start in range(0, len(ids), BATCH):
            chunk = [self._pending[i].update for i in ids[start : start + BATCH]]
            try:
                results = client.update_workers(self.harvester_id, chunk, budget=budget, cancel=cancel)
            except FactoryClientError as exc:
                log.warning("%d worker report(s) not delivered, kept for the next cycle: %s", len(ids), exc)
                break
            settled_count += sum(self._apply(r) for r in results)
        return settled_count

    def _apply(self, result: WorkerUpdateResult) -> bool:
        pending = self._pending.get(result.worker_id)
        if pending is None:
            return False
        if settled(result):
            if result.outcome not in _DONE_OUTCOMES:
                log.warning(
                    "worker %d report dropped: %s %s", result.worker_id, result.outcome, result.message
                )
            del self._pending[result.worker_id]
            return True
        pending.rejections += 1
        if pending.rejections >= MAX_REJECTIONS:
            log.error(
                "worker %d report refused %d times, dropped: %s",
                result.worker_id,
                MAX_REJECTIONS,
                result.message,
            )
            del self._pending[result.worker_id]
            return True
        log.warning("worker %d report refused (%s), will retry", result.worker_id, result.message)
        return False

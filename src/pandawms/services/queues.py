"""Queue use cases: sync the queue file into the task buffer, list, upsert, change status live."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.errors import NotFound
from pandawms.core.specs import QueueSpec, QueueStatus
from pandawms.db import queues as queues_db


def sync(conn: Connection, specs: Sequence[QueueSpec], now: datetime) -> int:
    """Upsert every queue of the file; queues absent from the file are kept (they may come from the API)."""
    for spec in specs:
        queues_db.upsert(conn, spec, now)
    return len(specs)


def get(conn: Connection, name: str) -> QueueSpec:
    spec = queues_db.get(conn, name)
    if spec is None:
        raise NotFound(f"queue {name!r} not found")
    return spec


def set_status(conn: Connection, name: str, status: QueueStatus, now: datetime) -> QueueSpec:
    if not queues_db.set_status(conn, name, status, now):
        raise NotFound(f"queue {name!r} not found")
    return get(conn, name)

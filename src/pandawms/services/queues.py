"""Queue use cases: sync the queue file into the task buffer, list, upsert, change status live."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.errors import InvalidInput, NotFound
from pandawms.core.specs import QueueSpec, QueueStatus
from pandawms.db import queues as queues_db
from pandawms.db import rses as rses_db


def sync(conn: Connection, specs: Sequence[QueueSpec], now: datetime) -> int:
    """Upsert every queue of the file; queues absent from the file are kept (they may come from the API).

    ``ddm_input``/``ddm_output`` must name known RSEs: InvalidInput names the queue, field and RSE.
    """
    _check_rses(conn, specs)
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


def _check_rses(conn: Connection, specs: Sequence[QueueSpec]) -> None:
    wanted = {(s.name, f, getattr(s, f)) for s in specs for f in ("ddm_input", "ddm_output") if getattr(s, f)}
    known = rses_db.get_many(conn, {rse for _q, _f, rse in wanted})
    for queue, field, rse in sorted(wanted):
        if rse not in known:
            raise InvalidInput(f"queue {queue}: {field}: unknown RSE {rse!r}", field)

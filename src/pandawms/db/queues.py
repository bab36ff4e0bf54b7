"""Queue repository: PanDA queues (computingSite) with their status and limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from pandawms.core.ids import QueueName
from pandawms.core.specs import QueueSpec, QueueStatus
from pandawms.db.direct import Direct
from pandawms.db.schema import queues

_FIELDS = [f.name for f in dataclasses.fields(QueueSpec)]


def _to_spec(row: object) -> QueueSpec:
    return _spec_of(row._mapping)  # type: ignore[attr-defined]


def _spec_of(m: Mapping[str, Any]) -> QueueSpec:
    values = {name: m[name] for name in _FIELDS}
    values["status"] = QueueStatus(values["status"])
    values["name"] = QueueName(values["name"])
    return QueueSpec(**values)


def upsert(conn: Connection, spec: QueueSpec, now: datetime) -> None:
    values = {name: getattr(spec, name) for name in _FIELDS}
    values["status"] = spec.status.value
    values["modification_time"] = now
    changed = conn.execute(update(queues).where(queues.c.name == spec.name).values(**values)).rowcount
    if not changed:
        conn.execute(insert(queues).values(**values))


# Built once, on the DBAPI (db/direct.py): every acquire_jobs reads its queue.
_GET = Direct(select(queues).where(queues.c.name == bindparam("b_name")))
_KEYS = tuple(c.key for c in queues.c)


def get(conn: Connection, name: str) -> QueueSpec | None:
    rows, _ = _GET.execute(conn, {"b_name": name})
    return _spec_of(dict(zip(_KEYS, rows[0], strict=True))) if rows else None


def list_all(conn: Connection) -> list[QueueSpec]:
    return [_to_spec(r) for r in conn.execute(select(queues).order_by(queues.c.name))]


def set_status(conn: Connection, name: str, status: QueueStatus, now: datetime) -> bool:
    stmt = update(queues).where(queues.c.name == name).values(status=status.value, modification_time=now)
    return conn.execute(stmt).rowcount == 1

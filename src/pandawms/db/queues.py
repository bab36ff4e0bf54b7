"""Queue repository: PanDA queues (computingSite) with their status and limits."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from pandawms.core.ids import QueueName
from pandawms.core.specs import QueueSpec, QueueStatus
from pandawms.db.schema import queues

_FIELDS = [f.name for f in dataclasses.fields(QueueSpec)]


def _to_spec(row: object) -> QueueSpec:
    m = row._mapping  # type: ignore[attr-defined]
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


# Built once: every acquire_jobs reads its queue, and building the SELECT cost a third of the lookup.
_GET = select(queues).where(queues.c.name == bindparam("b_name"))


def get(conn: Connection, name: str) -> QueueSpec | None:
    row = conn.execute(_GET, {"b_name": name}).first()
    return _to_spec(row) if row is not None else None


def list_all(conn: Connection) -> list[QueueSpec]:
    return [_to_spec(r) for r in conn.execute(select(queues).order_by(queues.c.name))]


def set_status(conn: Connection, name: str, status: QueueStatus, now: datetime) -> bool:
    stmt = update(queues).where(queues.c.name == name).values(status=status.value, modification_time=now)
    return conn.execute(stmt).rowcount == 1

"""The jobs each acquire_jobs call with a request_id claimed (table ``acquire_requests``), for its repeats.

A row is reserved at the start of the call (INSERT ... ON CONFLICT DO NOTHING), so two copies of one
request serialise on the key: on PostgreSQL the second waits for the first to commit and then reads its
jobs; SQLite's writers are serialised anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pandawms.db.schema import acquire_requests

t = acquire_requests.c


@dataclass(frozen=True, slots=True)
class AcquireRecord:
    queue: str
    panda_ids: tuple[int, ...]


def reserve(conn: Connection, claimant: str, request_id: str, queue: str, now: datetime) -> bool:
    """Insert the request's row with no jobs yet; False when it exists (a repeat)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(acquire_requests)
        .values(claimant=claimant, request_id=request_id, queue=queue, panda_ids="", created_at=now)
        .on_conflict_do_nothing(index_elements=[t.claimant, t.request_id])
        .returning(t.request_id)
    )
    return conn.execute(stmt).first() is not None


def lock(conn: Connection, claimant: str, request_id: str) -> AcquireRecord | None:
    stmt = (
        select(t.queue, t.panda_ids)
        .where(t.claimant == claimant, t.request_id == request_id)
        .with_for_update()
    )
    row = conn.execute(stmt).first()
    if row is None:
        return None
    return AcquireRecord(str(row[0]), tuple(int(p) for p in str(row[1]).split(",") if p))


def record(
    conn: Connection, claimant: str, request_id: str, queue: str, panda_ids: Sequence[int], now: datetime
) -> None:
    """Set the jobs this request claimed (replacing earlier ones); with none, drop the row."""
    key = (t.claimant == claimant, t.request_id == request_id)
    if not panda_ids:
        conn.execute(delete(acquire_requests).where(*key))
        return
    ids = ",".join(str(p) for p in panda_ids)
    conn.execute(update(acquire_requests).where(*key).values(queue=queue, panda_ids=ids, created_at=now))


def delete_older(conn: Connection, cutoff: datetime, limit: int) -> int:
    """Drop up to ``limit`` rows created before ``cutoff`` (ix_acquire_requests_time); how many went."""
    old = select(t.claimant, t.request_id).where(t.created_at < cutoff).order_by(t.created_at).limit(limit)
    rows = [{"b_claimant": c, "b_request": r} for c, r in conn.execute(old)]
    if rows:
        key = (t.claimant == bindparam("b_claimant"), t.request_id == bindparam("b_request"))
        conn.execute(delete(acquire_requests).where(*key), rows)
    return len(rows)

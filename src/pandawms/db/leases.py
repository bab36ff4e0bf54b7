"""Agent leases (compare-and-set on ``version``) and the startup lock of servers sharing one database.

Every write of a lease names the version it read: of two processes that read the same lease and both
decide to take it, one update matches and the other finds a new version and changes nothing (on
PostgreSQL the second UPDATE waits for the first's row lock, then re-checks its WHERE on the new row).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from pandawms.core.leases import Lease, LeaseDecision, LeaseVerdict
from pandawms.db.engine import Database
from pandawms.db.schema import agent_leases

# pg_advisory_lock key of server startup (migrations, queue/RSE files, first signing key): "pandawms"
STARTUP_LOCK_KEY = 0x70616E6461776D73


def get(conn: Connection, name: str) -> Lease | None:
    t = agent_leases.c
    row = conn.execute(
        select(t.name, t.holder, t.version, t.acquired_at, t.expires_at).where(t.name == name)
    ).first()
    if row is None:
        return None
    return Lease(row.name, row.holder, int(row.version), row.acquired_at, row.expires_at)


def apply(
    conn: Connection, name: str, holder: str, seen: Lease | None, decision: LeaseDecision, now: datetime
) -> Lease | None:
    """Write a take or renew decided on ``seen``; the lease now held, or None when somebody wrote first."""
    if not decision.writes or decision.expires_at is None:
        raise ValueError(f"lease {name}: nothing to write for {decision.verdict}")
    expires = decision.expires_at
    if seen is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(agent_leases).values(
            name=name, holder=holder, version=1, acquired_at=now, renewed_at=now, expires_at=expires
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=[agent_leases.c.name])
        inserted = conn.execute(stmt.returning(agent_leases.c.name)).first()
        return Lease(name, holder, 1, now, expires) if inserted is not None else None
    acquired = seen.acquired_at if decision.verdict is LeaseVerdict.RENEW else now
    t = agent_leases.c
    changed = conn.execute(
        update(agent_leases)
        .where(t.name == name, t.version == seen.version)
        .values(
            holder=holder, version=seen.version + 1, acquired_at=acquired, renewed_at=now, expires_at=expires
        )
    ).rowcount
    return Lease(name, holder, seen.version + 1, acquired, expires) if changed == 1 else None


def release(conn: Connection, held: Lease, expires_at: datetime) -> bool:
    """Let go of a lease we hold (it expires at ``expires_at``); False when it was no longer ours."""
    t = agent_leases.c
    stmt = (
        update(agent_leases)
        .where(t.name == held.name, t.holder == held.holder, t.version == held.version)
        .values(version=held.version + 1, renewed_at=expires_at, expires_at=expires_at)
    )
    return conn.execute(stmt).rowcount == 1


@contextmanager
def startup_lock(db: Database) -> Iterator[None]:
    """Servers starting together on one PostgreSQL prepare the database one at a time (a session
    advisory lock on its own connection). SQLite needs none: every write transaction there is
    BEGIN IMMEDIATE, so two migrations or queue syncs already run one after the other."""
    if db.is_sqlite:
        yield
        return
    with db.writer.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": STARTUP_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": STARTUP_LOCK_KEY})
            conn.commit()

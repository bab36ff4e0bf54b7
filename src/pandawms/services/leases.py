"""Hold a lease: read it, decide (core/leases.py), write with compare-and-set, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pandawms.core.leases import Lease, LeaseDecision, decide, released
from pandawms.db import leases as leases_db


@dataclass(frozen=True, slots=True)
class HoldOutcome:
    held: Lease | None  # the lease as we now hold it; None: somebody else has it
    decision: LeaseDecision
    lost_race: bool = False  # we decided to write but another process wrote the lease first


def hold(conn: Connection, name: str, holder: str, now: datetime, ttl: timedelta) -> HoldOutcome:
    """Take, renew or wait for lease ``name`` as ``holder``; the holder keeps it until now + ttl."""
    seen = leases_db.get(conn, name)
    decision = decide(seen, holder, now, ttl)
    if not decision.writes:
        return HoldOutcome(None, decision)
    held = leases_db.apply(conn, name, holder, seen, decision, now)
    return HoldOutcome(held, decision, lost_race=held is None)


def release(conn: Connection, held: Lease, now: datetime) -> bool:
    """Give the lease up now (a clean shutdown): the next contender takes it without waiting for expiry."""
    return leases_db.release(conn, held, released(now))


def current(conn: Connection, name: str) -> Lease | None:
    return leases_db.get(conn, name)

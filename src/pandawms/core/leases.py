"""Who may run the periodic agents: the pure lease decision (the clock comes in as ``now``).

A lease is held by one process until ``expires_at``; the holder renews it well before then, a lease
past its expiry is free for anyone, and a released lease expires at the moment of release. The store
(db/leases.py) applies a decision only if nobody wrote the lease since it was read (its ``version``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class LeaseVerdict(StrEnum):
    TAKE = "take"  # free, expired or released: become (or stay) the holder from now
    RENEW = "renew"  # ours and still valid: extend it
    WAIT = "wait"  # another live holder has it


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    version: int
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LeaseDecision:
    verdict: LeaseVerdict
    reason: str
    expires_at: datetime | None = None  # the new expiry when the verdict writes (take, renew)

    @property
    def writes(self) -> bool:
        return self.verdict is not LeaseVerdict.WAIT


def decide(current: Lease | None, holder: str, now: datetime, ttl: timedelta) -> LeaseDecision:
    """What ``holder`` does about the lease at ``now``: take it, renew it, or wait for it."""
    if ttl <= timedelta(0):
        raise ValueError(f"lease ttl must be > 0, got {ttl}")
    until = now + ttl
    if current is None:
        return LeaseDecision(LeaseVerdict.TAKE, "free", until)
    if current.holder == holder:
        if current.expires_at > now:
            return LeaseDecision(LeaseVerdict.RENEW, "held by us", until)
        # ours but lapsed (we stalled): nobody wrote it since, so nobody ran in between; start afresh
        return LeaseDecision(LeaseVerdict.TAKE, f"our lease lapsed at {current.expires_at:%H:%M:%S}", until)
    if current.expires_at <= now:
        reason = f"{current.holder} let it expire at {current.expires_at:%Y-%m-%d %H:%M:%S}"
        return LeaseDecision(LeaseVerdict.TAKE, reason, until)
    return LeaseDecision(
        LeaseVerdict.WAIT, f"held by {current.holder} until {current.expires_at:%Y-%m-%d %H:%M:%S}"
    )


def released(now: datetime) -> datetime:
    """The expiry a holder writes when it lets go: now, so the next contender takes it at once."""
    return now

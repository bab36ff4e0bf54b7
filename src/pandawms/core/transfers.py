"""Transfer service decisions, pure: where a copy reads from, when a failed copy runs again, and what a
rule's status is from its counters. Records of rules and transfer requests as stored.

No I/O and no clock: ``now`` and the random source come in as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pandawms.core.backoff import RandomSource, compute_backoff
from pandawms.core.data import DID, Distances, RSESpec, distance
from pandawms.core.states import ReplicaStatus, RuleStatus, TransferStatus

DEFAULT_ACTIVITY = "User Subscriptions"
FAR = 1_000_000  # the distance of two sites without a configured one: any known distance is nearer


class TransferMethod(StrEnum):
    THIRD_PARTY = "third-party"  # storage to storage
    STREAMED = "streamed"  # the bytes went through the agent
    PRESENT = "present"  # the destination already held the verified file (a re-run after a kill)


@dataclass(frozen=True, slots=True)
class RuleCounters:
    """Files of a rule by what their replica at the rule's RSE is doing (Rucio's locks_*_cnt)."""

    ok: int = 0
    replicating: int = 0
    stuck: int = 0


@dataclass(frozen=True, slots=True)
class RuleRecord:
    """A replication rule as stored: DID -> RSE with its state and file counters."""

    id: int
    did: DID
    rse: str
    status: RuleStatus
    activity: str
    account: str
    expires_at: datetime | None
    files_ok: int
    files_replicating: int
    files_stuck: int
    error: str
    created_at: datetime
    modification_time: datetime


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """A transfer request: one file of a rule to its RSE, with attempts, lease and outcome."""

    id: int
    rule_id: int
    did: DID
    source_rse: str
    dest_rse: str
    status: TransferStatus
    attempt: int
    max_attempts: int
    next_attempt_at: datetime
    lease_owner: str
    lease_until: datetime | None
    bytes: int
    method: str
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str
    created_at: datetime
    modification_time: datetime


def rule_status(counters: RuleCounters) -> RuleStatus:
    """stuck while any file failed for good, replicating while any is copying, else ok."""
    if counters.stuck:
        return RuleStatus.STUCK
    if counters.replicating:
        return RuleStatus.REPLICATING
    return RuleStatus.OK


@dataclass(frozen=True, slots=True)
class SourceChoice:
    """The RSE to read from (None when there is none) and why each other replica was passed over."""

    rse: RSESpec | None
    rejected: dict[str, str]


def choose_source(
    replicas: Sequence[tuple[str, ReplicaStatus]],
    rses: dict[str, RSESpec],
    destination: RSESpec,
    distances: Distances,
) -> SourceChoice:
    """An available replica on a readable RSE other than the destination, nearest site first (ties by
    RSE name); bad, copying or unavailable replicas and unreadable RSEs are never chosen."""
    rejected: dict[str, str] = {}
    ranked: list[tuple[int, str, RSESpec]] = []
    for name, status in replicas:
        spec = rses.get(name)
        if name == destination.name:
            continue
        if spec is None:
            rejected[name] = "unknown RSE"
        elif status is not ReplicaStatus.AVAILABLE:
            rejected[name] = f"replica is {status.value}"
        elif not spec.availability_read:
            rejected[name] = "RSE not available for reading"
        else:
            d = distance(distances, spec.site, destination.site)
            ranked.append((FAR if d is None else d, name, spec))
    ranked.sort(key=lambda t: (t[0], t[1]))
    return SourceChoice(ranked[0][2] if ranked else None, rejected)


def no_source_reason(did: DID, choice: SourceChoice) -> str:
    """Why a file cannot be copied now, naming each replica passed over."""
    if not choice.rejected:
        return f"no replica of {did} to copy from"
    why = "; ".join(f"{rse}: {reason}" for rse, reason in sorted(choice.rejected.items()))
    return f"no usable replica of {did} to copy from ({why})"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff of a failed copy: full jitter over base * 2**attempt, capped (core.backoff)."""

    base_seconds: float = 30.0
    cap_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class AfterFailure:
    """What a failed attempt leads to: queued again at ``next_attempt_at``, or failed for good."""

    status: TransferStatus
    next_attempt_at: datetime


def after_failure(
    attempt: int, max_attempts: int, now: datetime, policy: RetryPolicy, rng: RandomSource
) -> AfterFailure:
    """``attempt`` (1-based, the one that failed) of ``max_attempts``: retry after backoff, or fail."""
    if attempt >= max_attempts:
        return AfterFailure(TransferStatus.FAILED, now)
    delay = compute_backoff(attempt - 1, policy.base_seconds, policy.cap_seconds, rng)
    return AfterFailure(TransferStatus.QUEUED, now + timedelta(seconds=delay))


class FileState(StrEnum):
    """What a file's copy at a rule's RSE counts as in the rule's counters."""

    OK = "ok"  # an available replica
    REPLICATING = "replicating"  # an active transfer request
    STUCK = "stuck"  # its request failed for good
    NONE = "none"  # no replica and no request (no rule counts it)


def counter_delta(old: FileState, new: FileState) -> RuleCounters:
    """The change to every covering rule's counters when a file at its RSE moves from ``old`` to ``new``."""
    values = {"ok": 0, "replicating": 0, "stuck": 0}
    if old.value in values:
        values[old.value] -= 1
    if new.value in values:
        values[new.value] += 1
    return RuleCounters(**values)


def add_counters(a: RuleCounters, b: RuleCounters) -> RuleCounters:
    return RuleCounters(a.ok + b.ok, a.replicating + b.replicating, a.stuck + b.stuck)


def scaled(delta: RuleCounters, times: int) -> RuleCounters:
    return RuleCounters(delta.ok * times, delta.replicating * times, delta.stuck * times)

"""Replication rules (Rucio's): a DID -> RSE rule creates one transfer request per file still missing
there, registers the destination replica as copying, and is ok once every file is available at the RSE.

A second rule on a file that is already copying to the RSE reuses that request (no second copy). Every
check runs before the first write, so a refused rule writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pandawms.core.data import DID, FileDID, replica_path
from pandawms.core.errors import InvalidInput, NotFound
from pandawms.core.states import TRANSFER_ACTIVE, ReplicaStatus, RuleStatus, TransferStatus
from pandawms.core.transfers import (
    DEFAULT_ACTIVITY,
    FileState,
    RuleCounters,
    RuleRecord,
    add_counters,
    counter_delta,
    rule_status,
    scaled,
)
from pandawms.db import catalog as catalog_db
from pandawms.db import replicas as replicas_db
from pandawms.db import rses as rses_db
from pandawms.db import rules as rules_db
from pandawms.db import transfers as transfers_db
from pandawms.db.replicas import NewReplica
from pandawms.db.rules import NewRule
from pandawms.db.transfers import NewTransfer
from pandawms.services import lifecycle_data

DEFAULT_MAX_ATTEMPTS = 3
MAX_PAGE = 10_000
MAX_LABEL = 64
MAX_ACCOUNT = 128  # a token sub


def _check_rse(conn: Connection, rse: str) -> None:
    spec = rses_db.get(conn, rse)
    if spec is None:
        raise InvalidInput(f"unknown RSE {rse!r} in rse", "rse")
    if not spec.availability_write:
        raise InvalidInput(f"RSE {rse} is not available for writing: no rule can copy to it", "rse")


def _check_labels(activity: str, account: str, lifetime: timedelta | None, max_attempts: int) -> None:
    if not activity or len(activity) > MAX_LABEL:
        raise InvalidInput(f"activity must be 1..{MAX_LABEL} characters, got {activity!r}", "activity")
    if len(account) > MAX_ACCOUNT:
        raise InvalidInput(f"account must be at most {MAX_ACCOUNT} characters", "account")
    if lifetime is not None and lifetime <= timedelta(0):
        raise InvalidInput(f"lifetime must be > 0 seconds, got {lifetime.total_seconds():g}", "lifetime")
    if not 1 <= max_attempts <= 100:
        raise InvalidInput(f"max_attempts must be 1..100, got {max_attempts}", "max_attempts")


def files_of(conn: Connection, did: DID) -> list[FileDID]:
    """The files a rule on ``did`` covers: a file itself, a dataset's files, a container's datasets' files;
    NotFound for an unknown DID."""
    kind = rules_db.did_type_of(conn, did)
    if kind is None:
        raise NotFound(f"no file, dataset or container {did}")
    if kind == "file":
        return list(catalog_db.get_files(conn, [did]).values())
    return rules_db.files_of(conn, did)


@dataclass(frozen=True, slots=True)
class _Plan:
    counters: RuleCounters
    to_copy: list[DID]  # new requests of this rule
    new_replicas: list[DID]  # no replica row at the RSE yet
    recopy_replicas: list[DID]  # a replica row that is unavailable or bad: copying again
    unstuck: list[DID]  # failed for good at the RSE: other rules count them stuck until this copy


def _plan(conn: Connection, wanted: Sequence[FileDID], rse: str) -> _Plan:
    keys = [f.did for f in wanted]
    have = replicas_db.existing(conn, [(d, rse) for d in keys], lock=True)
    requests = transfers_db.requests_for(conn, keys, rse)
    active = {t.did for t in requests if t.status in TRANSFER_ACTIVE}
    failed = {t.did for t in requests if t.status is TransferStatus.FAILED}
    ok, replicating, to_copy, new, recopy = 0, 0, [], [], []
    for did in keys:
        row = have.get((did, rse))
        if row is not None and row.status is ReplicaStatus.AVAILABLE:
            ok += 1
            continue
        replicating += 1
        if did in active:
            continue  # another rule's request is copying it: reuse, never copy twice
        to_copy.append(did)
        if row is None:
            new.append(did)
        elif row.status is not ReplicaStatus.COPYING:
            recopy.append(did)
    unstuck = [d for d in to_copy if d in failed]
    return _Plan(RuleCounters(ok=ok, replicating=replicating), to_copy, new, recopy, unstuck)


def add_rule(
    conn: Connection,
    did: DID,
    rse: str,
    now: datetime,
    *,
    lifetime: timedelta | None = None,
    activity: str = DEFAULT_ACTIVITY,
    account: str = "",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> RuleRecord:
    """Create a rule ``did`` -> ``rse`` with its transfer requests; InvalidInput naming ``rse`` for an
    unknown or unwritable RSE, NotFound for an unknown DID (nothing written either way)."""
    _check_labels(activity, account, lifetime, max_attempts)
    _check_rse(conn, rse)
    plan = _plan(conn, files_of(conn, did), rse)
    for d in plan.unstuck:  # before this rule exists: it counts them replicating already
        file_moved(conn, d, rse, FileState.STUCK, FileState.REPLICATING, now)
    expires = now + lifetime if lifetime is not None else None
    status = rule_status(plan.counters)
    rule_id = lifecycle_data.create_rule(
        conn, NewRule(did, rse, status, activity, account, expires, plan.counters), now
    )
    lifecycle_data.add_replicas(
        conn, [NewReplica(d, rse, ReplicaStatus.COPYING, replica_path(d)) for d in plan.new_replicas], now
    )
    for d in plan.recopy_replicas:
        lifecycle_data.transition_replica(conn, d, rse, ReplicaStatus.COPYING, now)
    fresh = [NewTransfer(rule_id, d, rse, max_attempts) for d in plan.to_copy]
    lifecycle_data.create_transfers(conn, fresh, now)
    return get_rule(conn, rule_id)


def get_rule(conn: Connection, rule_id: int) -> RuleRecord:
    rec = rules_db.get_rule(conn, rule_id)
    if rec is None:
        raise NotFound(f"no rule {rule_id}")
    return rec


def rules_of(conn: Connection, did: DID) -> list[RuleRecord]:
    """The rules on ``did`` itself (not on its parents), by id."""
    return rules_db.rules_of(conn, did)


def statuses(conn: Connection, rule_ids: Sequence[int]) -> dict[int, RuleStatus]:
    """Bulk status look-up (the Activator's); unknown ids are absent from the answer."""
    return rules_db.rule_statuses(conn, rule_ids)


def list_rules(
    conn: Connection,
    *,
    did: DID | None = None,
    rse: str | None = None,
    status: RuleStatus | None = None,
    after: int = 0,
    limit: int = 1000,
) -> tuple[list[RuleRecord], int | None]:
    """A keyset page of rules by id and the cursor of the next page (None at the end)."""
    check_page(after, limit)
    rows = rules_db.list_rules(conn, did, rse, status, after, limit + 1)
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def check_page(after: int, limit: int) -> None:
    """A keyset page's cursor and size, named when out of range."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}, got {limit}", "limit")
    if after < 0:
        raise InvalidInput(f"after must be >= 0, got {after}", "after")


def delete_rule(conn: Connection, rule_id: int, now: datetime) -> RuleRecord:
    """Remove a rule. Its queued requests go to another rule that still needs the file, else are dropped
    (their copying replica becomes unavailable); a running copy finishes; existing replicas stay."""
    rec = rules_db.get_rule(conn, rule_id, lock=True)
    if rec is None:
        raise NotFound(f"no rule {rule_id}")
    drop: list[int] = []
    for req in transfers_db.requests_of_rule(conn, rule_id):
        if req.status is TransferStatus.SUBMITTED:
            continue
        heir = _heir(conn, req.did, rec.rse, rule_id) if req.status is TransferStatus.QUEUED else None
        if heir is not None:
            transfers_db.reassign(conn, [req.id], heir, now)
            continue
        drop.append(req.id)
        if req.status is TransferStatus.QUEUED:
            lifecycle_data.transition_replica(conn, req.did, rec.rse, ReplicaStatus.UNAVAILABLE, now)
    transfers_db.delete_transfers(conn, drop)
    rules_db.delete_rule(conn, rule_id)
    return rec


def expire_rules(conn: Connection, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` rules whose lifetime ended (as delete_rule: replicas stay)."""
    expired = rules_db.expired_rules(conn, now, limit)
    for rule_id in expired:
        delete_rule(conn, rule_id, now)
    return len(expired)


def _heir(conn: Connection, did: DID, rse: str, leaving: int) -> int | None:
    """Another rule covering ``did`` at ``rse`` without its own request for it."""
    for other in rules_db.covering_rules(conn, did, rse):
        if other.id != leaving and not transfers_db.requests_for(conn, [did], rse, rule_id=other.id):
            return other.id
    return None


def file_moved(
    conn: Connection, did: DID, rse: str, old: FileState, new: FileState, now: datetime, error: str = ""
) -> list[RuleRecord]:
    """A file's copy at ``rse`` went from ``old`` to ``new``: every rule covering it gets the counter
    change and the status its counters give (stuck ones keep ``error``). Returns the rules touched."""
    return files_moved(conn, [did], rse, old, new, now, error)


def files_moved(
    conn: Connection,
    files: Sequence[DID],
    rse: str,
    old: FileState,
    new: FileState,
    now: datetime,
    error: str = "",
) -> list[RuleRecord]:
    """file_moved for many files at once: one counter update per covering rule."""
    delta = counter_delta(old, new)
    touched = []
    for rule, covered in rules_db.covering(conn, files, rse, lock=True):
        change = scaled(delta, len(covered))
        rules_db.add_counts(conn, rule.id, change, error if new is FileState.STUCK else None, now)
        counters = RuleCounters(rule.files_ok, rule.files_replicating, rule.files_stuck)
        target = rule_status(add_counters(counters, change))
        if target is not rule.status:
            lifecycle_data.transition_rule(conn, rule.id, target, now)
        touched.append(rule)
    return touched

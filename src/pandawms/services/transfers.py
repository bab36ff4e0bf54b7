"""Transfer requests: the agent's claim with each copy's plan (its source), the recorded outcome of a
copy, lost-file recovery (declare_bad), and the listings and summary the API shows.

Each function runs in the caller's short transaction; the copies themselves run outside any
transaction (agents/transfers.py). Replica, request and rule states change only through
services/lifecycle_data.py; rule counters through rules.file_moved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pandawms.core.backoff import RandomSource
from pandawms.core.data import DID, FileDID, RSESpec, replica_path
from pandawms.core.errors import Conflict, InvalidInput, NotFound
from pandawms.core.states import TRANSFER_ACTIVE, ReplicaStatus, TransferStatus
from pandawms.core.transfers import (
    FileState,
    RetryPolicy,
    TransferRecord,
    after_failure,
    choose_source,
    no_source_reason,
)
from pandawms.db import catalog as catalog_db
from pandawms.db import replicas as replicas_db
from pandawms.db import rses as rses_db
from pandawms.db import rules as rules_db
from pandawms.db import transfers as transfers_db
from pandawms.db.transfers import Finished, NewTransfer
from pandawms.services import lifecycle_data, rules
from pandawms.services.lifecycle import Outcome
from pandawms.services.lifecycle_data import DataTransition

ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class CopyTask:
    """One claimed request and how to run it: the file's catalog metadata, the destination URL, and the
    chosen source (or ``problem``: why there is none)."""

    request: TransferRecord
    file: FileDID
    dst_url: str
    source_rse: str = ""
    src_url: str = ""
    problem: str = ""
    leased_at: datetime | None = None  # when the claim or its last renewal was made

    def renew_after(self, lease: timedelta) -> datetime:
        """When the lease is half used: the agent renews it then if the copy is still running."""
        return (self.leased_at or self.request.started_at or self.request.next_attempt_at) + lease / 2

    def renewed(self, now: datetime) -> CopyTask:
        return replace(self, leased_at=now)


def claim(conn: Connection, owner: str, now: datetime, lease: timedelta, limit: int) -> list[CopyTask]:
    """Claim up to ``limit`` runnable requests for ``owner`` under a lease and plan each copy."""
    claimed = lifecycle_data.claim_transfers(conn, owner, now, now + lease, limit)
    if not claimed:
        return []
    specs = {s.name: s for s in rses_db.list_all(conn)}
    distances = rses_db.distances(conn)
    metadata = catalog_db.get_files(conn, [r.did for r in claimed])
    where: dict[DID, list[tuple[str, ReplicaStatus]]] = defaultdict(list)
    paths: dict[tuple[DID, str], str] = {}  # each replica's own path (a pilot may write another layout)
    for rep in replicas_db.of_files(conn, [r.did for r in claimed]):
        where[rep.did].append((rep.rse, rep.status))
        paths[(rep.did, rep.rse)] = rep.path
    tasks = []
    for req in claimed:
        dest = specs[req.dest_rse]
        task = CopyTask(req, metadata[req.did], dest.url(replica_path(req.did)))
        choice = choose_source(where[req.did], specs, dest, distances)
        if choice.rse is None:
            tasks.append(replace(task, problem=no_source_reason(req.did, choice)))
        else:
            src_url = choice.rse.url(paths.get((req.did, choice.rse.name)) or replica_path(req.did))
            tasks.append(replace(task, source_rse=choice.rse.name, src_url=src_url))
    return tasks


def extend_leases(
    conn: Connection, owner: str, request_ids: Sequence[int], now: datetime, lease: timedelta
) -> int:
    """Copies still running keep their claims for another ``lease`` (an agent that dies stops renewing)."""
    return transfers_db.extend_leases(conn, owner, request_ids, now + lease, now)


def record_done(
    conn: Connection, owner: str, request_id: int, source_rse: str, nbytes: int, method: str, now: datetime
) -> DataTransition:
    """A verified copy: request done, destination replica available, covering rules count it ok. A
    request no longer under ``owner``'s lease is refused (its lease expired: another agent has it)."""
    refused = record_done_many(conn, owner, [Finished(request_id, source_rse, nbytes, method)], now)
    if request_id in refused:
        return DataTransition(Outcome.REJECTED, _request(conn, request_id).status.value, refused[request_id])
    return DataTransition(Outcome.ACCEPTED, TransferStatus.DONE.value)


def record_done_many(conn: Connection, owner: str, done: Sequence[Finished], now: datetime) -> dict[int, str]:
    """record_done for the copies that ended together (one short transaction, a few statements per
    destination RSE); returns why each refused request was refused."""
    moved, refused = lifecycle_data.finish_transfers(conn, owner, done, now)
    by_rse: dict[str, list[DID]] = defaultdict(list)
    for req in moved:
        by_rse[req.dest_rse].append(req.did)
    for rse, dids in sorted(by_rse.items()):
        arrived = lifecycle_data.replicas_available(conn, [(d, rse) for d in dids], now)
        rules.files_moved(conn, [d for d, _ in arrived], rse, FileState.REPLICATING, FileState.OK, now)
    return refused


def _request(conn: Connection, request_id: int) -> TransferRecord:
    req = transfers_db.get_transfer(conn, request_id)
    if req is None:
        raise NotFound(f"no transfer request {request_id}")
    return req


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a copy failed; ``bad_source``: the source does not hold the catalog's file (declared bad)."""

    error: str
    source_rse: str = ""
    bad_source: bool = False


def record_failure(
    conn: Connection,
    owner: str,
    request_id: int,
    failure: Failure,
    now: datetime,
    policy: RetryPolicy,
    rng: RandomSource,
) -> DataTransition:
    """A failed attempt: queued again after backoff, or failed once attempts are spent (destination
    replica unavailable, covering rules stuck with the error)."""
    req = _request(conn, request_id)
    decision = after_failure(req.attempt, req.max_attempts, now, policy, rng)
    error = failure.error[:ERROR_LENGTH]
    fields = {
        "source_rse": failure.source_rse,
        "last_error": error,
        "lease_owner": "",
        "lease_until": None,
        "next_attempt_at": decision.next_attempt_at,
    }
    if decision.status is TransferStatus.FAILED:
        fields["finished_at"] = now
    moved = lifecycle_data.transition_transfer(
        conn, request_id, decision.status, now, owner=owner, fields=fields
    )
    if moved.outcome is not Outcome.ACCEPTED:
        return moved
    if failure.bad_source and failure.source_rse:
        declare_bad(conn, req.did, failure.source_rse, error, now)
    if decision.status is TransferStatus.FAILED:
        dest = replicas_db.existing(conn, [(req.did, req.dest_rse)]).get((req.did, req.dest_rse))
        if dest is not None and dest.status is ReplicaStatus.COPYING:
            lifecycle_data.transition_replica(conn, req.did, req.dest_rse, ReplicaStatus.UNAVAILABLE, now)
        why = f"{req.did} to {req.dest_rse}: {error}"
        rules.file_moved(conn, req.did, req.dest_rse, FileState.REPLICATING, FileState.STUCK, now, why)
    return moved


@dataclass(frozen=True, slots=True)
class BadDeclared:
    """declare_bad's answer: the replica's transition and the request re-copying it (if a rule needs it)."""

    transition: DataTransition
    recopy_request: int | None = None


def declare_bad(conn: Connection, did: DID, rse: str, reason: str, now: datetime) -> BadDeclared:
    """A replica found missing or corrupt -> bad. If a rule still needs the file at ``rse``, it is copied
    again from another replica (replica bad -> copying, rule back to replicating)."""
    if rses_db.get(conn, rse) is None:
        raise InvalidInput(f"unknown RSE {rse!r} in rse", "rse")
    if did not in catalog_db.get_files(conn, [did]):
        raise NotFound(f"no file {did}")
    row = replicas_db.existing(conn, [(did, rse)], lock=True).get((did, rse))
    if row is None:
        raise NotFound(f"no replica of {did} at {rse}")
    requests = transfers_db.requests_for(conn, [did], rse)
    if any(t.status in TRANSFER_ACTIVE for t in requests):
        raise Conflict(f"a transfer is writing {did} at {rse}: declare it bad once it ended")
    old = _file_state(row.status, requests)
    moved = lifecycle_data.transition_replica(conn, did, rse, ReplicaStatus.BAD, now)
    if moved.outcome is not Outcome.ACCEPTED:
        return BadDeclared(moved)
    needing = rules_db.covering_rules(conn, did, rse)
    if not needing:
        return BadDeclared(moved)
    rules.file_moved(conn, did, rse, old, FileState.REPLICATING, now)
    lifecycle_data.transition_replica(conn, did, rse, ReplicaStatus.COPYING, now)
    needed = {r.id for r in needing}
    ended = sorted(requests, key=lambda t: (t.rule_id not in needed, t.id))
    return BadDeclared(moved, _requeue(conn, did, rse, needing[0].id, ended, f"re-copy: {reason}", now))


def _file_state(status: ReplicaStatus, requests: Sequence[TransferRecord]) -> FileState:
    if status is ReplicaStatus.AVAILABLE:
        return FileState.OK
    if any(t.status is TransferStatus.FAILED for t in requests):
        return FileState.STUCK
    return FileState.NONE


def _requeue(
    conn: Connection,
    did: DID,
    rse: str,
    rule_id: int,
    requests: Sequence[TransferRecord],
    note: str,
    now: datetime,
) -> int:
    """Queue the copy again: the first ended request starts over (attempts from 0), else a new one."""
    if requests:
        req = requests[0]
        fields = {
            "attempt": 0,
            "next_attempt_at": now,
            "finished_at": None,
            "last_error": note[:ERROR_LENGTH],
        }
        lifecycle_data.transition_transfer(conn, req.id, TransferStatus.QUEUED, now, fields=fields)
        return req.id
    lifecycle_data.create_transfers(conn, [NewTransfer(rule_id, did, rse, rules.DEFAULT_MAX_ATTEMPTS)], now)
    return transfers_db.requests_for(conn, [did], rse, rule_id=rule_id)[-1].id


# -- what the API shows ----------------------------------------------------------------------------------


def list_transfers(
    conn: Connection,
    *,
    rule_id: int | None = None,
    status: TransferStatus | None = None,
    rse: str | None = None,
    after: int = 0,
    limit: int = 1000,
) -> tuple[list[TransferRecord], int | None]:
    """A keyset page of requests by id (filtered by rule, status, RSE at either end) and the next cursor."""
    rules.check_page(after, limit)
    if rule_id is not None and rules_db.get_rule(conn, rule_id) is None:
        raise NotFound(f"no rule {rule_id}")
    rows = transfers_db.list_transfers(conn, rule_id, status, rse, after, limit + 1)
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


@dataclass
class PairSummary:
    """Transfers between two RSEs (source empty: not chosen yet): counts per status, bytes copied,
    throughput of the copies that ended in the recent window, and the latest errors."""

    source_rse: str
    dest_rse: str
    counts: dict[TransferStatus, int] = field(default_factory=dict)
    bytes_done: int = 0
    recent_mb_per_s: float = 0.0
    last_errors: list[str] = field(default_factory=list)


def summary(conn: Connection, now: datetime, window: timedelta = timedelta(minutes=10)) -> list[PairSummary]:
    """Per (source, destination) RSE pair, sorted by pair."""
    pairs: dict[tuple[str, str], PairSummary] = {}

    def pair(src: str, dst: str) -> PairSummary:
        return pairs.setdefault((src, dst), PairSummary(src, dst))

    for c in transfers_db.pair_counts(conn):
        p = pair(c.source_rse, c.dest_rse)
        p.counts[c.status] = p.counts.get(c.status, 0) + c.count
        if c.status is TransferStatus.DONE:
            p.bytes_done += c.bytes
    recent: dict[tuple[str, str], list[TransferRecord]] = defaultdict(list)
    for t in transfers_db.finished_since(conn, now - window):
        if t.status is TransferStatus.DONE and t.started_at is not None and t.finished_at is not None:
            recent[(t.source_rse, t.dest_rse)].append(t)
    for key, done in recent.items():
        ends = [t.finished_at for t in done if t.finished_at is not None]
        starts = [t.started_at for t in done if t.started_at is not None]
        seconds = max((max(ends) - min(starts)).total_seconds(), 1e-3)
        pair(*key).recent_mb_per_s = sum(t.bytes for t in done) / 1e6 / seconds
    for t in transfers_db.with_errors(conn, 200):
        p = pair(t.source_rse, t.dest_rse)
        if len(p.last_errors) < 3 and t.last_error not in p.last_errors:
            p.last_errors.append(t.last_error)
    return [pairs[k] for k in sorted(pairs)]


def rse_spec(conn: Connection, name: str) -> RSESpec:
    spec = rses_db.get(conn, name)
    if spec is None:
        raise InvalidInput(f"unknown RSE {name!r} in rse", "rse")
    return spec


def replicas_to_verify(
    conn: Connection, rse: str, after: DID | None, limit: int
) -> list[transfers_db.StoredReplica]:
    """A keyset page of the available replicas at ``rse`` with the size and adler32 they must have."""
    rse_spec(conn, rse)
    return transfers_db.available_at(conn, rse, after, limit)

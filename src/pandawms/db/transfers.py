"""Transfer requests repository (the FTS-analogue's queue lives here, in the task buffer); the rules
are in db/rules.py.

The status writers (insert_transfers, claim_transfers, write_transfer_status, finish_transfers,
copying_to_available) are called only by services/lifecycle_data.py. A claim is one statement pair per
batch: candidates on ``ix_transfers_runnable`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), then a
compare-and-set update of exactly those rows, so no request is ever handed to two agents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, delete, func, insert, or_, select, tuple_, update

from pandawms.core.data import DID, FileDID
from pandawms.core.states import TransferStatus
from pandawms.core.transfers import TransferRecord
from pandawms.db.bulk import insert_rows, member, scope_groups
from pandawms.db.schema import files, replicas, transfers

# columns a transfer status change may set besides status and modification_time
TRANSFER_FIELDS = frozenset(
    {
        "source_rse",
        "attempt",
        "next_attempt_at",
        "lease_owner",
        "lease_until",
        "bytes",
        "method",
        "started_at",
        "finished_at",
        "last_error",
    }
)


def _transfer(r: Any) -> TransferRecord:
    return TransferRecord(
        id=int(r.request_id),
        rule_id=int(r.rule_id),
        did=DID(r.scope, r.lfn),
        source_rse=r.source_rse,
        dest_rse=r.dest_rse,
        status=TransferStatus(r.status),
        attempt=r.attempt,
        max_attempts=r.max_attempts,
        next_attempt_at=r.next_attempt_at,
        lease_owner=r.lease_owner,
        lease_until=r.lease_until,
        bytes=int(r.bytes),
        method=r.method,
        started_at=r.started_at,
        finished_at=r.finished_at,
        last_error=r.last_error,
        created_at=r.created_at,
        modification_time=r.modification_time,
    )


# -- transfer requests ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewTransfer:
    rule_id: int
    did: DID
    dest_rse: str
    max_attempts: int


def insert_transfers(conn: Connection, new: Sequence[NewTransfer], now: datetime) -> None:
    """New requests start queued and runnable now (status writer: services/lifecycle_data.py only)."""
    rows = [
        {
            "rule_id": n.rule_id,
            "scope": n.did.scope,
            "lfn": n.did.name,
            "dest_rse": n.dest_rse,
            "status": TransferStatus.QUEUED.value,
            "max_attempts": n.max_attempts,
            "next_attempt_at": now,
            "created_at": now,
            "modification_time": now,
        }
        for n in new
    ]
    if rows:
        insert_rows(conn, insert(transfers), rows)


def get_transfer(conn: Connection, request_id: int, *, lock: bool = False) -> TransferRecord | None:
    stmt = select(transfers).where(transfers.c.request_id == request_id)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    return None if row is None else _transfer(row)


def requests_for(
    conn: Connection, wanted: Iterable[DID], dest_rse: str, *, rule_id: int | None = None
) -> list[TransferRecord]:
    """The requests copying any of ``wanted`` to ``dest_rse`` (of one rule if given), by id."""
    out: list[TransferRecord] = []
    for scope, names in scope_groups(conn, wanted):
        stmt = select(transfers).where(
            transfers.c.scope == scope, member(conn, transfers.c.lfn, names), transfers.c.dest_rse == dest_rse
        )
        if rule_id is not None:
            stmt = stmt.where(transfers.c.rule_id == rule_id)
        out += [_transfer(r) for r in conn.execute(stmt)]
    return sorted(out, key=lambda t: t.id)


def requests_of_rule(conn: Connection, rule_id: int) -> list[TransferRecord]:
    stmt = select(transfers).where(transfers.c.rule_id == rule_id).order_by(transfers.c.request_id)
    return [_transfer(r) for r in conn.execute(stmt)]


def claim_candidates(status: TransferStatus, now: datetime, limit: int) -> Select[Any]:
    """Requests of one status due by ``now``, earliest first: one range of ``ix_transfers_runnable`` read
    in index order (no sort, however many are due)."""
    return (
        select(transfers.c.request_id)
        .where(transfers.c.status == status.value, transfers.c.next_attempt_at <= now)
        .order_by(transfers.c.next_attempt_at)
        .limit(limit)
    )


CLAIMABLE = (TransferStatus.SUBMITTED, TransferStatus.QUEUED)  # expired leases first: claimed earlier


def claim_transfers(
    conn: Connection, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[TransferRecord]:
    """Claim up to ``limit`` runnable requests (submitted with an expired lease, then queued and due) for
    ``owner``: attempt + 1, lease and next_attempt_at = lease_until (status writer: lifecycle_data only)."""
    ids: list[int] = []
    for status in CLAIMABLE:
        pick = claim_candidates(status, now, limit - len(ids))
        if conn.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        ids += [int(r[0]) for r in conn.execute(pick)] if len(ids) < limit else []
    if not ids:
        return []
    stmt = (
        update(transfers)
        .where(
            transfers.c.request_id.in_(ids),
            transfers.c.status.in_([s.value for s in CLAIMABLE]),
            transfers.c.next_attempt_at <= now,
        )
        .values(
            status=TransferStatus.SUBMITTED.value,
            attempt=transfers.c.attempt + 1,
            lease_owner=owner,
            lease_until=lease_until,
            next_attempt_at=lease_until,
            started_at=now,
            modification_time=now,
        )
        .returning(*transfers.c)
    )
    return sorted((_transfer(r) for r in conn.execute(stmt)), key=lambda t: t.id)


def extend_leases(
    conn: Connection, owner: str, request_ids: Sequence[int], lease_until: datetime, now: datetime
) -> int:
    """Renew ``owner``'s leases of these submitted requests (copies still running): the lease and the
    time they become runnable again move to ``lease_until``; the status does not change."""
    if not request_ids:
        return 0
    stmt = (
        update(transfers)
        .where(
            transfers.c.request_id.in_(list(request_ids)),
            transfers.c.status == TransferStatus.SUBMITTED.value,
            transfers.c.lease_owner == owner,
        )
        .values(lease_until=lease_until, next_attempt_at=lease_until, modification_time=now)
    )
    return int(conn.execute(stmt).rowcount)


def write_transfer_status(
    conn: Connection,
    request_id: int,
    current: TransferStatus,
    target: TransferStatus,
    now: datetime,
    fields: Mapping[str, Any],
) -> bool:
    """Compare-and-set of one request's status with the other ``fields`` it changes (TRANSFER_FIELDS);
    status writer: services/lifecycle_data.py only."""
    unknown = set(fields) - TRANSFER_FIELDS
    if unknown or "status" in fields:
        raise ValueError(f"not transfer fields: {sorted(unknown | ({'status'} & set(fields)))}")
    stmt = (
        update(transfers)
        .where(transfers.c.request_id == request_id, transfers.c.status == current.value)
        .values(status=target.value, modification_time=now, **fields)
    )
    return conn.execute(stmt).rowcount == 1


def lock_transfers(conn: Connection, request_ids: Sequence[int]) -> list[TransferRecord]:
    """The requests with these ids, locked (FOR UPDATE on PostgreSQL), by id."""
    stmt = select(transfers).where(transfers.c.request_id.in_(list(request_ids))).with_for_update()
    return sorted((_transfer(r) for r in conn.execute(stmt)), key=lambda t: t.id)


@dataclass(frozen=True, slots=True)
class Finished:
    request_id: int
    source_rse: str
    bytes: int
    method: str


def finish_transfers(conn: Connection, owner: str, done: Sequence[Finished], now: datetime) -> int:
    """submitted under ``owner``'s lease -> done, in one executemany (status writer: lifecycle_data only)."""
    if not done:
        return 0
    stmt = (
        update(transfers)
        .where(
            transfers.c.request_id == bindparam("rid"),
            transfers.c.status == TransferStatus.SUBMITTED.value,
            transfers.c.lease_owner == owner,
        )
        .values(
            status=TransferStatus.DONE.value,
            source_rse=bindparam("src"),
            bytes=bindparam("nbytes"),
            method=bindparam("how"),
            finished_at=now,
            last_error="",
            lease_owner="",
            lease_until=None,
            modification_time=now,
        )
    )
    rows = [{"rid": d.request_id, "src": d.source_rse, "nbytes": d.bytes, "how": d.method} for d in done]
    return int(conn.execute(stmt, rows).rowcount)


def copying_to_available(conn: Connection, keys: Sequence[tuple[DID, str]], now: datetime) -> int:
    """Compare-and-set copying -> available of many replicas (status writer: lifecycle_data only)."""
    if not keys:
        return 0
    stmt = (
        update(replicas)
        .where(
            replicas.c.scope == bindparam("s"),
            replicas.c.lfn == bindparam("n"),
            replicas.c.rse == bindparam("r"),
            replicas.c.status == "copying",
        )
        .values(status="available", modification_time=now)
    )
    return int(conn.execute(stmt, [{"s": d.scope, "n": d.name, "r": rse} for d, rse in keys]).rowcount)


def reassign(conn: Connection, request_ids: Sequence[int], rule_id: int, now: datetime) -> None:
    """Hand requests over to another rule (their own rule is being deleted)."""
    if request_ids:
        stmt = (
            update(transfers)
            .where(transfers.c.request_id.in_(list(request_ids)))
            .values(rule_id=rule_id, modification_time=now)
        )
        conn.execute(stmt)


def delete_transfers(conn: Connection, request_ids: Sequence[int]) -> None:
    ids = list(request_ids)
    for start in range(0, len(ids), 900):
        conn.execute(delete(transfers).where(transfers.c.request_id.in_(ids[start : start + 900])))


def list_transfers(
    conn: Connection,
    rule_id: int | None,
    status: TransferStatus | None,
    rse: str | None,
    after: int,
    limit: int,
) -> list[TransferRecord]:
    """Keyset page by request id; ``rse`` matches the source or the destination."""
    stmt = select(transfers).where(transfers.c.request_id > after)
    if rule_id is not None:
        stmt = stmt.where(transfers.c.rule_id == rule_id)
    if status is not None:
        stmt = stmt.where(transfers.c.status == status.value)
    if rse is not None:
        stmt = stmt.where(or_(transfers.c.dest_rse == rse, transfers.c.source_rse == rse))
    return [_transfer(r) for r in conn.execute(stmt.order_by(transfers.c.request_id).limit(limit))]


@dataclass(frozen=True, slots=True)
class PairCount:
    source_rse: str
    dest_rse: str
    status: TransferStatus
    count: int
    bytes: int


def pair_counts(conn: Connection) -> list[PairCount]:
    """Requests per (source, destination, status) with their bytes."""
    stmt = select(
        transfers.c.source_rse,
        transfers.c.dest_rse,
        transfers.c.status,
        func.count(),
        func.coalesce(func.sum(transfers.c.bytes), 0),
    ).group_by(transfers.c.source_rse, transfers.c.dest_rse, transfers.c.status)
    return [PairCount(r[0], r[1], TransferStatus(r[2]), int(r[3]), int(r[4])) for r in conn.execute(stmt)]


def finished_since(conn: Connection, since: datetime) -> list[TransferRecord]:
    """Requests that ended (done or failed) at or after ``since``: throughput and recent errors."""
    stmt = select(transfers).where(
        transfers.c.status.in_([TransferStatus.DONE.value, TransferStatus.FAILED.value]),
        transfers.c.finished_at >= since,
    )
    return [_transfer(r) for r in conn.execute(stmt.order_by(transfers.c.finished_at))]


def with_errors(conn: Connection, limit: int) -> list[TransferRecord]:
    """The requests most recently changed that carry an error (retrying or failed)."""
    stmt = select(transfers).where(transfers.c.last_error != "")
    stmt = stmt.order_by(transfers.c.modification_time.desc())
    return [_transfer(r) for r in conn.execute(stmt.limit(limit))]


# -- consistency -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredReplica:
    file: FileDID
    path: str


def available_at(conn: Connection, rse: str, after: DID | None, limit: int) -> list[StoredReplica]:
    """Keyset page of the available replicas at ``rse`` with their files' size and adler32."""
    stmt = (
        select(replicas.c.path, files)
        .join(files, and_(files.c.scope == replicas.c.scope, files.c.lfn == replicas.c.lfn))
        .where(replicas.c.rse == rse, replicas.c.status == "available")
    )
    if after is not None:
        stmt = stmt.where(tuple_(replicas.c.scope, replicas.c.lfn) > tuple_(after.scope, after.name))
    stmt = stmt.order_by(replicas.c.scope, replicas.c.lfn).limit(limit)
    return [
        StoredReplica(FileDID(DID(r.scope, r.lfn), r.guid, r.bytes, r.adler32, r.events), r.path)
        for r in conn.execute(stmt)
    ]

"""Rules and transfer requests repository (the FTS-analogue's queue lives here, in the task buffer).

The status writers (insert_rule, write_rule_status, insert_transfers, claim_transfers,
write_transfer_status) are called only by services/lifecycle_data.py. A claim is one statement pair per
batch: candidates on ``ix_transfers_runnable`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), then a
compare-and-set update of exactly those rows, so no request is ever handed to two agents.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, tuple_, update

from pandawms.core.data import DID, FileDID
from pandawms.core.states import TRANSFER_ACTIVE, RuleStatus, TransferStatus
from pandawms.core.transfers import RuleCounters, RuleRecord, TransferRecord
from pandawms.db.bulk import insert_rows, member, scope_groups
from pandawms.db.schema import contents, dids, files, replicas, rules, transfers

_ACTIVE = [s.value for s in TRANSFER_ACTIVE]
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


def _rule(r: Any) -> RuleRecord:
    return RuleRecord(
        id=int(r.rule_id),
        did=DID(r.scope, r.name),
        rse=r.rse,
        status=RuleStatus(r.status),
        activity=r.activity,
        account=r.account,
        expires_at=r.expires_at,
        files_ok=r.files_ok,
        files_replicating=r.files_replicating,
        files_stuck=r.files_stuck,
        error=r.error,
        created_at=r.created_at,
        modification_time=r.modification_time,
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


# -- what a rule covers ------------------------------------------------------------------------------


def files_of(conn: Connection, parent: DID) -> list[FileDID]:
    """The files of a dataset, or of a container's datasets (one level, as the catalog nests), by key."""
    child = contents.alias("child")
    direct = select(contents.c.child_scope.label("s"), contents.c.child_name.label("n")).where(
        contents.c.scope == parent.scope, contents.c.name == parent.name, contents.c.child_type == "file"
    )
    nested = (
        select(child.c.child_scope.label("s"), child.c.child_name.label("n"))
        .join(contents, and_(contents.c.child_scope == child.c.scope, contents.c.child_name == child.c.name))
        .where(contents.c.scope == parent.scope, contents.c.name == parent.name, child.c.child_type == "file")
    )
    keys = direct.union(nested).subquery()
    stmt = (
        select(files)
        .join(keys, and_(files.c.scope == keys.c.s, files.c.lfn == keys.c.n))
        .order_by(files.c.scope, files.c.lfn)
    )
    return [FileDID(DID(r.scope, r.lfn), r.guid, r.bytes, r.adler32, r.events) for r in conn.execute(stmt)]


def _parents(conn: Connection, children: Iterable[DID]) -> dict[DID, set[DID]]:
    out: dict[DID, set[DID]] = defaultdict(set)
    for scope, names in scope_groups(conn, children):
        stmt = select(contents.c.scope, contents.c.name, contents.c.child_name).where(
            contents.c.child_scope == scope, member(conn, contents.c.child_name, names)
        )
        for r in conn.execute(stmt):
            out[DID(scope, r.child_name)].add(DID(r.scope, r.name))
    return out


def ancestors(conn: Connection, wanted: Sequence[DID]) -> dict[DID, set[DID]]:
    """Each DID with its parents and their parents: the DIDs whose rules cover it (two queries per
    scope group however many DIDs)."""
    parents = _parents(conn, wanted)
    grand = _parents(conn, {p for ps in parents.values() for p in ps})
    return {
        d: {d, *parents.get(d, ()), *(g for p in parents.get(d, ()) for g in grand.get(p, ()))}
        for d in wanted
    }


def covering(
    conn: Connection, wanted: Sequence[DID], rse: str, *, lock: bool = False
) -> list[tuple[RuleRecord, list[DID]]]:
    """The rules at ``rse`` covering any of ``wanted`` (its DID is the file or contains it), by id, each
    with the files of ``wanted`` it covers (``lock``: FOR UPDATE)."""
    up = ancestors(conn, wanted)
    found: dict[int, RuleRecord] = {}
    for scope, names in scope_groups(conn, {a for ups in up.values() for a in ups}):
        stmt = select(rules).where(
            rules.c.rse == rse, rules.c.scope == scope, member(conn, rules.c.name, names)
        )
        found.update(
            {int(r.rule_id): _rule(r) for r in conn.execute(stmt.with_for_update() if lock else stmt)}
        )
    return [(found[i], [d for d in wanted if found[i].did in up[d]]) for i in sorted(found)]


def covering_rules(conn: Connection, file: DID, rse: str, *, lock: bool = False) -> list[RuleRecord]:
    """The rules at ``rse`` whose DID is ``file`` or contains it, by id (``lock``: FOR UPDATE)."""
    return [r for r, _ in covering(conn, [file], rse, lock=lock)]


# -- rules ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewRule:
    did: DID
    rse: str
    status: RuleStatus
    activity: str
    account: str
    expires_at: datetime | None
    counters: RuleCounters


def insert_rule(conn: Connection, new: NewRule, now: datetime) -> int:
    """Status writer: services/lifecycle_data.py only. Returns the new rule's id."""
    stmt = insert(rules).values(
        scope=new.did.scope,
        name=new.did.name,
        rse=new.rse,
        status=new.status.value,
        activity=new.activity,
        account=new.account,
        expires_at=new.expires_at,
        files_ok=new.counters.ok,
        files_replicating=new.counters.replicating,
        files_stuck=new.counters.stuck,
        created_at=now,
        modification_time=now,
    )
    return int(conn.execute(stmt.returning(rules.c.rule_id)).scalar_one())


def get_rule(conn: Connection, rule_id: int, *, lock: bool = False) -> RuleRecord | None:
    stmt = select(rules).where(rules.c.rule_id == rule_id)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    return None if row is None else _rule(row)


def rules_of(conn: Connection, did: DID) -> list[RuleRecord]:
    stmt = select(rules).where(rules.c.scope == did.scope, rules.c.name == did.name).order_by(rules.c.rule_id)
    return [_rule(r) for r in conn.execute(stmt)]


def rule_statuses(conn: Connection, rule_ids: Sequence[int]) -> dict[int, RuleStatus]:
    out: dict[int, RuleStatus] = {}
    ids = sorted(set(rule_ids))
    for start in range(0, len(ids), 900):
        stmt = select(rules.c.rule_id, rules.c.status).where(rules.c.rule_id.in_(ids[start : start + 900]))
        out.update({int(r.rule_id): RuleStatus(r.status) for r in conn.execute(stmt)})
    return out


def list_rules(
    conn: Connection, did: DID | None, rse: str | None, status: RuleStatus | None, after: int, limit: int
) -> list[RuleRecord]:
    """Keyset page by rule id."""
    stmt = select(rules).where(rules.c.rule_id > after)
    if did is not None:
        stmt = stmt.where(rules.c.scope == did.scope, rules.c.name == did.name)
    if rse is not None:
        stmt = stmt.where(rules.c.rse == rse)
    if status is not None:
        stmt = stmt.where(rules.c.status == status.value)
    return [_rule(r) for r in conn.execute(stmt.order_by(rules.c.rule_id).limit(limit))]


def add_counts(conn: Connection, rule_id: int, delta: RuleCounters, error: str | None, now: datetime) -> None:
    """Add ``delta`` to a rule's file counters (and keep ``error`` if given)."""
    stmt = (
        update(rules)
        .where(rules.c.rule_id == rule_id)
        .values(
            files_ok=rules.c.files_ok + delta.ok,
            files_replicating=rules.c.files_replicating + delta.replicating,
            files_stuck=rules.c.files_stuck + delta.stuck,
            error=rules.c.error if error is None else error[:500],
            modification_time=now,
        )
    )
    conn.execute(stmt)


def write_rule_status(
    conn: Connection, rule_id: int, current: RuleStatus, target: RuleStatus, now: datetime
) -> bool:
    """Compare-and-set of one rule's status (status writer: services/lifecycle_data.py only)."""
    stmt = (
        update(rules)
        .where(rules.c.rule_id == rule_id, rules.c.status == current.value)
        .values(status=target.value, modification_time=now)
    )
    return conn.execute(stmt).rowcount == 1


def expired_rules(conn: Connection, now: datetime, limit: int) -> list[int]:
    """Ids of rules whose lifetime ended by ``now``, oldest expiry first (``ix_rules_expires``)."""
    stmt = (
        select(rules.c.rule_id)
        .where(rules.c.expires_at.is_not(None), rules.c.expires_at <= now)
        .order_by(rules.c.expires_at, rules.c.rule_id)
        .limit(limit)
    )
    return [int(r[0]) for r in conn.execute(stmt)]


def delete_rule(conn: Connection, rule_id: int) -> None:
    conn.execute(delete(rules).where(rules.c.rule_id == rule_id))


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


def claim_transfers(
    conn: Connection, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[TransferRecord]:
    """Claim up to ``limit`` runnable requests (queued and due, or submitted with an expired lease) for
    ``owner``: attempt + 1, lease and next_attempt_at = lease_until (status writer: lifecycle_data only)."""
    runnable = and_(
        transfers.c.status.in_([TransferStatus.QUEUED.value, TransferStatus.SUBMITTED.value]),
        transfers.c.next_attempt_at <= now,
    )
    pick = select(transfers.c.request_id).where(runnable).order_by(transfers.c.next_attempt_at).limit(limit)
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    ids = [int(r[0]) for r in conn.execute(pick)]
    if not ids:
        return []
    stmt = (
        update(transfers)
        .where(transfers.c.request_id.in_(ids), runnable)
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


def did_type_of(conn: Connection, did: DID) -> str | None:
    """'dataset' / 'container' for a stored DID, 'file' for a registered file, None if unknown."""
    kind = select(dids.c.did_type).where(dids.c.scope == did.scope, dids.c.name == did.name)
    row = conn.execute(kind).first()
    if row is not None:
        return str(row[0])
    found = conn.execute(select(files.c.lfn).where(files.c.scope == did.scope, files.c.lfn == did.name))
    return None if found.first() is None else "file"

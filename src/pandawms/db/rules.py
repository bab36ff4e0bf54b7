"""Replication rules repository: rules and what they cover (a file, a dataset's files, a container's
datasets' files), found through the catalog's contents.

The status writers (insert_rule, write_rule_status) are called only by services/lifecycle_data.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from pandawms.core.data import DID, FileDID
from pandawms.core.states import RuleStatus
from pandawms.core.transfers import RuleCounters, RuleRecord
from pandawms.db.bulk import member, scope_groups
from pandawms.db.schema import contents, dids, files, rules


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


def did_type_of(conn: Connection, did: DID) -> str | None:
    """'dataset' / 'container' for a stored DID, 'file' for a registered file, None if unknown."""
    kind = select(dids.c.did_type).where(dids.c.scope == did.scope, dids.c.name == did.name)
    row = conn.execute(kind).first()
    if row is not None:
        return str(row[0])
    found = conn.execute(select(files.c.lfn).where(files.c.scope == did.scope, files.c.lfn == did.name))
    return None if found.first() is None else "file"

"""Catalog repository: scopes, datasets/containers (dids), their contents and file rows.

Bulk look-ups and inserts go through db/bulk.py (a few statements per 10k-file call); keyset pages order
by the key.
The status writers (insert_dids, write_did_status) are called only by services/lifecycle_data.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, delete, func, insert, literal, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from pandawms.core.data import DID, ContentRow, DIDRecord, DIDType, FileDID
from pandawms.core.states import DatasetStatus
from pandawms.db.bulk import insert_rows, member, scope_groups, value_groups
from pandawms.db.schema import contents, dids, files, scopes


def _record(row: Any) -> DIDRecord:
    return DIDRecord(
        DID(row.scope, row.name),
        DIDType(row.did_type),
        DatasetStatus(row.status),
        row.created_at,
        row.modification_time,
    )


def _file(row: Any, scope: str, name: str) -> FileDID:
    return FileDID(DID(scope, name), row.guid, row.bytes, row.adler32, row.events)


# -- scopes ----------------------------------------------------------------------------------------


def insert_scope(conn: Connection, scope: str, account: str, now: datetime) -> bool:
    """False when the scope exists already (then nothing is written); two concurrent adds of one new
    scope both succeed (ON CONFLICT DO NOTHING), one of them creating it."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(scopes).values(scope=scope, account=account, created_at=now)
    stmt = stmt.on_conflict_do_nothing(index_elements=[scopes.c.scope]).returning(scopes.c.scope)
    return conn.execute(stmt).first() is not None


def known_scopes(conn: Connection, names: Iterable[str]) -> set[str]:
    return {
        r.scope
        for part in value_groups(conn, names)
        for r in conn.execute(select(scopes.c.scope).where(member(conn, scopes.c.scope, part)))
    }


def scope_account(conn: Connection, scope: str) -> str | None:
    """A scope's owner (None: no such scope)."""
    row = conn.execute(select(scopes.c.account).where(scopes.c.scope == scope)).first()
    return None if row is None else str(row.account)


def list_scopes(conn: Connection) -> list[tuple[str, str]]:
    rows = conn.execute(select(scopes.c.scope, scopes.c.account).order_by(scopes.c.scope))
    return [(r.scope, r.account) for r in rows]


# -- datasets and containers -------------------------------------------------------------------------


def get_dids(conn: Connection, wanted: Iterable[DID], *, lock: bool = False) -> dict[DID, DIDRecord]:
    """The stored datasets/containers among ``wanted`` (``lock``: FOR UPDATE on PostgreSQL)."""
    out: dict[DID, DIDRecord] = {}
    for scope, names in scope_groups(conn, wanted):
        stmt = select(dids).where(dids.c.scope == scope, member(conn, dids.c.name, names))
        for row in conn.execute(stmt.with_for_update() if lock else stmt):
            rec = _record(row)
            out[rec.did] = rec
    return out


def get_did(conn: Connection, did: DID, *, lock: bool = False) -> DIDRecord | None:
    return get_dids(conn, [did], lock=lock).get(did)


def insert_dids(conn: Connection, new: Sequence[tuple[DID, DIDType]], now: datetime) -> None:
    """New datasets/containers start open (status writer: services/lifecycle_data.py only)."""
    rows = [
        {
            "scope": d.scope,
            "name": d.name,
            "did_type": t.value,
            "status": DatasetStatus.OPEN.value,
            "created_at": now,
            "modification_time": now,
        }
        for d, t in new
    ]
    if rows:
        insert_rows(conn, insert(dids), rows)


def write_did_status(
    conn: Connection, did: DID, current: DatasetStatus, target: DatasetStatus, now: datetime
) -> bool:
    """Compare-and-set of one DID's status (status writer: services/lifecycle_data.py only)."""
    stmt = (
        update(dids)
        .where(dids.c.scope == did.scope, dids.c.name == did.name, dids.c.status == current.value)
        .values(status=target.value, modification_time=now)
    )
    return conn.execute(stmt).rowcount == 1


def delete_did(conn: Connection, did: DID) -> None:
    """Remove a dataset/container row and its attachments to parents (the caller checked it is empty)."""
    conn.execute(
        delete(contents).where(contents.c.child_scope == did.scope, contents.c.child_name == did.name)
    )
    conn.execute(delete(dids).where(dids.c.scope == did.scope, dids.c.name == did.name))


def list_dids(
    conn: Connection, scope: str, did_type: DIDType | None, after: str | None, limit: int
) -> list[DIDRecord]:
    """Keyset page of a scope's datasets/containers by name."""
    stmt = select(dids).where(dids.c.scope == scope)
    if did_type is not None:
        stmt = stmt.where(dids.c.did_type == did_type.value)
    if after is not None:
        stmt = stmt.where(dids.c.name > after)
    return [_record(r) for r in conn.execute(stmt.order_by(dids.c.name).limit(limit))]


def parents(conn: Connection, child: DID) -> list[DIDRecord]:
    stmt = (
        select(dids)
        .join(contents, and_(contents.c.scope == dids.c.scope, contents.c.name == dids.c.name))
        .where(contents.c.child_scope == child.scope, contents.c.child_name == child.name)
        .order_by(dids.c.scope, dids.c.name)
    )
    return [_record(r) for r in conn.execute(stmt)]


# -- files -------------------------------------------------------------------------------------------


def get_files(conn: Connection, wanted: Iterable[DID]) -> dict[DID, FileDID]:
    out: dict[DID, FileDID] = {}
    for scope, names in scope_groups(conn, wanted):
        for row in conn.execute(
            select(files).where(files.c.scope == scope, member(conn, files.c.lfn, names))
        ):
            f = _file(row, row.scope, row.lfn)
            out[f.did] = f
    return out


def dids_of_guids(conn: Connection, guids: Iterable[str]) -> dict[str, DID]:
    stmt = select(files.c.guid, files.c.scope, files.c.lfn)
    return {
        r.guid: DID(r.scope, r.lfn)
        for part in value_groups(conn, guids)
        for r in conn.execute(stmt.where(member(conn, files.c.guid, part)))
    }


def insert_files(conn: Connection, new: Sequence[FileDID], now: datetime) -> None:
    rows = [
        {
            "scope": f.did.scope,
            "lfn": f.did.name,
            "guid": f.guid,
            "bytes": f.bytes,
            "adler32": f.adler32,
            "events": f.events,
            "created_at": now,
        }
        for f in new
    ]
    if rows:
        insert_rows(conn, insert(files), rows)


# -- contents ----------------------------------------------------------------------------------------


def _children(parent: DID) -> Any:
    return and_(contents.c.scope == parent.scope, contents.c.name == parent.name)


def attached(conn: Connection, parent: DID, children: Iterable[DID]) -> set[DID]:
    """The ``children`` already attached to ``parent``."""
    out: set[DID] = set()
    for scope, names in scope_groups(conn, children):
        stmt = select(contents.c.child_scope, contents.c.child_name).where(
            _children(parent), contents.c.child_scope == scope, member(conn, contents.c.child_name, names)
        )
        out.update(DID(r.child_scope, r.child_name) for r in conn.execute(stmt))
    return out


def attach(conn: Connection, parent: DID, children: Sequence[tuple[DID, DIDType]], now: datetime) -> None:
    rows = [
        {
            "scope": parent.scope,
            "name": parent.name,
            "child_scope": c.scope,
            "child_name": c.name,
            "child_type": t.value,
            "created_at": now,
        }
        for c, t in children
    ]
    if rows:
        insert_rows(conn, insert(contents), rows)


def detach(conn: Connection, parent: DID, children: Sequence[DID]) -> int:
    removed = 0
    for scope, names in scope_groups(conn, children):
        stmt = delete(contents).where(
            _children(parent), contents.c.child_scope == scope, member(conn, contents.c.child_name, names)
        )
        removed += conn.execute(stmt).rowcount
    return removed


def count_contents(conn: Connection, parent: DID) -> tuple[int, int]:
    """(children, bytes of the file children)."""
    stmt = (
        select(func.count(), func.coalesce(func.sum(files.c.bytes), 0))
        .select_from(contents)
        .outerjoin(files, and_(files.c.scope == contents.c.child_scope, files.c.lfn == contents.c.child_name))
        .where(_children(parent))
    )
    row = conn.execute(stmt).one()
    return int(row[0]), int(row[1])


def contents_page(parent: DID, after: DID | None, limit: int) -> Select[Any]:
    """The keyset page statement: one range of the contents key, children in (scope, name) order."""
    stmt = (
        select(contents.c.child_scope, contents.c.child_name, contents.c.child_type, files)
        .outerjoin(files, and_(files.c.scope == contents.c.child_scope, files.c.lfn == contents.c.child_name))
        .where(_children(parent))
    )
    if after is not None:
        child = tuple_(contents.c.child_scope, contents.c.child_name)
        stmt = stmt.where(child > tuple_(literal(after.scope), literal(after.name)))
    return stmt.order_by(contents.c.child_scope, contents.c.child_name).limit(limit)


def list_contents(conn: Connection, parent: DID, after: DID | None, limit: int) -> list[ContentRow]:
    """Keyset page of a dataset's/container's children in (scope, name) order, with file metadata."""
    stmt = contents_page(parent, after, limit)
    out = []
    for r in conn.execute(stmt):
        kind = DIDType(r.child_type)
        file = _file(r, r.child_scope, r.child_name) if kind is DIDType.FILE else None
        out.append(ContentRow(DID(r.child_scope, r.child_name), kind, file))
    return out


_SUB_SUFFIX = re.compile(r"_sub(\d+)$")


@dataclass(frozen=True, slots=True)
class SubPage:
    examined: int  # open datasets read (the page size unless it is the last page)
    last: DID | None  # the key of the last one read (the next page's cursor)
    blocks: list[tuple[DID, int]]  # those named ``..._sub<PandaID>``, with the PandaID


def open_sub_blocks(conn: Connection, after: DID | None, limit: int) -> SubPage:
    """A keyset page (by key) of open datasets named like a job's ``_sub`` block, with that PandaID."""
    stmt = select(dids.c.scope, dids.c.name).where(
        dids.c.status == DatasetStatus.OPEN.value,
        dids.c.did_type == DIDType.DATASET.value,
        dids.c.name.like("%\\_sub%", escape="\\"),
    )
    if after is not None:
        key = tuple_(dids.c.scope, dids.c.name)
        stmt = stmt.where(key > tuple_(literal(after.scope), literal(after.name)))
    rows = [
        DID(scope, name)
        for scope, name in conn.execute(stmt.order_by(dids.c.scope, dids.c.name).limit(limit))
    ]
    found = [(d, _SUB_SUFFIX.search(d.name)) for d in rows]
    blocks = [(d, int(m.group(1))) for d, m in found if m]
    return SubPage(len(rows), rows[-1] if rows else None, blocks)

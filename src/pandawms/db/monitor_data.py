"""Monitor reads for the data pages: datasets and containers, their files, replicas per RSE, the jobs that
read or wrote a dataset, and RSEs with their replica counts (read-only).

Every listing is a keyset page on a key (dids by (scope, name), contents by (child_scope, child_name));
per-page facts are grouped queries over the shown page only, so a page costs O(page) rows whatever the
catalog size. The jobs of a dataset are found on ``job_files.dataset`` (``ix_job_files_dataset``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from pandawms.core.data import DID, DIDRecord, DIDType
from pandawms.core.states import DatasetStatus
from pandawms.core.transfers import TransferRecord
from pandawms.db.bulk import member, scope_groups
from pandawms.db.catalog import _record
from pandawms.db.schema import contents, dids, files, job_files, jobs, queues, replicas, transfers
from pandawms.db.transfers import _transfer as transfer_record


@dataclass(frozen=True, slots=True)
class DIDFilter:
    """Which datasets/containers a listing shows; ``name`` is a LIKE pattern (already escaped)."""

    scope: str | None = None
    name: str | None = None
    states: tuple[DatasetStatus, ...] = ()
    types: tuple[DIDType, ...] = ()


@dataclass(frozen=True, slots=True)
class Volume:
    """Files and bytes of a dataset (of a container: of its datasets)."""

    children: int
    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class ReplicaCount:
    """Replicas of one status at one RSE: how many and their bytes."""

    rse: str
    status: str
    count: int
    bytes: int


@dataclass(frozen=True, slots=True)
class DatasetJob:
    """A job that read (input) or wrote (output, log) files of a dataset."""

    panda_id: int
    job_status: str
    computing_site: str | None
    prod_user_name: str
    modification_time: datetime
    types: tuple[str, ...]
    files: int


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def list_dids(conn: Connection, flt: DIDFilter, after: DID | None, limit: int) -> list[DIDRecord]:
    """A keyset page of datasets/containers in (scope, name) order after ``after``."""
    stmt = select(dids)
    if flt.scope is not None:
        stmt = stmt.where(dids.c.scope == flt.scope)
    if flt.name is not None:
        name = dids.c.name.like(_like(flt.name), escape="\\") if "*" in flt.name else dids.c.name == flt.name
        stmt = stmt.where(name)
    if flt.states:
        stmt = stmt.where(dids.c.status.in_([s.value for s in flt.states]))
    if flt.types:
        stmt = stmt.where(dids.c.did_type.in_([t.value for t in flt.types]))
    if after is not None:
        stmt = stmt.where(
            tuple_(dids.c.scope, dids.c.name) > tuple_(literal(after.scope), literal(after.name))
        )
    stmt = stmt.order_by(dids.c.scope, dids.c.name).limit(limit)
    return [_record(r) for r in conn.execute(stmt)]


def _per_scope(
    conn: Connection, stmt: Select[Any], col_scope: Any, col_name: Any, wanted: Sequence[DID]
) -> list[Any]:
    """The rows of ``stmt`` for the parents ``wanted``: one statement per scope with ``scope = :s AND name
    IN (...)``, so each parent is one range of the key (a row-value IN is a full scan on SQLite)."""
    rows: list[Any] = []
    for scope, names in scope_groups(conn, wanted):
        rows += conn.execute(stmt.where(col_scope == scope, member(conn, col_name, names))).all()
    return rows


def volumes(conn: Connection, records: Sequence[DIDRecord]) -> dict[DID, Volume]:
    """Children, files and bytes of each dataset/container of a page (two grouped queries)."""
    if not records:
        return {}
    wanted = [r.did for r in records]
    c = contents.c
    direct = (
        select(c.scope, c.name, func.count(), func.coalesce(func.sum(files.c.bytes), 0))
        .select_from(contents)
        .outerjoin(files, and_(files.c.scope == c.child_scope, files.c.lfn == c.child_name))
        .group_by(c.scope, c.name)
    )
    out = {d: Volume(0, 0, 0) for d in wanted}
    kinds = {r.did: r.did_type for r in records}
    for scope, name, n, size in _per_scope(conn, direct, c.scope, c.name, wanted):
        did = DID(scope, name)
        is_dataset = kinds[did] is DIDType.DATASET
        out[did] = Volume(int(n), int(n) if is_dataset else 0, int(size) if is_dataset else 0)
    boxes = [r.did for r in records if r.did_type is DIDType.CONTAINER]
    if boxes:
        inner = contents.alias("inner_contents")
        nested = (
            select(c.scope, c.name, func.count(), func.coalesce(func.sum(files.c.bytes), 0))
            .select_from(contents)
            .join(inner, and_(inner.c.scope == c.child_scope, inner.c.name == c.child_name))
            .join(files, and_(files.c.scope == inner.c.child_scope, files.c.lfn == inner.c.child_name))
            .group_by(c.scope, c.name)
        )
        for scope, name, n, size in _per_scope(conn, nested, c.scope, c.name, boxes):
            did = DID(scope, name)
            out[did] = Volume(out[did].children, int(n), int(size))
    return out


def available_by_rse(conn: Connection, datasets: Sequence[DID]) -> dict[DID, dict[str, int]]:
    """{dataset: {rse: available files}} for the datasets of a page: the contents key joined to the
    replicas key, no file rows read."""
    if not datasets:
        return {}
    c, r = contents.c, replicas.c
    stmt = (
        select(c.scope, c.name, r.rse, func.count())
        .select_from(contents)
        .join(replicas, and_(r.scope == c.child_scope, r.lfn == c.child_name))
        .where(r.status == "available")
        .group_by(c.scope, c.name, r.rse)
    )
    out: dict[DID, dict[str, int]] = {}
    for scope, name, rse, n in _per_scope(conn, stmt, c.scope, c.name, datasets):
        out.setdefault(DID(scope, name), {})[str(rse)] = int(n)
    return out


def dataset_replicas(conn: Connection, dataset: DID) -> list[ReplicaCount]:
    """Replicas of a dataset's files per (RSE, status), with their bytes."""
    c, r = contents.c, replicas.c
    stmt = (
        select(r.rse, r.status, func.count(), func.coalesce(func.sum(files.c.bytes), 0))
        .select_from(contents)
        .join(replicas, and_(r.scope == c.child_scope, r.lfn == c.child_name))
        .join(files, and_(files.c.scope == c.child_scope, files.c.lfn == c.child_name))
        .where(c.scope == dataset.scope, c.name == dataset.name)
        .group_by(r.rse, r.status)
        .order_by(r.rse, r.status)
    )
    return [ReplicaCount(str(rse), str(st), int(n), int(b)) for rse, st, n, b in conn.execute(stmt)]


def dataset_files(dataset: DID) -> list[ColumnElement[bool]]:
    """job_files rows of ``dataset``: ``dataset IN (scope:name, name)`` is a range of ix_job_files_dataset
    (two keys); the scope check of a bare name only filters the rows found there."""
    f = job_files.c
    full, bare = str(dataset), dataset.name
    return [f.dataset.in_((full, bare)), or_(f.dataset == full, f.scope == dataset.scope)]


def dataset_jobs(conn: Connection, dataset: DID, limit: int) -> tuple[list[DatasetJob], int]:
    """The newest ``limit`` jobs with files in ``dataset`` (written ``scope:name``, or the bare name with
    the file's scope) and how many jobs there are in all (``dataset_files``)."""
    f = job_files.c
    where = dataset_files(dataset)
    total = conn.execute(select(func.count(func.distinct(f.panda_id))).where(*where)).scalar_one()
    per_job = (
        select(f.panda_id, f.type, func.count().label("n"))
        .where(*where)
        .group_by(f.panda_id, f.type)
        .subquery()
    )
    newest = select(per_job.c.panda_id).group_by(per_job.c.panda_id).order_by(per_job.c.panda_id.desc())
    ids = [int(p) for (p,) in conn.execute(newest.limit(limit))]
    if not ids:
        return [], int(total)
    kinds: dict[int, dict[str, int]] = {}
    for pid, kind, n in conn.execute(select(per_job).where(per_job.c.panda_id.in_(ids))):
        kinds.setdefault(int(pid), {})[str(kind)] = int(n)
    j = jobs.c
    cols = (j.panda_id, j.job_status, j.computing_site, j.prod_user_name, j.modification_time)
    rows = {int(r[0]): r for r in conn.execute(select(*cols).where(j.panda_id.in_(ids)))}
    out = [
        DatasetJob(
            pid,
            str(rows[pid][1]),
            rows[pid][2],
            str(rows[pid][3]),
            rows[pid][4],
            tuple(sorted(kinds[pid])),
            sum(kinds[pid].values()),
        )
        for pid in ids
        if pid in rows
    ]
    return out, int(total)


def replica_counts_stmt(rse: str | None = None) -> Select[Any]:
    """Replicas per (RSE, status): an index-only scan of ix_replicas_rse_status."""
    r = replicas.c
    stmt = select(r.rse, r.status, func.count()).group_by(r.rse, r.status).order_by(r.rse, r.status)
    return stmt.where(r.rse == rse) if rse is not None else stmt


def replica_counts(conn: Connection, rse: str | None = None) -> list[ReplicaCount]:
    """Replicas per (RSE, status) (counts only: summing bytes would read every file row)."""
    rows = conn.execute(replica_counts_stmt(rse))
    return [ReplicaCount(str(name), str(st), int(n), 0) for name, st, n in rows]


def queues_of_rse(conn: Connection, rse: str) -> list[tuple[str, str, str]]:
    """(queue, 'input'|'output'|'input+output', queue status) of the queues that read or write ``rse``."""
    q = queues.c
    stmt = select(q.name, q.ddm_input, q.ddm_output, q.status).where(
        or_(q.ddm_input == rse, q.ddm_output == rse)
    )
    out = []
    for name, ddm_in, ddm_out, status in conn.execute(stmt.order_by(q.name)):
        use = "+".join(u for u, hit in (("input", ddm_in == rse), ("output", ddm_out == rse)) if hit)
        out.append((str(name), use, str(status)))
    return out


def transfers_of_files(conn: Connection, wanted: Sequence[DID], limit: int) -> list[TransferRecord]:
    """The newest ``limit`` transfer requests of the given files (any destination), newest first; each
    file is a prefix range of ix_transfers_file_dest (scope, lfn, dest_rse)."""
    keys = sorted(set(wanted))
    if not keys:
        return []
    t = transfers.c
    stmt = (
        select(transfers)
        .where(tuple_(t.scope, t.lfn).in_([(d.scope, d.name) for d in keys]))
        .order_by(t.request_id.desc())
        .limit(limit)
    )
    return [transfer_record(r) for r in conn.execute(stmt)]

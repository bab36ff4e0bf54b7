"""The catalog side of feeding (services/feeder.py): keyset pages of an input dataset's catalog files minus
those already fed into the task, and the tasks whose inputs are still growing. Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, tuple_

from pandawms.core.data import DID
from pandawms.db.schema import contents, files, task_datasets, task_files, tasks

tf = task_files


@dataclass(frozen=True, slots=True)
class CatalogFile:
    """A file of an input dataset as the catalog lists it."""

    scope: str
    lfn: str
    guid: str
    fsize: int
    adler32: str
    events: int | None


_CATALOG = (
    select(files.c.scope, files.c.lfn, files.c.guid, files.c.bytes, files.c.adler32, files.c.events)
    .select_from(contents)
    .join(files, and_(files.c.scope == contents.c.child_scope, files.c.lfn == contents.c.child_name))
    .where(contents.c.scope == bindparam("b_scope"), contents.c.name == bindparam("b_name"))
)
_KEY = (contents.c.child_scope, contents.c.child_name)
_CATALOG_FIRST = _CATALOG.order_by(*_KEY).limit(bindparam("b_limit"))
_CATALOG_AFTER = (
    _CATALOG.where(tuple_(*_KEY) > tuple_(bindparam("b_after_scope"), bindparam("b_after_name")))
    .order_by(*_KEY)
    .limit(bindparam("b_limit"))
)
_FED_RANGE = select(tf.c.scope, tf.c.lfn).where(
    tf.c.dataset_id == bindparam("b_ds"),
    tf.c.chunk == 0,
    tuple_(tf.c.scope, tf.c.lfn) >= tuple_(bindparam("b_first_scope"), bindparam("b_first_name")),
    tuple_(tf.c.scope, tf.c.lfn) <= tuple_(bindparam("b_last_scope"), bindparam("b_last_name")),
)


@dataclass(frozen=True, slots=True)
class CatalogPage:
    """One keyset page of a catalog dataset's files: those not fed yet, how many were read, the last key."""

    unfed: list[CatalogFile]
    read: int
    last: tuple[str, str] | None


def unfed_catalog_files(
    conn: Connection, dataset: DID, dataset_id: int, after: tuple[str, str] | None, limit: int
) -> CatalogPage:
    """The next ``limit`` files of a catalog dataset in (scope, lfn) order after ``after`` (a range of
    the contents key) minus those already fed (one range of ux_task_files_file), so a re-feed of a grown
    (mutable) dataset adds only its new files. Two range scans rather than an anti-join: PostgreSQL
    planned the anti-join on a freshly filled task_files (no statistics yet) as a scan per probe."""
    params: dict[str, Any] = {"b_scope": dataset.scope, "b_name": dataset.name, "b_limit": limit}
    stmt = _CATALOG_FIRST
    if after is not None:
        stmt = _CATALOG_AFTER
        params |= {"b_after_scope": after[0], "b_after_name": after[1]}
    page = [CatalogFile(r[0], r[1], r[2], int(r[3]), r[4], r[5]) for r in conn.execute(stmt, params)]
    if not page:
        return CatalogPage([], 0, after)
    bounds = {
        "b_ds": dataset_id,
        "b_first_scope": page[0].scope,
        "b_first_name": page[0].lfn,
        "b_last_scope": page[-1].scope,
        "b_last_name": page[-1].lfn,
    }
    fed = {(r[0], r[1]) for r in conn.execute(_FED_RANGE, bounds)}
    unfed = [f for f in page if (f.scope, f.lfn) not in fed]
    return CatalogPage(unfed, len(page), (page[-1].scope, page[-1].lfn))


def tasks_with_mutable_inputs(conn: Connection, statuses: Sequence[str], limit: int) -> list[int]:
    """Tasks in ``statuses`` with an input dataset still mutable (a parent produces it), by id."""
    td = task_datasets
    stmt = (
        select(td.c.task_id)
        .join(tasks, tasks.c.task_id == td.c.task_id)
        .where(td.c.mutable == True, td.c.type.in_(["input", "pseudo_input"]))  # noqa: E712
        .where(tasks.c.status.in_(list(statuses)))
        .group_by(td.c.task_id)
        .order_by(td.c.task_id)
        .limit(limit)
    )
    return [int(r[0]) for r in conn.execute(stmt)]

"""Bulk statements for the catalog: many keys or rows in few statements on both back ends.

Look-ups go per scope with ``name = ANY(:array)`` on PostgreSQL (one parameter however many names) and
``name IN (...)`` in chunks of CHUNK on SQLite (its bound-parameter limit). Inserts of many rows are one
``INSERT ... SELECT unnest(:col1), unnest(:col2), ...`` on PostgreSQL (one round trip instead of one per
row) and executemany on SQLite. The caller builds ``insert(table)``, so the status guard sees the table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from pandawms.core.data import DID
from pandawms.core.errors import Transient

CHUNK = 900
PG_CHUNK = 10_000


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def member(conn: Connection, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column`` is one of ``values`` (strings), in the dialect's cheapest form."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


def value_groups(conn: Connection, values: Iterable[str]) -> Iterator[list[str]]:
    size = PG_CHUNK if conn.dialect.name == "postgresql" else CHUNK
    for part in chunks(sorted(set(values)), size):
        yield list(part)


def scope_groups(conn: Connection, keys: Iterable[DID]) -> Iterator[tuple[str, list[str]]]:
    """(scope, names) groups of the distinct keys, each small enough for one statement."""
    by_scope: dict[str, list[str]] = defaultdict(list)
    for d in set(keys):
        by_scope[d.scope].append(d.name)
    for scope in sorted(by_scope):
        for names in value_groups(conn, by_scope[scope]):
            yield scope, names


def insert_rows(conn: Connection, stmt: Insert, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) with ``stmt`` = ``insert(table)``.

    A key another transaction inserted meanwhile (two registrations of one new LFN racing on PostgreSQL)
    is Transient: the transaction rolls back and the client's resend finds the row (a no-op if equal).
    """
    if not rows:
        return
    try:
        if conn.dialect.name != "postgresql":
            conn.execute(stmt, list(rows))
            return
        table: Any = stmt.table
        names = list(rows[0])
        arrays = [
            func.unnest(bindparam(f"a_{n}", [r[n] for r in rows], type_=ARRAY(table.c[n].type)))
            for n in names
        ]
        conn.execute(stmt.from_select(names, select(*arrays)))
    except IntegrityError as exc:
        raise Transient(f"{stmt.table}: a row was registered concurrently, retry: {exc.orig}") from exc

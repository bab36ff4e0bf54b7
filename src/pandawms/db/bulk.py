"""Bulk statements for the catalog: many keys or rows in few statements on both back ends.

Look-ups go per scope with ``name = ANY(:array)`` on PostgreSQL (one parameter however many names) and
``name IN (...)`` in chunks of CHUNK on SQLite (its bound-parameter limit). Inserts of many rows are one
``INSERT ... SELECT unnest(:col1), unnest(:col2), ...`` on PostgreSQL (``unnest_insert``: one round trip
instead of one per row; db/lean.py's LeanInsert uses it too) and executemany on SQLite. The caller
builds ``insert(table)``, so the status guard sees the table.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
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


def unnest_insert(
    conn: Connection, stmt: Insert, columns: Sequence[str], values: Sequence[Sequence[Any]]
) -> int:
    """PostgreSQL: ``stmt`` (``insert(table)``, with its ON CONFLICT if any) as one ``INSERT INTO t (cols)
    SELECT unnest(:a_col1::type[]), ...``: ``values[i]`` is the list of column ``columns[i]``'s values.
    One statement and one round trip whatever the row count, its SQL built once per column set (the
    executemany it replaces sent one statement per row, and multi-row VALUES cost more to parse than to
    run). The arrays go in psycopg's binary format (``%b``): its text format quoted every element with
    two regular expressions, most of the statement's client CPU. Returns how many rows were inserted."""
    sql, processors = _unnest_sql(stmt, tuple(columns), conn.dialect)
    params: dict[str, Any] = {}
    for name, column, proc in zip(columns, values, processors, strict=True):
        params[f"a_{name}"] = (
            list(column) if proc is None else [proc(v) if v is not None else v for v in column]
        )
    return int(conn.exec_driver_sql(sql, params).rowcount)


@functools.lru_cache(maxsize=64)
def _unnest_sql(
    stmt: Insert, columns: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[Callable[[Any], Any] | None, ...]]:
    table: Any = stmt.table
    arrays = [func.unnest(bindparam(f"a_{n}", type_=ARRAY(table.c[n].type))) for n in columns]
    compiled = str(stmt.from_select(list(columns), select(*arrays)).compile(dialect=dialect))
    sql = _PLACEHOLDER.sub(r"%(\1)b", compiled)
    processors = tuple(table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in columns)
    return sql, processors


_PLACEHOLDER = re.compile(r"%\((a_\w+)\)s")


def next_ids(conn: Connection, table: str, key: str, n: int) -> list[int]:
    """PostgreSQL: ``n`` new values of the serial ``table.key``'s sequence, ascending (the caller inserts
    them explicitly, so row i gets the i-th: no reliance on the order of RETURNING)."""
    seq = func.nextval(func.pg_get_serial_sequence(table, key))
    stmt = select(seq).select_from(func.generate_series(1, bindparam("b_n")))
    return sorted(int(r[0]) for r in conn.execute(stmt, {"b_n": n}))


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
        names = list(rows[0])
        unnest_insert(conn, stmt, names, [[r[n] for r in rows] for n in names])
    except IntegrityError as exc:
        raise Transient(f"{stmt.table}: a row was registered concurrently, retry: {exc.orig}") from exc

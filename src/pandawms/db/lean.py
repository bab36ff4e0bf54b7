"""Lean bulk INSERTs for the submit and generation paths: SQL text built once, rows sent in bulk.

SQLite: a submission is stored in ~10 ms transactions, and most of each went to SQLAlchemy turning
every row dict into bound parameters (~90 columns a job) rather than to SQLite. Here the caller's
``insert(table)`` (so the status guard sees the table) is run as ``INSERT INTO t (cols) VALUES (?, ...)``
with one tuple per row, only the columns whose type has a bind processor (SQLite's DATETIME text)
converted, with SQLAlchemy's own processors, so rows read back exactly as before.
PostgreSQL: one ``INSERT ... SELECT unnest(:col1), ...`` per batch (db/bulk.unnest_insert), new keys
taken from the sequence first (db/bulk.next_ids): executemany sent one statement per row and the
multi-row VALUES of RETURNING cost more to parse than to run (a 500-job bunch: 0.75 s -> ~0.05 s).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from pandawms.db.bulk import next_ids, unnest_insert

SQLITE_MAX_VARIABLES = 32_766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32
# Single rows (a transition's history row on the dispatch path) keep SQLAlchemy's cached statement: the
# lean path pays off on batches, and the pilot calls' code stays as measured before.
MIN_LEAN_ROWS = 2


@dataclass(frozen=True, slots=True)
class _Prepared:
    columns: tuple[str, ...]
    sql: str  # one row
    group: str  # "(?, ?, ...)": one row of a multi-row VALUES
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    get: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # operator.itemgetter of the columns

    def params(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            if len(row) != len(self.columns):
                raise KeyError
            values = self.get(row)
        except KeyError:
            raise ValueError(f"row has columns {sorted(row)}, expected {sorted(self.columns)}") from None
        return self.convert(values) if self.processors else values

    def convert(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The values with the columns' bind processors applied (SQLite's DATETIME text)."""
        out = list(values)
        for i, proc in self.processors:
            if out[i] is not None:
                out[i] = proc(out[i])
        return tuple(out)


def _columns(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[list[Any]]:
    """The rows as one list per column (unnest's arrays); every row must carry exactly ``names``."""
    n = len(names)
    if any(len(r) != n for r in rows):
        raise ValueError(f"rows do not all have the columns {sorted(names)}")
    try:
        return [[r[c] for r in rows] for c in names]
    except KeyError as exc:
        raise ValueError(f"a row lacks column {exc}, expected {sorted(names)}") from None


class LeanInsert:
    """``insert(table)`` for rows that all carry the same keys (those of the first row)."""

    def __init__(
        self,
        stmt: Insert,
        key: str | None = None,
        max_variables: int = SQLITE_MAX_VARIABLES,
        *,
        or_ignore: bool = False,
    ) -> None:
        """``key``: the integer primary key ``insert_returning`` gives back; ``max_variables``: bound
        parameters per multi-row statement; ``or_ignore``: SQLite's ``INSERT OR IGNORE`` (rows with a
        key already there are skipped; ``stmt`` says the same for other dialects, e.g. PostgreSQL's
        ``on_conflict_do_nothing``)."""
        self.stmt = stmt
        self.or_ignore = or_ignore
        self.max_variables = max_variables
        self.key = key
        self._returning = stmt.returning(stmt.table.c[key], sort_by_parameter_order=True) if key else None
        self._prepared: dict[tuple[str, ...], _Prepared] = {}

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert ``rows`` (executemany); returns how many were inserted."""
        if not rows:
            return 0
        if len(rows) >= MIN_LEAN_ROWS and conn.dialect.name == "postgresql":
            names = tuple(rows[0])
            return unnest_insert(conn, self.stmt, names, _columns(rows, names))
        if conn.dialect.name != "sqlite" or len(rows) < MIN_LEAN_ROWS:
            return int(conn.execute(self.stmt, list(rows)).rowcount)
        prep = self._prepare(conn.dialect, tuple(rows[0]))
        return int(conn.exec_driver_sql(prep.sql, [prep.params(r) for r in rows]).rowcount)

    def execute_values(self, conn: Connection, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Insert ``rows`` given as value tuples in the order of ``columns`` (no dict per row: the
        generator's output rows); returns how many were inserted."""
        if not rows:
            return 0
        if any(len(r) != len(columns) for r in rows):
            raise ValueError(f"rows do not all have {len(columns)} values ({', '.join(columns)})")
        if conn.dialect.name == "postgresql":
            return unnest_insert(conn, self.stmt, columns, [list(c) for c in zip(*rows, strict=True)])
        if conn.dialect.name != "sqlite":
            return self.execute(conn, [dict(zip(columns, r, strict=True)) for r in rows])
        prep = self._prepare(conn.dialect, tuple(columns))
        if prep.processors:
            rows = [prep.convert(r) for r in rows]
        return int(conn.exec_driver_sql(prep.sql, list(rows)).rowcount)

    def insert_returning(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert ``rows`` and return their new primary keys (``key``) in row order.

        SQLite: multi-row ``VALUES ... RETURNING key``. A new rowid is one more than the largest, so the
        keys of one statement ascend in row order (sorted, since RETURNING's order is unspecified).
        PostgreSQL: the keys are taken from the key's sequence first and inserted with the rows.
        """
        if self._returning is None or self.key is None:
            raise TypeError("insert_returning needs the LeanInsert's key")
        if not rows:
            return []
        if len(rows) >= MIN_LEAN_ROWS and conn.dialect.name == "postgresql":
            names = tuple(rows[0])
            if self.key in names:
                raise ValueError(f"rows carry the key {self.key!r} insert_returning assigns")
            ids = next_ids(conn, self.stmt.table.name, self.key, len(rows))
            unnest_insert(conn, self.stmt, (self.key, *names), [ids, *_columns(rows, names)])
            return ids
        if conn.dialect.name != "sqlite" or len(rows) < MIN_LEAN_ROWS:
            return [int(r[0]) for r in conn.execute(self._returning, list(rows))]
        prep = self._prepare(conn.dialect, tuple(rows[0]))
        per_statement = max(1, self.max_variables // len(prep.columns))
        out: list[int] = []
        for start in range(0, len(rows), per_statement):
            part = rows[start : start + per_statement]
            sql = f"{prep.sql.partition(' VALUES ')[0]} VALUES {', '.join([prep.group] * len(part))}"
            flat = [v for r in part for v in prep.params(r)]
            keys = sorted(int(r[0]) for r in conn.exec_driver_sql(f"{sql} RETURNING {self.key}", tuple(flat)))
            out.extend(keys)
        return out

    def _prepare(self, dialect: Dialect, columns: tuple[str, ...]) -> _Prepared:
        prep = self._prepared.get(columns)
        if prep is None:
            table = self.stmt.table
            cols = [table.c[c] for c in columns]  # KeyError names an unknown column
            impls = [c.type.dialect_impl(dialect) for c in cols]  # e.g. SQLite's DATETIME for DateTime
            # cached: a batch's rows share their datetimes (``now``), converted once
            processors = tuple(
                (i, _memo(proc))
                for i, t in enumerate(impls)
                if (proc := t.bind_processor(dialect)) is not None
            )
            group = f"({', '.join('?' for _ in cols)})"
            names = ", ".join(dialect.identifier_preparer.quote(c.name) for c in cols)
            target = dialect.identifier_preparer.format_table(table)
            verb = "INSERT OR IGNORE INTO" if self.or_ignore else "INSERT INTO"
            sql = f"{verb} {target} ({names}) VALUES {group}"
            get = operator.itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
            prep = _Prepared(columns, sql, group, processors, get)
            self._prepared[columns] = prep
        return prep


def _memo(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``proc`` remembering its last results for hashable values (unhashable ones are converted each time)."""
    cached = functools.lru_cache(maxsize=256)(proc)

    def run(value: Any) -> Any:
        try:
            return cached(value)
        except TypeError:  # unhashable (a JSON value); a conversion error raises again below
            return proc(value)

    return run

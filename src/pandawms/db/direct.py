"""Hot statements run on the DBAPI cursor: a Core statement compiled once per dialect (and list length).

On the dispatch path SQLAlchemy's execution machinery (execution context, parameter processing, result
wrapping) cost more CPU per one-row statement than the database's own work (py-spy profile in
docs/benchmarks.md). ``Direct`` keeps the statement as SQLAlchemy Core (so the status guard and readers
see the table and columns), compiles it once per dialect and per length of its expanding (IN) lists,
converts parameters and results with the same type processors SQLAlchemy would use (SQLite's DATETIME
text), and runs it on the connection's DBAPI cursor inside the caller's transaction. Driver errors are
re-raised as SQLAlchemy's (``OperationalError`` etc.), so outages still answer 503.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Convert = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    positional: bool
    names: tuple[str, ...]  # bound names in order (positional) or the dict's keys (named)
    expansion: Mapping[str, Sequence[str]]  # an expanding parameter -> its rendered names
    processors: Mapping[str, Convert]  # rendered name -> bind processor
    defaults: Mapping[str, Any]  # the statement's own values (literals such as job_status = 'sent')
    results: tuple[tuple[int, Convert], ...]  # result column index -> result processor
    returns_rows: bool  # a SELECT or a statement with RETURNING (psycopg's description costs a Column each)

    def parameters(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        flat = {**self.defaults, **params}
        for name, rendered in self.expansion.items():
            values = flat.pop(name)
            flat.update(zip(rendered, values, strict=True))
        for name, proc in self.processors.items():
            value = flat.get(name)
            if value is not None:
                flat[name] = proc(value)
        if self.positional:
            return tuple(flat[n] for n in self.names)
        return {n: flat[n] for n in self.names}

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if not self.results:
            return tuple(raw)
        out = list(raw)
        for i, proc in self.results:
            out[i] = proc(out[i])
        return tuple(out)


class Direct:
    """``stmt`` (a select, update, insert or delete with bindparams) on the DBAPI cursor."""

    def __init__(self, stmt: ClauseElement, expanding: Sequence[str] = ()) -> None:
        """``expanding``: the names of its ``bindparam(..., expanding=True)`` lists."""
        self.stmt = stmt
        self.expanding = tuple(expanding)
        self._plans: dict[tuple[str, tuple[int, ...]], _Plan] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
        """Run once; returns the result rows (processed; [] for a statement without rows) and rowcount."""
        dialect = conn.dialect
        plan = self._plan(dialect, params)
        values = plan.parameters(params)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            try:
                cursor.execute(plan.sql, values)
                rows = [plan.row(r) for r in cursor.fetchall()] if plan.returns_rows else []
            except dialect.loaded_dbapi.Error as exc:
                raise DBAPIError.instance(plan.sql, values, exc, dialect.loaded_dbapi.Error) from exc
            return rows, int(cursor.rowcount)
        finally:
            cursor.close()

    def _plan(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        lengths = tuple(len(params[n]) for n in self.expanding)
        key = (dialect.name, lengths)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._compile(dialect, params)
            self._plans[key] = plan
        return plan

    def _compile(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        compiled = self.stmt.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        state = compiled.construct_expanded_state(dict(params))
        processors: dict[str, Convert] = {}
        for bind, name in compiled.bind_names.items():
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is None:
                continue
            for rendered in state.parameter_expansion.get(name, [name]):
                processors[rendered] = proc
        results: list[tuple[int, Convert]] = []
        columns = tuple(getattr(self.stmt, "exported_columns", ()))
        for i, col in enumerate(columns):
            rproc = col.type.dialect_impl(dialect).result_processor(dialect, None)
            if rproc is not None:
                results.append((i, rproc))
        positional = state.positiontup is not None
        names = tuple(state.positiontup) if state.positiontup is not None else tuple(state.parameters)
        expansion = {n: tuple(state.parameter_expansion[n]) for n in self.expanding}
        given = set(params) | {r for n in self.expanding for r in expansion[n]}
        defaults = {k: v for k, v in state.parameters.items() if k not in given}
        return _Plan(
            state.statement, positional, names, expansion, processors, defaults, tuple(results), bool(columns)
        )

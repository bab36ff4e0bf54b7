"""The single-writer guard: which db functions write a status column, and who references them.

Status columns come from the schema: every column named ``status`` or ``*_status``. A db function writes
one when it (or a db function or module-level statement it uses) inserts into its table (a new row has a
status) or updates the table touching it: ``.values(job_status=...)``, a dict key (``{"job_status": ..}``,
``{jobs.c.job_status: ..}``, ``values["status"] = ..``), columns the source does not name (``**fields``,
a dict comprehension, ``update(jobs)`` run with executemany rows), or raw SQL (``UPDATE jobs ...``). A
function refusing a key (``if "job_status" in fields: raise``) is trusted for the columns it and its
callees take from arguments, never for those it names. A write on a table it cannot tell is reported.
References are found through imports (``jobs_db.write_status``, bare ``write_status`` imported from
db.jobs, dotted ``pandawms.db.jobs.write_status``, re-exports between db modules); importing or passing
a writer counts as using it. Not seen: ``getattr``/``importlib`` with computed names.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Python name of each Table in db/schema.py -> (SQL table name, its column names)
Schema = Mapping[str, tuple[str, frozenset[str]]]
Target = tuple[str, str]  # (db module path, function name), e.g. ("db/jobs.py", "write_status")
Imports = dict[str, tuple[str, str | None]]  # local name -> (pandawms module, attribute or None)

_SQL_WRITE = re.compile(r"\b(?:UPDATE|INSERT\s+INTO|REPLACE\s+INTO)\s+[\"`]?(\w+)", re.IGNORECASE)
_VALUES = ("values", "ordered_values")
_STATEMENT_MODULES = {"sqlalchemy", "sa", "postgresql", "sqlite", "mysql", "dialect"}


def is_status_column(name: str) -> bool:
    return name == "status" or name.endswith("_status")


def module_of(rel: str) -> str:
    """``db/jobs.py`` -> ``pandawms.db.jobs``; ``db/__init__.py`` -> ``pandawms.db``."""
    return ".".join(["pandawms", *rel.removesuffix(".py").removesuffix("/__init__").split("/")])


@dataclass
class Writes:
    """Status columns (``table.column``) written by name, and those taken from arguments."""

    named: set[str] = field(default_factory=set)
    dynamic: set[str] = field(default_factory=set)

    def add(self, other: Writes) -> bool:
        before = (len(self.named), len(self.dynamic))
        self.named |= other.named
        self.dynamic |= other.dynamic
        return before != (len(self.named), len(self.dynamic))


@dataclass(frozen=True)
class Analysis:
    writers: dict[Target, frozenset[str]]  # -> the status columns it writes
    problems: list[str]  # writes the guard cannot attribute to a function or a table
    reexports: dict[Target, Target]  # a name a db module imports from another -> where it is defined


def imports_of(tree: ast.Module, modules: Iterable[str]) -> Imports:
    known = set(modules)
    out: Imports = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pandawms"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out[a.asname or a.name] = (sub, None) if sub in known else (node.module, a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("pandawms"):
                    out[a.asname or "pandawms"] = (a.name if a.asname else "pandawms", None)
    return out


def dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def qualify(imports: Imports, parts: list[str]) -> tuple[str, str] | None:
    """(module, name) a name or dotted name refers to, through the module's imports."""
    bound = imports.get(parts[0])
    if bound is None:
        return None
    module, attr = bound
    path = [module] if attr is None else [module, attr]
    full = [*path, *parts[1:]]
    if len(full) < 2:
        return None
    return ".".join(full[:-1]), full[-1]


class _Module:
    """One db module: tables in scope, module-level statements and the writes of each top-level name."""

    def __init__(self, rel: str, source: str, schema: Schema, modules: Iterable[str]) -> None:
        self.rel = rel
        self.schema = schema
        self.by_sql_name = {sql: py for py, (sql, _cols) in schema.items()}
        self.tree = ast.parse(source)
        _mark_docstrings(self.tree)
        self.parents = {c: p for p in ast.walk(self.tree) for c in ast.iter_child_nodes(p)}
        self.imports = imports_of(self.tree, modules)
        self.tables = self._tables_in_scope()
        self.problems: list[str] = []
        self.nodes: dict[str, ast.stmt] = {}  # top-level function or constant -> its statement
        self.functions: set[str] = set()
        self._loads: dict[str, list[list[str]]] = {}
        for stmt in self.tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self.nodes[stmt.name] = stmt
                self.functions.add(stmt.name)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                self.nodes.update({t.id: stmt for t in targets if isinstance(t, ast.Name)})
        self.updates = {  # module-level update statements, for their later .values(...)
            name: {
                t for call in ast.walk(node) if isinstance(call, ast.Call) for t in self._root(call, "update")
            }
            for name, node in self.nodes.items()
        }
        self.own = {name: self._writes_of(node) for name, node in self.nodes.items()}
        for stmt in self.tree.body:
            if stmt not in self.nodes.values() and self._writes_of(stmt) != Writes():
                self.problems.append(f"{rel}:{stmt.lineno} writes a status outside a module-level function")

    def refused(self, name: str) -> set[str]:
        return _refused_keys(self.nodes[name]) if name in self.functions else set()

    def loads(self, name: str) -> list[list[str]]:
        """Names and dotted names the top-level ``name`` uses."""
        if name not in self._loads:
            out: list[list[str]] = []
            for node in ast.walk(self.nodes[name]):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    out.append([node.id])
                elif isinstance(node, ast.Attribute) and (parts := dotted(node)) is not None:
                    out.append(parts)
            self._loads[name] = out
        return self._loads[name]

    # -- which table an expression is ------------------------------------------------------------------

    def _tables_in_scope(self) -> dict[str, str]:
        tables = {py: py for py in self.schema} if self.rel == "db/schema.py" else {}
        for local, (mod, attr) in self.imports.items():
            if mod == "pandawms.db.schema" and attr is not None and attr in self.schema:
                tables[local] = attr
        for _ in range(3):  # aliases of aliases (bd = brokerage_decisions)
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    table = self._table(node.value, tables)
                    if isinstance(node.targets[0], ast.Name) and table is not None:
                        tables[node.targets[0].id] = table
        return tables

    def _table(self, node: ast.expr, tables: Mapping[str, str] | None = None) -> str | None:
        tables = self.tables if tables is None else tables
        if isinstance(node, ast.Name):
            return tables.get(node.id)
        parts = dotted(node)
        if parts is not None and len(parts) > 1:
            where = qualify(self.imports, parts)
            if where is not None and where[0] == "pandawms.db.schema" and where[1] in self.schema:
                return where[1]
        if isinstance(node, ast.Call):  # table("jobs", ...), jobs.alias()
            func = node.func
            arg = node.args[0] if node.args else None
            if isinstance(func, ast.Name) and func.id == "table" and isinstance(arg, ast.Constant):
                return self.by_sql_name.get(str(arg.value))
            if isinstance(func, ast.Attribute) and func.attr == "alias":
                return self._table(func.value, tables)
        return None

    # -- the writes in each top-level name -------------------------------------------------------------

    def _root(self, call: ast.Call, kind: str) -> list[str]:
        """The table of ``kind(T)``, ``dialect.kind(T)`` or ``T.kind()``; [] when ``call`` is not one."""
        func = call.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name != kind:
            return []
        table = self._table(call.args[0]) if call.args else None
        if table is None and isinstance(func, ast.Attribute):
            table = self._table(func.value)
            if table is None and not (
                isinstance(func.value, ast.Name) and func.value.id in _STATEMENT_MODULES
            ):
                return []  # params.update({...}): a dict, not a statement
        if table is None:
            self.problems.append(f"{self.rel}:{call.lineno} {kind}() on a table the guard cannot tell")
            return []
        return [table]

    def _writes_of(self, owner: ast.stmt) -> Writes:
        writes = Writes()
        keys = _named_keys(owner)
        for node in ast.walk(owner):
            if isinstance(node, ast.Call):
                for table in self._root(node, "insert"):
                    writes.named |= self._status_of(table, None)  # a new row has a status
                for table in self._root(node, "update"):
                    writes.named |= self._status_of(table, keys)
                    if self._columns_unknown(node):
                        writes.dynamic |= self._status_of(table, None)
                self._values_on_constant(node, keys, writes)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and not getattr(node, "_docstring", False)
            ):
                for sql_name in _SQL_WRITE.findall(node.value):
                    if sql_name in self.by_sql_name:
                        writes.named |= self._status_of(self.by_sql_name[sql_name], None)
        return writes

    def _values_on_constant(self, call: ast.Call, keys: set[str], writes: Writes) -> None:
        """``_WRITE_STATUS.values(...)`` on a module-level update statement."""
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in _VALUES and isinstance(func.value, ast.Name):
            for table in self.updates.get(func.value.id, set()) if func.value.id in self.nodes else set():
                writes.named |= self._status_of(table, keys)
                if not _literal_values(call):
                    writes.dynamic |= self._status_of(table, None)

    def _columns_unknown(self, root: ast.Call) -> bool:
        """Whether the update chain built on ``root`` may set columns the source does not name.

        No ``.values`` in the chain means the columns come from the execute parameters.
        """
        node: ast.AST = root
        seen = False
        while isinstance(attr := self.parents.get(node), ast.Attribute):
            call = self.parents.get(attr)
            if not isinstance(call, ast.Call) or call.func is not attr:
                break
            if attr.attr in _VALUES:
                seen = True
                if not _literal_values(call):
                    return True
            node = call
        return not seen

    def _status_of(self, table: str, keys: set[str] | None) -> set[str]:
        sql, cols = self.schema[table]
        return {f"{sql}.{c}" for c in cols if is_status_column(c) and (keys is None or c in keys)}


def _mark_docstrings(tree: ast.Module) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                first.value._docstring = True  # type: ignore[attr-defined]


def _named_keys(owner: ast.stmt) -> set[str]:
    """Column names an owner names as keys: dict keys, ``x["col"] = ...``, keywords of ``.values()``."""
    keys: set[str] = set()
    for node in ast.walk(owner):
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    keys.add(key.value)
                elif isinstance(key, ast.Attribute):
                    keys.add(key.attr)  # {jobs.c.job_status: ...}
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                keys.add(node.slice.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in (*_VALUES, "on_conflict_do_update")
        ):
            keys.update(k.arg for k in node.keywords if k.arg)
    return keys


def _literal_values(call: ast.Call) -> bool:
    """Whether a ``.values(...)`` call names every column it sets."""
    if any(k.arg is None for k in call.keywords):
        return False
    return all(isinstance(a, ast.Dict) and None not in a.keys for a in call.args)


def _refused_keys(fn: ast.stmt) -> set[str]:
    """Keys the function refuses before writing: ``if "job_status" in fields: raise ...``."""
    refused: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.If) and any(isinstance(s, ast.Raise) for s in node.body):
            for test in node.test.values if isinstance(node.test, ast.BoolOp) else [node.test]:
                if isinstance(test, ast.Compare) and isinstance(test.left, ast.Constant):
                    refused |= {str(test.left.value)} if isinstance(test.ops[0], ast.In) else set()
    return refused


def analyse_db(db_sources: Mapping[str, str], schema: Schema, not_status: Iterable[str] = ()) -> Analysis:
    """The status writers among the db modules (``{"db/jobs.py": source, ...}``)."""
    by_module = {module_of(rel): rel for rel in db_sources}
    parsed = {rel: _Module(rel, source, schema, by_module) for rel, source in db_sources.items()}
    refused = {(rel, n): m.refused(n) for rel, m in parsed.items() for n in m.nodes}

    def trusted(key: Target, w: Writes) -> Writes:
        return Writes(set(w.named), {c for c in w.dynamic if c.split(".", 1)[1] not in refused[key]})

    effective = {key: trusted(key, parsed[key[0]].own[key[1]]) for key in refused}
    changed = True
    while changed:  # propagate through the names each function uses, until nothing changes
        changed = False
        for key, total in effective.items():
            mod = parsed[key[0]]
            for parts in mod.loads(key[1]):
                target = _resolve(mod, parts, parsed, by_module)
                if target is not None and target != key:
                    changed |= total.add(trusted(key, effective[target]))
    ignored = set(not_status)
    writers = {
        (rel, name): cols
        for (rel, name), w in effective.items()
        if name in parsed[rel].functions and (cols := frozenset(w.named | w.dynamic) - ignored)
    }
    reexports = {
        (rel, local): target
        for rel, mod in parsed.items()
        for local, (module, attr) in mod.imports.items()
        if attr is not None and (target := follow((module, attr), parsed, by_module)) is not None
    }
    problems = sorted({p for mod in parsed.values() for p in mod.problems})
    return Analysis(writers, problems, reexports)


def _resolve(
    mod: _Module, parts: list[str], parsed: Mapping[str, _Module], by_module: Mapping[str, str]
) -> Target | None:
    if len(parts) == 1 and parts[0] in mod.nodes:
        return (mod.rel, parts[0])
    where = qualify(mod.imports, parts)
    return follow(where, parsed, by_module) if where is not None else None


def follow(
    where: tuple[str, str], parsed: Mapping[str, _Module], by_module: Mapping[str, str]
) -> Target | None:
    """The db top-level name ``(module, name)`` is, through re-exports between db modules."""
    module, name = where
    for _ in range(8):
        rel = by_module.get(module)
        if rel is None:
            return None
        mod = parsed[rel]
        if name in mod.nodes:
            return (rel, name)
        bound = mod.imports.get(name)
        if bound is None or bound[1] is None:
            return None
        module, name = bound[0], bound[1]
    return None


def references(rel: str, tree: ast.Module, db_modules: Iterable[str], analysis: Analysis) -> list[str]:
    """``path:line uses db/jobs.py:write_status`` for each reference in a non-db module to a writer."""
    by_module = {module_of(r): r for r in db_modules}
    imports = imports_of(tree, by_module)
    found: list[str] = []
    for node in ast.walk(tree):
        wheres: list[tuple[str, str] | None] = []
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            wheres.append(qualify(imports, [node.id]))
        elif isinstance(node, ast.Attribute) and (parts := dotted(node)) is not None:
            wheres.append(qualify(imports, parts))
        elif isinstance(node, ast.ImportFrom) and node.module:  # importing a writer is using it
            wheres += [(node.module, a.name) for a in node.names]
        found += _writer_uses(rel, node, wheres, by_module, analysis)
    return found


def _writer_uses(
    rel: str,
    node: ast.AST,
    wheres: list[tuple[str, str] | None],
    by_module: Mapping[str, str],
    analysis: Analysis,
) -> list[str]:
    found = []
    for where in wheres:
        rel_of = by_module.get(where[0]) if where is not None else None
        if where is None or rel_of is None:
            continue
        target = analysis.reexports.get((rel_of, where[1]), (rel_of, where[1]))
        if target in analysis.writers:
            found.append(f"{rel}:{getattr(node, 'lineno', 0)} uses {target[0]}:{target[1]}")
    return found

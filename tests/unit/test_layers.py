"""Architecture rules, checked on the source: imports point inward, SQL stays in db/, one status writer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "src" / "pandawms"

# package -> pandawms packages it may import (besides itself)
ALLOWED = {
    "core": set(),
    "protocol": {"core"},
    "db": {"core"},
    "services": {"core", "db", "protocol"},
    "agents": {"core", "db", "services", "protocol", "config"},
    # server: db for engine + migrate only; monitor is mounted by create_app
    "server": {"core", "protocol", "services", "agents", "config", "db", "monitor"},
    "pilot": {"core", "protocol"},
    "factory": {"core", "protocol"},
    "cli": {"core", "protocol", "config", "server", "pilot", "factory", "bench", "monitor"},
    "bench": {"core", "protocol", "config"},
    "monitor": {"core", "protocol", "services", "db", "config"},
    "examples": set(),  # demo payloads: standard library only, they run anywhere a pilot does
}
STATUS_WRITERS = {"claim_activated", "write_status", "insert_jobs", "insert_workers"}


def _modules() -> list[tuple[str, Path, ast.Module]]:
    out = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "db" and "migrations" in rel.parts:
            continue
        out.append((rel.parts[0] if len(rel.parts) > 1 else "", path, ast.parse(path.read_text())))
    return out


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pandawms."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("pandawms."))
    return names


def test_imports_point_inward() -> None:
    bad = []
    for pkg, path, tree in _modules():
        if pkg not in ALLOWED:
            continue
        for imported in _imports(tree) - ALLOWED[pkg] - {pkg, "__init__"}:
            bad.append(f"{path.relative_to(PKG)} imports pandawms.{imported}")
    assert bad == []


def test_sql_only_in_db() -> None:
    bad = []
    for pkg, path, tree in _modules():
        if pkg == "db":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
                used = {a.name for a in node.names} - {"Connection", "text"}
                if used:
                    bad.append(f"{path.relative_to(PKG)}: sqlalchemy {sorted(used)}")
    assert bad == []


def test_only_lifecycle_calls_status_writers() -> None:
    bad = []
    for _pkg, path, tree in _modules():
        rel = str(path.relative_to(PKG))
        if rel in ("services/lifecycle.py", "db/jobs.py", "db/workers.py"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in STATUS_WRITERS:
                bad.append(f"{rel}:{node.lineno} calls {node.attr}")
    assert bad == []


def test_status_column_written_only_by_status_writers() -> None:
    tree = ast.parse((PKG / "db" / "jobs.py").read_text())
    for fn in [n for n in tree.body if isinstance(n, ast.FunctionDef)]:
        src = ast.unparse(fn)
        if re.search(r"job_status=(?!=)", src.replace(" ", "")):
            assert fn.name in STATUS_WRITERS, fn.name

"""Architecture rules, checked on the source: imports point inward, SQL stays in db/, one status writer."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from sqlalchemy import Table

from pandawms.db import schema
from tests.unit import status_guard

PKG = Path(__file__).resolve().parents[2] / "src" / "pandawms"

# package -> pandawms packages it may import (besides itself)
ALLOWED = {
    "core": set(),
    "protocol": {"core"},
    "db": {"core"},
    "services": {"core", "db", "protocol"},
    # agents: ddm for the transfer agent's copies and the replica checks (outside any transaction)
    "agents": {"core", "db", "services", "protocol", "config", "ddm"},
    # server: db for engine + migrate only; monitor is mounted by create_app
    "server": {"core", "protocol", "services", "agents", "config", "db", "monitor"},
    "pilot": {"core", "protocol", "ddm"},  # the storage back ends for stage-in and stage-out
    "factory": {"core", "protocol"},
    # cli: ddm for panda upload / download (the storage back ends copy the bytes)
    "cli": {"core", "protocol", "config", "server", "pilot", "factory", "bench", "monitor", "ddm"},
    "bench": {"core", "protocol", "config"},
    "ddm": {"core"},  # storage back ends: pure helpers from core, never db or services
    "monitor": {"core", "protocol", "services", "db", "config"},
    "examples": set(),  # demo payloads: standard library only, they run anywhere a pilot does
}


@functools.cache
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


# SQL outside db/: only the Connection type may be imported. Each exemption names its reason.
SQL_EXEMPT = {
    # creates the databases of the private PostgreSQL it starts: server administration, not the task buffer
    ("bench/pgserver.py", "psycopg"),
}


def test_sql_only_in_db() -> None:
    bad, used_exemptions = [], set()
    for pkg, path, tree in _modules():
        if pkg == "db":
            continue
        rel = str(path.relative_to(PKG))
        for name, line in _sql_uses(tree):
            if (rel, name) in SQL_EXEMPT:
                used_exemptions.add((rel, name))
            else:
                bad.append(f"{rel}:{line} uses {name}")
    assert bad == []
    assert used_exemptions == SQL_EXEMPT, "stale exemption: remove it"


def _sql_uses(tree: ast.Module) -> list[tuple[str, int]]:
    """sqlalchemy names imported (any module of it) and raw-SQL calls (exec_driver_sql, DBAPI cursors)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            out += [
                (a.name, node.lineno)
                for a in node.names
                if (node.module, a.name) != ("sqlalchemy", "Connection")
            ]
        elif isinstance(node, ast.Import):
            out += [
                (a.name, node.lineno)
                for a in node.names
                if a.name.split(".")[0] in ("sqlalchemy", "sqlite3", "psycopg")
            ]
        elif isinstance(node, ast.Attribute) and node.attr in (
            "exec_driver_sql",
            "cursor",
            "driver_connection",
        ):
            out.append((node.attr, node.lineno))
    return out


# Status columns that are not a state machine: nobody's transitions to guard.
NOT_STATUS = {
    "jobs.job_sub_status": "the pilot's free-text sub-state (PanDA jobSubStatus), no transition table",
}
# Status columns with a writer other than services/lifecycle.py (which may write every status column).
OTHER_WRITERS = {
    "queues.status": (
        "services/queues.py",
        "an operator setting (online/offline/test/brokeroff from the queue file or queue/set_status),"
        " not a state machine",
    ),
    "job_files.status": (
        "services/pilot.py",
        "no file state table yet: the Adder step (services/pilot._finalize) marks output files ready;"
        " moves to a file lifecycle with the data service",
    ),
}
# The data catalog's own status writer (a second lifecycle module, as the guide's services/lifecycle*):
# it alone applies core.states DATASET_TRANSITIONS and REPLICA_TRANSITIONS.
OTHER_WRITERS |= {
    "dids.status": ("services/lifecycle_data.py", "dataset/container states (open/closed/frozen)"),
    "replicas.status": ("services/lifecycle_data.py", "replica states (available/copying/unavailable/bad)"),
    "rules.status": ("services/lifecycle_data.py", "replication rule states (replicating/ok/stuck)"),
    "transfers.status": ("services/lifecycle_data.py", "transfer requests (queued/submitted/done/failed)"),
}
# JEDI's status writer: tasks (core.tasks.TASK_TRANSITIONS) and their datasets.
OTHER_WRITERS |= {
    "tasks.status": ("services/lifecycle_tasks.py", "task states (registered ... done/finished/failed)"),
    "tasks.old_status": ("services/lifecycle_tasks.py", "the status a pending/paused task returns to"),
    "task_history.status": ("services/lifecycle_tasks.py", "the task history, appended with each change"),
    "task_history.previous_status": ("services/lifecycle_tasks.py", "the task history's previous status"),
    "task_datasets.status": ("services/lifecycle_tasks.py", "task dataset states (defined/ready/.../done)"),
}
# JEDI's contents: input and output rows of a task (core.tasks.TASK_FILE_TRANSITIONS), one writer.
OTHER_WRITERS |= {
    "task_files.status": ("services/lifecycle_taskfiles.py", "task file states (ready/running/finished/...)"),
}
# The guard must keep seeing these (if it stops, it is broken, not the code clean)
KNOWN_WRITERS = {
    ("db/jobs.py", "insert_jobs"),
    ("db/jobs.py", "write_status"),
    ("db/claims.py", "claim_activated"),
    ("db/workers.py", "insert_workers"),
    ("db/workers.py", "write_status"),
    ("db/catalog.py", "insert_dids"),
    ("db/catalog.py", "write_did_status"),
    ("db/replicas.py", "insert_replicas"),
    ("db/replicas.py", "write_replica_status"),
    ("db/rules.py", "insert_rule"),
    ("db/rules.py", "write_rule_status"),
    ("db/transfers.py", "insert_transfers"),
    ("db/transfers.py", "claim_transfers"),
    ("db/transfers.py", "write_transfer_status"),
    ("db/transfers.py", "finish_transfers"),
    ("db/transfers.py", "copying_to_available"),
    ("db/tasks.py", "insert_task"),
    ("db/tasks.py", "write_task_status"),
    ("db/tasks.py", "insert_datasets"),
    ("db/tasks.py", "write_dataset_status"),
    ("db/task_files.py", "insert_files"),
    ("db/task_files.py", "start_rows"),
    ("db/task_files.py", "write_changes"),
    ("db/task_files.py", "release_rows"),
}


def schema_tables() -> status_guard.Schema:
    return {
        name: (table.name, frozenset(c.name for c in table.columns))
        for name, table in vars(schema).items()
        if isinstance(table, Table)
    }


def test_only_lifecycle_calls_status_writers() -> None:
    modules = {str(path.relative_to(PKG)): (path, tree) for _pkg, path, tree in _modules()}
    db = {rel: path.read_text() for rel, (path, _tree) in modules.items() if rel.startswith("db/")}
    analysis = status_guard.analyse_db(db, schema_tables(), NOT_STATUS)
    assert analysis.problems == []
    assert set(analysis.writers) >= KNOWN_WRITERS, sorted(analysis.writers)
    bad: list[str] = []
    exempted: set[str] = set()
    for rel, (_path, tree) in modules.items():
        if rel.startswith("db/") or rel == "services/lifecycle.py":
            continue
        for use in status_guard.references(rel, tree, db, analysis):
            db_module, function = use.rsplit(" uses ", 1)[1].split(":")
            columns = analysis.writers[(db_module, function)]
            outside = {c for c in columns if OTHER_WRITERS.get(c, ("", ""))[0] != rel}
            exempted |= columns - outside
            if outside:
                bad.append(f"{use}, which writes {sorted(outside)}: only services/lifecycle.py may")
    assert bad == []
    assert exempted == set(OTHER_WRITERS), "stale exemption: remove it"


def test_status_exemptions_name_real_status_columns() -> None:
    columns = {f"{sql}.{c}" for sql, cols in schema_tables().values() for c in cols}
    for column in [*NOT_STATUS, *OTHER_WRITERS]:
        assert column in columns and status_guard.is_status_column(column.split(".")[1]), column

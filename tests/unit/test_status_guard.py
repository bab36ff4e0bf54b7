"""The single-writer guard itself, on small synthetic sources: it must see every kind of status write
and every way of reaching a writer, or test_layers passes while the code has holes."""

from __future__ import annotations

import ast
from textwrap import dedent

import pytest

from tests.unit.status_guard import Analysis, Schema, analyse_db, references

SCHEMA: Schema = {
    "jobs": ("jobs", frozenset({"panda_id", "job_status", "modification_time"})),
    "workers": ("workers", frozenset({"worker_id", "status", "queue"})),
    "tasks": ("tasks", frozenset({"task_id", "task_status"})),  # a table added later: found by its name
    "harvesters": ("harvesters", frozenset({"harvester_id", "last_seen"})),
}
HEADER = """\
from sqlalchemy import bindparam, insert, table, text, update
from sqlalchemy.dialects import postgresql
from pandawms.db.schema import harvesters, jobs, tasks, workers
from pandawms.db import schema
"""


def _analyse(**modules: str) -> Analysis:
    """``db_jobs="..."`` -> db/jobs.py with the imports of HEADER."""
    return analyse_db({_rel(name): HEADER + dedent(src) for name, src in modules.items()}, SCHEMA)


def _rel(name: str) -> str:
    return name.replace("_", "/", 1).replace("__init", "__init__") + ".py"


def _uses(analysis: Analysis, caller: str) -> list[str]:
    db = [rel for rel, _ in analysis.writers] + ["db/__init__.py", "db/jobs.py"]
    return references("services/other.py", ast.parse(dedent(caller)), db, analysis)


@pytest.mark.parametrize(
    ("statement", "columns"),
    [
        ("update(jobs).where(jobs.c.panda_id == 1).values(job_status='failed')", {"jobs.job_status"}),
        ("update(jobs).values({'job_status': 'failed'})", {"jobs.job_status"}),
        ("update(jobs).values({jobs.c.job_status: 'failed'})", {"jobs.job_status"}),
        ("update(jobs)", {"jobs.job_status"}),  # executemany: columns come from the rows
        ("update(jobs).values(**fields)", {"jobs.job_status"}),
        ("update(jobs).values({k: bindparam(k) for k in fields})", {"jobs.job_status"}),
        ("jobs.update().values(job_status='x')", {"jobs.job_status"}),
        ("schema.jobs.update().values(job_status='x')", {"jobs.job_status"}),
        ("update(table('jobs')).values(job_status='x')", {"jobs.job_status"}),
        ("insert(jobs)", {"jobs.job_status"}),  # a new row has a status
        ("postgresql.insert(workers).values(queue='Q')", {"workers.status"}),
        ("text('UPDATE jobs SET job_status = :s WHERE panda_id = :i')", {"jobs.job_status"}),
        ("text('insert into workers (queue) values (:q)')", {"workers.status"}),
        ("update(tasks).values(task_status='done')", {"tasks.task_status"}),
        ("update(workers).values(status='x')", {"workers.status"}),
        # not status writes
        ("update(jobs).values(modification_time=now)", set()),
        ("update(workers).values(queue='Q')", set()),
        ("insert(harvesters)", set()),
        ("text('SELECT job_status FROM jobs')", set()),
    ],
)
def test_a_statement_writes_the_status_columns_it_touches(statement: str, columns: set[str]) -> None:
    analysis = _analyse(db_jobs=f"def f(conn, fields, rows, now):\n    conn.execute({statement}, rows)\n")
    assert analysis.problems == []
    assert analysis.writers.get(("db/jobs.py", "f"), frozenset()) == columns


def test_keys_named_elsewhere_in_the_function_count() -> None:
    analysis = _analyse(
        db_jobs="""
        def f(conn, spec):
            values = {"modification_time": spec.now}
            values["status"] = spec.status
            conn.execute(update(workers).values(**values))
        """
    )
    assert analysis.writers == {("db/jobs.py", "f"): {"workers.status"}}


def test_writes_reach_functions_through_constants_helpers_and_other_db_modules() -> None:
    analysis = _analyse(
        db_jobs="""
        _STMT = update(jobs).where(jobs.c.panda_id == bindparam("i")).values(job_status=bindparam("s"))

        def _stmt():
            return _STMT

        def write(conn):
            conn.execute(_stmt())

        def widen(conn, fields):
            conn.execute(_STMT.values(modification_time=fields))
        """,
        db_monitor="""
        from pandawms.db import jobs as jobs_db

        def retime(conn):
            jobs_db.write(conn)
        """,
    )
    assert set(analysis.writers) == {
        ("db/jobs.py", "_stmt"),
        ("db/jobs.py", "write"),
        ("db/jobs.py", "widen"),
        ("db/monitor.py", "retime"),
    }


def test_refusing_a_status_key_trusts_only_the_columns_taken_from_arguments() -> None:
    guarded = """
        def _stmt(names):
            return update(jobs).values({n: bindparam(n) for n in names})

        def update_fields(conn, fields):
            if "job_status" in fields:
                raise ValueError("job_status goes through lifecycle")
            conn.execute(_stmt(fields))
        """
    assert ("db/jobs.py", "update_fields") not in _analyse(db_jobs=guarded).writers
    unguarded = guarded.replace('if "job_status" in fields:', "if not fields:")
    assert ("db/jobs.py", "update_fields") in _analyse(db_jobs=unguarded).writers
    named = guarded.replace(
        "conn.execute(_stmt(fields))", "conn.execute(update(jobs).values(job_status='x'))"
    )
    assert ("db/jobs.py", "update_fields") in _analyse(db_jobs=named).writers


@pytest.mark.parametrize(
    "caller",
    [
        "from pandawms.db import jobs as jobs_db\njobs_db.write_status(conn)",
        "from pandawms.db.jobs import write_status\nwrite_status(conn)",
        "from pandawms.db.jobs import write_status as ws\n",  # importing it is enough
        "import pandawms.db.jobs\npandawms.db.jobs.write_status(conn)",
        "import pandawms.db.jobs as j\nj.write_status(conn)",
        "from pandawms.db import jobs\ncallback = jobs.write_status",
        "from pandawms.db import write_status\n",  # re-exported by db/__init__.py
    ],
)
def test_every_way_of_reaching_a_writer_is_a_use(caller: str) -> None:
    analysis = _analyse(
        db_jobs="def write_status(conn):\n    conn.execute(update(jobs).values(job_status='x'))\n",
        db___init="from pandawms.db.jobs import write_status\n",
    )
    uses = _uses(analysis, caller)
    assert uses and all(u.endswith("uses db/jobs.py:write_status") for u in uses), uses


def test_non_writers_and_same_named_functions_elsewhere_are_not_uses() -> None:
    analysis = _analyse(
        db_jobs="""
        def write_status(conn):
            conn.execute(update(jobs).values(job_status='x'))

        def read(conn):
            params = {"b": 1}
            params.update({"job_status": 2})  # a dict, not a statement
            return conn.execute(text("SELECT 1"), params)
        """
    )
    assert set(analysis.writers) == {("db/jobs.py", "write_status")} and analysis.problems == []
    caller = "from pandawms.db import jobs as jobs_db\nimport other\njobs_db.read(c)\nother.write_status(c)\n"
    assert _uses(analysis, caller) == []


def test_writes_the_guard_cannot_attribute_are_reported() -> None:
    analysis = _analyse(
        db_jobs="""
        def f(conn, target):
            conn.execute(update(target).values(x=1))

        class Repo:
            def write(self, conn):
                conn.execute(update(jobs).values(job_status='x'))
        """
    )
    assert [p.split(" ", 1)[1] for p in analysis.problems] == [
        "update() on a table the guard cannot tell",
        "writes a status outside a module-level function",
    ]

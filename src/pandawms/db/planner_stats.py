"""PostgreSQL's planner statistics of the task buffer's tables: how much each table changed since its
last ANALYZE, and ANALYZE itself (agents/planner_stats.py decides when).

Autovacuum analyzes a table once 50 + 10 % of its rows changed, but looks only once a minute
(``autovacuum_naptime``). A table filled since its last analysis meanwhile has no statistics, and a
server's connections cache generic plans made for a table the planner thinks empty: on a fresh task
buffer filled with 3,000 jobs, the primary-key UPDATE of a job to running walked all of
ix_jobs_task_id (1,481 buffers per call at 3,000 jobs, 2,684 at 5,000; 30 once analyzed). ANALYZE
invalidates those plans. SQLite has no cached generic plans: nothing here runs there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text

from pandawms.db.engine import Database
from pandawms.db.schema import metadata


@dataclass(frozen=True, slots=True)
class TableActivity:
    name: str
    live_rows: int
    changed: int  # rows inserted, updated or deleted since the last ANALYZE (all of them if none yet)


_ACTIVITY = text(
    "SELECT relname, n_live_tup, n_mod_since_analyze"
    " FROM pg_stat_user_tables WHERE schemaname = current_schema() ORDER BY relname"
)


def activity(db: Database) -> list[TableActivity]:
    """The task buffer's tables (those of db/schema.py) as PostgreSQL's statistics see them; [] on SQLite."""
    if db.is_sqlite:
        return []
    with db.read() as conn:
        rows = conn.execute(_ACTIVITY).all()
    return [
        TableActivity(str(n), int(live), int(changed)) for n, live, changed in rows if n in metadata.tables
    ]


def analyze(db: Database, names: Sequence[str]) -> None:
    """ANALYZE the named task-buffer tables in one statement (ValueError naming a name not in
    db/schema.py, so nothing else is ever interpolated); nothing on SQLite or for no names."""
    unknown = [name for name in names if name not in metadata.tables]
    if unknown:
        raise ValueError(f"not task-buffer tables: {', '.join(map(repr, unknown))}")
    if db.is_sqlite or not names:
        return
    quote = db.writer.dialect.identifier_preparer.format_table
    tables = ", ".join(quote(metadata.tables[name]) for name in names)
    with db.write() as conn:
        conn.exec_driver_sql(f"ANALYZE {tables}")

"""The migrated schema equals schema.py, and the hot queries use index range scans (never full scans)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from pandawms.core.states import JobStatus
from pandawms.db import claims as claims_db
from pandawms.db.engine import Database
from pandawms.db.schema import jobs, metadata


@pytest.mark.migrate_from_empty  # the real Alembic chain on this test's empty database, not a template copy
def test_migrations_match_schema(db: Database) -> None:
    with db.writer.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def _compiled(db: Database, stmt: object) -> str:
    return str(stmt.compile(dialect=db.writer.dialect, compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]


def test_dispatch_and_stale_scans_use_indexes(db: Database) -> None:
    cand = claims_db._claim_candidates_stmt(memory=True, disk=False, cores=False, remaining_time=False)
    cand_params = {"b_site": "Q", "b_labels": ["user", "managed"], "b_memory": 2000, "b_limit": 10}
    stale = (
        select(jobs.c.panda_id)
        .where(jobs.c.job_status == JobStatus.RUNNING.value, jobs.c.modification_time < datetime(2026, 1, 1))
        .order_by(jobs.c.modification_time)
        .limit(100)
    )
    with db.read() as conn:
        for stmt, index in (
            (cand.stmt.params(cand_params), "ix_jobs_dispatch"),
            (stale, "ix_jobs_status_modtime"),
        ):
            sql = _compiled(db, stmt)
            if db.is_sqlite:
                plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
                assert re.search(f"USING (COVERING )?INDEX {index}", plan) and "SCAN jobs" not in plan, plan
            else:
                conn.execute(text("SET enable_seqscan = off"))
                plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))
                assert index in plan and "Seq Scan" not in plan, plan

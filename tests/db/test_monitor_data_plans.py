"""The monitor's data-page reads use their indexes on both back ends: the jobs of a dataset are found on
``ix_job_files_dataset`` (job_files.dataset, migration 0011), and the per-RSE replica counts are an
index-only scan of ``ix_replicas_rse_status``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, text

from pandawms.core.data import DID
from pandawms.db.engine import Database
from pandawms.db.monitor_data import dataset_files, replica_counts_stmt
from pandawms.db.schema import job_files


def _plan(db: Database, stmt: Select[Any]) -> str:
    sql = str(stmt.compile(dialect=db.writer.dialect, compile_kwargs={"literal_binds": True}))
    with db.read() as conn:
        if db.is_sqlite:
            return "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        conn.execute(text("SET enable_seqscan = off"))
        return "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))


def test_jobs_of_a_dataset_read_the_dataset_index(db: Database) -> None:
    stmt = select(job_files.c.panda_id).where(*dataset_files(DID("mc23", "data.001")))
    plan = _plan(db, stmt)
    assert "ix_job_files_dataset" in plan, plan
    assert "SCAN job_files" not in plan and "Seq Scan" not in plan, plan


def test_replica_counts_per_rse_are_index_only(db: Database) -> None:
    plan = _plan(db, replica_counts_stmt())
    assert "ix_replicas_rse_status" in plan, plan
    assert "Seq Scan" not in plan, plan

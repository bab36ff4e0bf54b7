"""PostgreSQL caches a prepared statement's plan as a generic plan (made without the parameters' values)
once it is no dearer than the custom ones. The pilot's claim (db/claims.claim_activated) must have a good
generic plan, or every claim is planned anew: an ordered range of a partial dispatch index, a nested loop
on the claimed rows, no sort and no table scan."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.compiler import SQLCompiler

from pandawms.core.changes import NewJob
from pandawms.core.ids import QueueName
from pandawms.core.specs import JobSpec
from pandawms.core.states import JobStatus
from pandawms.db import claims as claims_db
from pandawms.db.engine import Database
from pandawms.services import lifecycle

T0 = datetime(2026, 12, 7, 16, 0)


def _sql_literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("share", [False, True])
def test_the_claims_generic_plan_is_an_ordered_dispatch_index_range(db: Database, share: bool) -> None:
    # given 6,000 activated jobs over three queues and six shares, analyzed
    shares = ("analysis", "production", "express", "validation", "merge", "test")
    new = [
        NewJob(JobSpec("x", gshare=shares[i % 6]), JobStatus.ACTIVATED, QueueName(f"Q{i % 3}"))
        for i in range(6000)
    ]
    with db.write() as conn:
        lifecycle.create_jobs(conn, new, T0, "h")
        conn.execute(text("ANALYZE jobs"))
    # when the claim of one job is prepared and planned without its parameters' values
    stmt = claims_db._claim_logged_stmt(False, False, False, False, share, 1).stmt
    dialect = postgresql.psycopg.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
    compiled = stmt.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    values = {"b_site": "Q1", "b_labels": ["user"], "b_share": "analysis", "b_now": T0, "b_host": "h"}
    values |= {"b_pilot": "p", "b_reason": "dispatched"}
    state = compiled.construct_expanded_state(values)
    assert state.positiontup is not None
    args = ", ".join(_sql_literal(state.parameters[name]) for name in state.positiontup)
    with db.write() as conn:
        conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        conn.exec_driver_sql("PREPARE claim_plan AS " + state.statement)
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN EXECUTE claim_plan({args})"))
        conn.exec_driver_sql("DEALLOCATE claim_plan")
    # then it reads a dispatch index in order (the share's, for a share) and joins the claimed rows by key
    index = "ix_jobs_dispatch_share" if share else "ix_jobs_dispatch"
    assert f"Index Scan using {index} on jobs" in plan, plan
    assert "Nested Loop" in plan, plan
    assert "Sort" not in plan and "Seq Scan" not in plan and "Hash" not in plan and "Bitmap" not in plan, plan

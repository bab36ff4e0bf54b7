"""The agent's claim scan reads one range of ix_transfers_runnable per status in index order: no sort
and no table scan, on both back ends, however many requests are due."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from pandawms.core.states import TransferStatus
from pandawms.db.engine import Database
from pandawms.db.transfers import CLAIMABLE, claim_candidates


@pytest.mark.parametrize("status", CLAIMABLE)
def test_claim_candidates_are_an_ordered_index_range(db: Database, status: TransferStatus) -> None:
    stmt = claim_candidates(status, datetime(2026, 1, 1), 100)
    sql = str(stmt.compile(dialect=db.writer.dialect, compile_kwargs={"literal_binds": True}))
    with db.read() as conn:
        if db.is_sqlite:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "SEARCH transfers USING COVERING INDEX ix_transfers_runnable" in plan, plan
            assert "TEMP B-TREE" not in plan and "SCAN" not in plan, plan
        else:
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))
            assert "ix_transfers_runnable" in plan and "Seq Scan" not in plan and "Sort" not in plan, plan

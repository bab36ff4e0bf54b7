"""The catalog's keyset page reads one range of the contents key in order: an index range scan with no
sort, on both back ends, however big the catalog grows."""

from __future__ import annotations

import re

from sqlalchemy import text

from pandawms.core.data import DID
from pandawms.db.catalog import contents_page
from pandawms.db.engine import Database


def test_contents_page_is_an_ordered_index_range(db: Database) -> None:
    stmt = contents_page(DID("user.alice", "data.001"), DID("user.alice", "f.000100.root"), 1000)
    sql = str(stmt.compile(dialect=db.writer.dialect, compile_kwargs={"literal_binds": True}))
    with db.read() as conn:
        if db.is_sqlite:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert re.search(r"SEARCH contents USING (COVERING )?INDEX sqlite_autoindex_contents_1", plan), (
                plan
            )
            assert re.search(r"SEARCH files USING INDEX sqlite_autoindex_files_1", plan), plan
            assert "TEMP B-TREE" not in plan and "SCAN" not in plan, plan
        else:
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))
            assert "contents_pkey" in plan and "Seq Scan" not in plan and "Sort" not in plan, plan

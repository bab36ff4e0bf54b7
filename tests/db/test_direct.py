"""db/direct.Direct on SQLite and PostgreSQL: the DBAPI path gives what SQLAlchemy's execution gives
(bind and result conversions, expanding lists of several lengths, literals), and driver errors arrive as
SQLAlchemy's, so the server still answers outages with 503."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import bindparam, column, select, table
from sqlalchemy.exc import DBAPIError

from pandawms.core.ids import PandaID
from pandawms.db import jobs as jobs_db
from pandawms.db.direct import Direct
from pandawms.db.engine import Database
from pandawms.db.jobs import HistoryEntry
from pandawms.db.schema import job_status_history as h

T0 = datetime(2026, 12, 2, 17, 0, 0, 123456)


def _entry(pid: int, status: str, n: int) -> HistoryEntry:
    return HistoryEntry(PandaID(pid), status, "sent", T0.replace(second=n), f"wn{n}", f"why {n}")


def test_a_single_history_row_reads_back_exactly(db: Database) -> None:
    with db.write() as conn:
        jobs_db.insert_history(conn, [_entry(7, "running", 1)])  # one row: the Direct path
        jobs_db.insert_history(conn, [_entry(7, "holding", 2), _entry(7, "finished", 3)])  # the lean path
    with db.read() as conn:
        got = jobs_db.history(conn, 7)
    assert got == [_entry(7, "running", 1), _entry(7, "holding", 2), _entry(7, "finished", 3)]


def test_expanding_lists_and_literals_match_sqlalchemy(db: Database) -> None:
    with db.write() as conn:
        jobs_db.insert_history(conn, [_entry(i, "running" if i % 2 else "failed", i) for i in range(1, 7)])
    stmt = (
        select(h.c.panda_id, h.c.job_status, h.c.change_time, h.c.reason)
        .where(h.c.panda_id.in_(bindparam("b_ids", expanding=True)), h.c.job_status == "running")
        .order_by(h.c.panda_id)
    )
    direct = Direct(stmt, expanding=("b_ids",))
    with db.read() as conn:
        for ids in ([1], [1, 2, 3], [5, 3, 1, 6], [1]):
            rows, _ = direct.execute(conn, {"b_ids": ids})
            expected = [tuple(r) for r in conn.execute(stmt, {"b_ids": ids})]
            assert rows == expected and all(isinstance(r[2], datetime) for r in rows)
    assert rows == [(1, "running", T0.replace(second=1), "why 1")]


def test_rowcount_of_a_write(db: Database) -> None:
    with db.write() as conn:
        jobs_db.insert_history(conn, [_entry(i, "running", i) for i in range(1, 4)])
        stmt = h.update().where(h.c.panda_id <= bindparam("b_max")).values(reason=bindparam("b_reason"))
        _, count = Direct(stmt).execute(conn, {"b_max": 2, "b_reason": "changed"})
    assert count == 2
    with db.read() as conn:
        assert [e.reason for e in jobs_db.history(conn, 1) + jobs_db.history(conn, 3)] == ["changed", "why 3"]


def test_driver_errors_are_sqlalchemy_errors(db: Database) -> None:
    missing = Direct(select(table("no_such_table", column("x"))))
    with pytest.raises(DBAPIError) as caught, db.write() as conn:
        missing.execute(conn, {})
    assert isinstance(caught.value.orig, Exception) and "no_such_table" in str(caught.value)

"""db/lean.LeanInsert stores exactly what SQLAlchemy's insert stores, keys in row order, bad rows refused."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from sqlalchemy import insert, select

from pandawms.core.tasks import TaskFileStatus
from pandawms.db.engine import Database
from pandawms.db.lean import LeanInsert
from pandawms.db.schema import job_status_history as h
from pandawms.db.task_files import NewTaskFile, for_job

T0 = datetime(2026, 1, 1, 12, 0, 0)  # no microseconds: SQLite's text form must still read back


def history_rows(n: int, reason: str) -> list[dict[str, object]]:
    return [
        {
            "panda_id": 1000 + i,
            "job_status": "defined",
            "previous_status": "",
            "change_time": T0.replace(microsecond=i * 7919 % 1_000_000),
            "modification_host": f"h{i}",
            "reason": reason,
        }
        for i in range(n)
    ]


def stored(db: Database, reason: str) -> list[tuple[object, ...]]:
    cols = [h.c.panda_id, h.c.job_status, h.c.change_time, h.c.modification_host]
    with db.read() as conn:
        rows = conn.execute(select(*cols).where(h.c.reason == reason).order_by(h.c.panda_id))
        return [tuple(r) for r in rows]


def test_rows_read_back_as_sqlalchemy_stores_them(db: Database) -> None:
    # given the same rows, stored once through SQLAlchemy and once through LeanInsert
    with db.write() as conn:
        conn.execute(insert(h), history_rows(30, "orm"))
        LeanInsert(insert(h)).execute(conn, history_rows(30, "lean"))
    # then they read back identically, datetimes included, and the driver sees the same stored values
    # (SQLite keeps datetimes as text that must sort and compare as SQLAlchemy writes it)
    assert stored(db, "lean") == stored(db, "orm")
    assert stored(db, "lean")[0][2] == T0
    sql = "SELECT change_time FROM job_status_history WHERE reason = '{}' ORDER BY panda_id"
    with db.read() as conn:
        raw = [conn.exec_driver_sql(sql.format(r)).all() for r in ("lean", "orm")]
    assert raw[0] == raw[1]


def test_keys_come_back_in_row_order_across_statements(db: Database) -> None:
    # given more rows than one statement takes (6 columns, 20 variables: 3 rows a statement)
    rows = history_rows(10, "keys")
    lean = LeanInsert(insert(h), key="row_id", max_variables=20)
    # when inserted with their keys returned
    with db.write() as conn:
        keys = lean.insert_returning(conn, rows)
        by_key = dict(conn.execute(select(h.c.row_id, h.c.panda_id).where(h.c.reason == "keys")).all())
        assert lean.insert_returning(conn, []) == []
    # then key i is the row of rows[i]
    assert [by_key[k] for k in keys] == [r["panda_id"] for r in rows]


def test_a_row_with_other_columns_is_refused_and_nothing_is_stored(sqlite_db: Database) -> None:
    # given a batch whose fourth row lacks a column (after a first statement of 3 rows)
    rows = history_rows(5, "bad")
    del rows[3]["modification_host"]
    # when inserted, then the error names the columns and the transaction stores nothing
    with pytest.raises(ValueError, match="row has columns"), sqlite_db.write() as conn:
        LeanInsert(insert(h), key="row_id", max_variables=20).insert_returning(conn, rows)
    assert stored(sqlite_db, "bad") == []


def test_insert_returning_needs_a_key(sqlite_db: Database) -> None:
    with pytest.raises(TypeError, match="key"), sqlite_db.write() as conn:
        LeanInsert(insert(h)).insert_returning(conn, history_rows(1, "nokey"))


def test_a_row_with_a_renamed_column_is_refused(sqlite_db: Database) -> None:
    rows = history_rows(2, "renamed")
    rows[1]["host"] = rows[1].pop("modification_host")
    with pytest.raises(ValueError, match="expected"), sqlite_db.write() as conn:
        LeanInsert(insert(h)).execute(conn, rows)
    assert stored(sqlite_db, "renamed") == []


def test_value_tuples_store_what_row_dicts_store(db: Database) -> None:
    # given the same rows as dicts and as value tuples in a column order of their own
    columns = ("reason", "change_time", "panda_id", "job_status", "previous_status", "modification_host")
    tuples = [tuple(r[c] for c in columns) for r in history_rows(30, "tuples")]
    lean = LeanInsert(insert(h))
    # when stored through execute and execute_values
    with db.write() as conn:
        assert lean.execute(conn, history_rows(30, "dicts")) == 30
        assert lean.execute_values(conn, columns, tuples) == 30
        assert lean.execute_values(conn, columns, []) == 0
    # then they read back identically
    assert stored(db, "tuples") == stored(db, "dicts")


def test_rows_of_unequal_columns_are_refused_on_both_backends(db: Database) -> None:
    rows = history_rows(5, "uneven")
    del rows[3]["modification_host"]
    with pytest.raises(ValueError, match="columns"), db.write() as conn:
        LeanInsert(insert(h)).execute(conn, rows)
    with pytest.raises(ValueError, match="values"), db.write() as conn:
        LeanInsert(insert(h)).execute_values(conn, ("panda_id", "job_status"), [(1, "defined"), (2,)])
    assert stored(db, "uneven") == []


def test_for_job_is_the_row_with_its_pandaid() -> None:
    row = NewTaskFile(7, 8, "user.a", "out.root", TaskFileStatus.RUNNING, chunk=2, boundary="b", fsize=9)
    assert for_job(row, 123) == dataclasses.replace(row, panda_id=123)

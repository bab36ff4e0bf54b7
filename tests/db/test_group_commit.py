"""SQLite group commit: short calls share one transaction, each undone alone when it fails, answered after
the commit (db/engine.Database.group, server/groupcommit.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.responses import Response

from pandawms.core.errors import InvalidInput
from pandawms.db.engine import Database
from pandawms.db.write_groups import GroupAborted
from pandawms.protocol import paths
from pandawms.server.groupcommit import GroupCommit
from tests.conftest import FrozenClock
from tests.db.helpers import API, count_commits, queue_app


def scratch(db: Database) -> None:
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (k TEXT NOT NULL)")


def rows(db: Database) -> list[str]:
    with db.read() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT k FROM scratch ORDER BY rowid")]


def put(db: Database, key: str) -> None:
    with db.write() as conn:
        conn.exec_driver_sql("INSERT INTO scratch (k) VALUES (?)", (key,))


def test_a_group_commits_once_and_a_failing_call_or_block_is_undone_alone(sqlite_db: Database) -> None:
    scratch(sqlite_db)
    commits = count_commits(sqlite_db)
    seen_at_callback: list[list[str]] = []
    ran: list[str] = []

    def after(name: str) -> None:
        seen_at_callback.append(rows(sqlite_db))  # a reader already sees what the group stored
        ran.append(name)

    def good() -> str:
        put(sqlite_db, "a")
        sqlite_db.after_commit(lambda: after("a"))
        return "a"

    def failing() -> str:
        put(sqlite_db, "b1")
        sqlite_db.after_commit(lambda: after("b"))
        put(sqlite_db, "b2")
        raise ValueError("b fails after writing")

    def recovering() -> str:
        try:
            with sqlite_db.write() as conn:  # its first block fails: undone, the call goes on
                conn.exec_driver_sql("INSERT INTO scratch (k) VALUES ('c1')")
                raise InvalidInput("c1 refused")
        except InvalidInput:
            pass
        put(sqlite_db, "c2")
        try:
            with sqlite_db.write() as conn:  # a later block fails: only it is undone
                conn.exec_driver_sql("INSERT INTO scratch (k) VALUES ('c3')")
                raise InvalidInput("c3 refused")
        except InvalidInput:
            pass
        sqlite_db.after_commit(lambda: after("c"))
        return "c"

    with sqlite_db.group() as group:
        assert group.call(good) == "a"
        with pytest.raises(ValueError, match="b fails"):
            group.call(failing)
        assert group.call(recovering) == "c"
        assert rows(sqlite_db) == [] and ran == []  # nothing visible or run before the commit
    assert commits[0] == 1
    assert rows(sqlite_db) == ["a", "c2"]
    assert ran == ["a", "c"] and seen_at_callback == [["a", "c2"], ["a", "c2"]]
    assert (sqlite_db.group_stats.transactions, sqlite_db.group_stats.calls) == (1, 3)
    sqlite_db.after_commit(lambda: ran.append("now"))  # outside a group: at once
    assert ran[-1] == "now"


def test_an_error_out_of_the_group_stores_none_of_its_calls(sqlite_db: Database) -> None:
    scratch(sqlite_db)
    ran: list[str] = []
    with pytest.raises(RuntimeError, match="shared"), sqlite_db.group() as group:
        group.call(lambda: put(sqlite_db, "a"))
        sqlite_db.after_commit(lambda: ran.append("a"))
        raise RuntimeError("the shared transaction fails")
    assert rows(sqlite_db) == [] and ran == []
    assert sqlite_db.group_stats.transactions == 0
    put(sqlite_db, "after")  # the writer turn and the connection are free again
    assert rows(sqlite_db) == ["after"]


def test_a_transaction_sqlite_rolled_back_aborts_the_group(sqlite_db: Database) -> None:
    """After an I/O or disk-full error SQLite may roll the whole transaction back; the call's savepoint is
    then gone and the group cannot go on: GroupAborted, carrying a driver error that answers 503."""
    scratch(sqlite_db)

    def lost() -> None:
        with sqlite_db.write() as conn:
            conn.exec_driver_sql("INSERT INTO scratch (k) VALUES ('x')")
            conn.connection.dbapi_connection.execute("ROLLBACK")  # type: ignore[union-attr]
            raise OSError("disk full")

    with pytest.raises(GroupAborted) as aborted, sqlite_db.group() as group:
        group.call(lambda: put(sqlite_db, "a"))
        group.call(lost)
    assert "no such savepoint" in str(aborted.value.error.orig)
    assert rows(sqlite_db) == []


def test_group_commit_splits_at_its_budget_and_answers_each_call(sqlite_db: Database) -> None:
    scratch(sqlite_db)

    def writes(key: str) -> Response:
        put(sqlite_db, key)
        return Response(key)

    def refuses() -> Response:
        put(sqlite_db, "refused")
        raise InvalidInput("x: not a number")

    def breaks() -> Response:
        put(sqlite_db, "broken")
        raise KeyError("bug")

    async def scenario(groups: GroupCommit) -> list[Response | BaseException]:
        return await asyncio.gather(  # type: ignore[return-value]
            groups.run(lambda: writes("a")),
            groups.run(refuses),
            groups.run(breaks),
            groups.run(lambda: writes("b")),
            return_exceptions=True,
        )

    one = asyncio.run(scenario(GroupCommit(sqlite_db)))
    assert [r.body for r in one if isinstance(r, Response)] == [b"a", one[1].body, b"b"]  # type: ignore[union-attr]
    assert isinstance(one[1], Response) and one[1].status_code == 400 and b"not a number" in one[1].body
    assert isinstance(one[2], KeyError)
    assert (sqlite_db.group_stats.transactions, sqlite_db.group_stats.calls) == (1, 4)
    each = asyncio.run(scenario(GroupCommit(sqlite_db, budget_s=0)))  # over budget after every call
    assert isinstance(each[0], Response) and isinstance(each[3], Response) and isinstance(each[2], KeyError)
    assert (sqlite_db.group_stats.transactions, sqlite_db.group_stats.calls) == (5, 8)
    assert rows(sqlite_db) == ["a", "b", "a", "b"]


def test_concurrent_pilot_calls_share_transactions_and_answer_as_alone(
    sqlite_db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    app = queue_app(sqlite_db, clock, tmp_path)
    job = {
        "transformation": "/bin/echo",
        "jobParameters": "hi",
        "prodUserName": "alice",
        "computingSite": "SMALL",
    }
    n = 6

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.post(f"{API}/job/submit", json={"jobs": [job] * n})).status_code == 200
            before = sqlite_db.group_stats.transactions
            got = await asyncio.gather(
                *(c.post(f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL"}) for _ in range(n + 1))
            )
            jobs = [j for r in got for j in r.json()["data"]["jobs"]]
            assert sorted(j["PandaID"] for j in jobs) == sorted({j["PandaID"] for j in jobs})  # none twice
            assert len(jobs) == n and sum(not r.json()["data"]["jobs"] for r in got) == 1
            assert sqlite_db.group_stats.transactions - before < n + 1  # grouped
            ids = [j["PandaID"] for j in jobs]
            bodies = [{"job_id": i, "job_status": "running"} for i in ids]
            bodies[2]["start_time"] = "yesterday"  # refused: the others still go through
            answers = await asyncio.gather(*(c.post(f"{API}/pilot/update_job", json=b) for b in bodies))
            assert answers[2].status_code == 400 and "start_time" in answers[2].json()["message"]
            assert all(a.status_code == 200 for i, a in enumerate(answers) if i != 2)
            status = await c.get(f"{API}/pilot/get_job_status", params={"job_ids": ids})
            states = [e["jobStatus"] for e in status.json()["data"]]
            assert states == ["sent" if i == 2 else "running" for i in range(n)]
            health = (await c.get(API + paths.HEALTH)).json()["data"]["write_groups"]
            assert health == {
                "transactions": sqlite_db.group_stats.transactions,
                "calls": sqlite_db.group_stats.calls,
            }
            assert health["calls"] > health["transactions"]

    asyncio.run(scenario())

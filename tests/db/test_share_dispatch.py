"""The dispatcher serves the most under-served global share first at a queue, whatever the priorities,
and learns which shares wait at a queue by index seeks, never by counting the activated jobs."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import text

from pandawms.core.shares import DEFAULT_TREE
from pandawms.db import shares as shares_db
from pandawms.db.engine import Database
from pandawms.services.shares import DISPATCH_TTL, ShareCache
from tests.conftest import FrozenClock
from tests.db.helpers import acquire, submit, update


def test_the_under_served_share_goes_first(client: TestClient, clock: FrozenClock) -> None:
    # given production jobs of high priority and analysis jobs of low priority at one queue
    big = {"computingSite": "BIG", "prodSourceLabel": "managed", "currentPriority": 900, "coreCount": 8}
    prod = [j["PandaID"] for j in submit(client, 3, **big)]
    user = [j["PandaID"] for j in submit(client, 2, computingSite="BIG", prodSourceLabel="user")]
    # when no share holds anything yet, production (target 0.7) ties with analysis at 0: by name, analysis
    [first] = acquire(client, "BIG")
    assert first["PandaID"] == user[0]
    update(client, first["PandaID"], "running")
    # and once analysis holds the only running job, production is the under-served one
    clock.advance(seconds=DISPATCH_TTL + 1)
    [second] = acquire(client, "BIG")
    assert second["PandaID"] in prod
    update(client, second["PandaID"], "running")
    clock.advance(seconds=DISPATCH_TTL + 1)
    # production now holds 8 cores against analysis's 1: analysis again, though its priority is lower
    [third] = acquire(client, "BIG")
    assert third["PandaID"] == user[1]
    # and with no analysis job left, production's jobs are still served, by priority then age
    clock.advance(seconds=DISPATCH_TTL + 1)
    assert [j["PandaID"] for j in acquire(client, "BIG", n=5)] == [p for p in prod if p != second["PandaID"]]
    assert acquire(client, "BIG") == []


def test_waiting_shares_are_read_per_queue_and_kept_for_the_ttl(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    submit(client, 1, computingSite="BIG", prodSourceLabel="managed")
    submit(client, 1, computingSite="SMALL", prodSourceLabel="user")
    with db.read() as conn:
        assert shares_db.shares_waiting_at(conn, "BIG", ["production", "analysis"]) == {"production"}
        assert shares_db.shares_waiting_at(conn, "SMALL", ["production", "analysis", ""]) == {"analysis"}
        assert shares_db.shares_waiting_at(conn, "NOWHERE", ["production"]) == frozenset()
        assert shares_db.shares_waiting_at(conn, "BIG", []) == frozenset()
    cache = ShareCache(DEFAULT_TREE)
    assert cache.dispatch_order(db.read, "BIG", clock()) == ("production",)
    submit(client, 1, computingSite="BIG", prodSourceLabel="user")
    assert cache.dispatch_order(db.read, "BIG", clock()) == ("production",)  # within the ttl: as read
    clock.advance(seconds=DISPATCH_TTL + 1)
    assert set(cache.dispatch_order(db.read, "BIG", clock())) == {"production", "analysis"}


def test_a_waiting_share_is_one_index_seek(db: Database) -> None:
    """The read behind each queue's share order never walks the activated jobs (1M at scale)."""
    with db.read() as conn:
        stmt = shares_db.waiting_stmt("BIG", ["production", "analysis"])
        assert stmt is not None
        sql = str(stmt.compile(dialect=db.writer.dialect, compile_kwargs={"literal_binds": True}))
        if db.is_sqlite:
            plan = " | ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert plan.count("ix_jobs_dispatch_share") == 2 and not re.search(r"SCAN jobs\b", plan), plan
        else:
            conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))
            assert "ix_jobs_dispatch_share" in plan and "Seq Scan" not in plan, plan

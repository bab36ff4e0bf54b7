"""The agent lease on both back ends: acquire, renew, take-over, release, and races between holders."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

from pandawms.agents.lease import LeaseKeeper
from pandawms.agents.runner import Agent, AgentRunner
from pandawms.config import LeaseConfig
from pandawms.core.leases import LeaseVerdict
from pandawms.db.engine import Database
from pandawms.services import leases
from tests.conftest import FrozenClock

NOW = datetime(2026, 1, 1, 12, 0, 0)
TTL = timedelta(seconds=30)
NAME = "agents"


def hold(db: Database, holder: str, now: datetime) -> leases.HoldOutcome:
    with db.write() as conn:
        return leases.hold(conn, NAME, holder, now, TTL)


def test_acquire_renew_take_over_and_release(db: Database) -> None:
    # given a free lease, A takes it and B has to wait
    a = hold(db, "A", NOW)
    assert a.held is not None and a.decision.verdict is LeaseVerdict.TAKE
    b = hold(db, "B", NOW + timedelta(seconds=29))
    assert b.held is None and b.decision.verdict is LeaseVerdict.WAIT and "held by A" in b.decision.reason
    # when A renews, the lease moves on (same acquisition) and B still waits past the first expiry
    renewed = hold(db, "A", NOW + timedelta(seconds=20))
    assert renewed.held is not None and renewed.decision.verdict is LeaseVerdict.RENEW
    assert renewed.held.acquired_at == NOW and renewed.held.expires_at == NOW + timedelta(seconds=50)
    assert hold(db, "B", NOW + timedelta(seconds=49)).held is None
    # then once A stops renewing, B takes over at the expiry, not before
    took = hold(db, "B", NOW + timedelta(seconds=50))
    assert took.held is not None and took.decision.verdict is LeaseVerdict.TAKE
    assert "A let it expire" in took.decision.reason
    # and A, back from its stall, finds it held by B
    late = hold(db, "A", NOW + timedelta(seconds=51))
    assert late.held is None and late.decision.verdict is LeaseVerdict.WAIT
    # when B releases, A takes it at once
    with db.write() as conn:
        assert leases.release(conn, took.held, NOW + timedelta(seconds=52))
        assert not leases.release(conn, took.held, NOW + timedelta(seconds=52))  # not ours any more
    again = hold(db, "A", NOW + timedelta(seconds=52))
    assert again.held is not None and again.held.acquired_at == NOW + timedelta(seconds=52)


def test_of_two_holders_that_read_the_same_expired_lease_one_wins(db: Database) -> None:
    # given A's lease, expired
    hold(db, "A", NOW)
    later = NOW + TTL + timedelta(seconds=1)
    # when B and C read it at the same moment and both decide to take it
    from pandawms.core.leases import decide
    from pandawms.db import leases as leases_db

    with db.read() as conn:
        seen = leases_db.get(conn, NAME)
    b_decision, c_decision = (decide(seen, h, later, TTL) for h in ("B", "C"))
    assert b_decision.verdict is c_decision.verdict is LeaseVerdict.TAKE
    with db.write() as conn:
        b = leases_db.apply(conn, NAME, "B", seen, b_decision, later)
    with db.write() as conn:
        c = leases_db.apply(conn, NAME, "C", seen, c_decision, later)
    # then the first write wins and the second changes nothing
    assert b is not None and c is None
    with db.read() as conn:
        current = leases.current(conn, NAME)
    assert current is not None and current.holder == "B"


def test_a_renewal_racing_a_take_over_loses_or_wins_whole(db: Database) -> None:
    # given A's lease just past expiry, read by B, while A (late) renews first
    from pandawms.core.leases import decide
    from pandawms.db import leases as leases_db

    hold(db, "A", NOW)
    later = NOW + TTL
    with db.read() as conn:
        seen = leases_db.get(conn, NAME)
    assert hold(db, "A", later).held is not None  # A's lapsed lease, written back by A
    # when B applies its take-over decided on the old version
    with db.write() as conn:
        assert leases_db.apply(conn, NAME, "B", seen, decide(seen, "B", later, TTL), later) is None
    # then A still holds it: nobody else believes it holds the lease
    with db.read() as conn:
        current = leases.current(conn, NAME)
    assert current is not None and current.holder == "A"


def test_contenders_racing_in_threads_elect_exactly_one_holder_each_round(db: Database) -> None:
    # given 6 holders that, at each round's time, all try at once; each round starts past the last expiry
    holders = [f"h{i}" for i in range(6)]
    rounds = 5
    barrier = threading.Barrier(len(holders))
    winners: list[Counter[str]] = [Counter() for _ in range(rounds)]
    errors: list[BaseException] = []

    def contend(holder: str) -> None:
        try:
            for r in range(rounds):
                barrier.wait(timeout=60)
                outcome = hold(db, holder, NOW + r * (TTL + timedelta(seconds=1)))
                if outcome.held is not None:
                    winners[r][holder] += 1
                barrier.wait(timeout=60)
        except BaseException as exc:  # reported below: a thread's assertion must fail the test
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=contend, args=(h,)) for h in holders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # then every round had exactly one holder (a winner of the round before may renew or lose it)
    assert errors == []
    assert [sum(c.values()) for c in winners] == [1] * rounds


def test_two_keepers_gate_two_runners_so_the_agents_run_in_one(db: Database) -> None:
    # given two processes' keepers on one database, a shared frozen clock and each its own monotonic clock
    clock = FrozenClock(NOW)
    mono = {"A": 0.0, "B": 0.0}
    config = LeaseConfig(ttl=30, renew_interval=5)
    keepers = {
        h: LeaseKeeper(db, config, clock=clock, holder=h, monotonic=lambda h=h: mono[h])  # type: ignore[misc]
        for h in ("A", "B")
    }
    runs: Counter[str] = Counter()
    runners = {
        h: AgentRunner([Agent("count", 1.0, lambda _now, h=h: runs.update([h]) or 1)], lease=keepers[h])  # type: ignore[misc]
        for h in ("A", "B")
    }
    # when both try, A first: A holds and runs, B does not
    assert keepers["A"].step() and not keepers["B"].step()
    for r in runners.values():
        r.run_due(100.0)
    assert runs == Counter({"A": 1})
    # when A stalls (no renewal for ttl - renew_interval on its own clock) its gate closes by itself
    mono["A"] = 25.0
    assert not keepers["A"].held()
    runners["A"].run_due(200.0)
    assert runs == Counter({"A": 1})
    # and B takes over once the lease expired on the shared clock, then runs the agents
    clock.advance(seconds=31)
    assert keepers["B"].step()
    runners["B"].run_due(300.0)
    assert runs == Counter({"A": 1, "B": 1})
    # then A, back, learns it lost the lease and keeps out
    assert not keepers["A"].step()
    runners["A"].run_due(400.0)
    assert runs == Counter({"A": 1, "B": 1})
    # when B stops cleanly it releases, and A takes over at once (same clock reading)
    keepers["B"].stop()
    assert keepers["A"].step()
    with db.read() as conn:
        current = leases.current(conn, NAME)
    assert current is not None and current.holder == "A"

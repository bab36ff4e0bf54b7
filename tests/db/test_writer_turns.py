"""SQLite writer turns: first come first served, short chunks for long batches, a loop that never blocks."""

from __future__ import annotations

import asyncio
import threading
import time
import types
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection

from pandawms.agents.watchdogs import watchdog_agents
from pandawms.config import WatchdogConfig
from pandawms.core.errors import Fatal, Transient
from pandawms.db import engine
from pandawms.db.engine import Database, WriterLock
from pandawms.services.termination import JobRetryPolicy
from tests.conftest import FrozenClock
from tests.db.helpers import API, acquire, count_commits, ok, queue_app, submit


def wait_for(condition: object, timeout: float = 10.0) -> None:
    """Poll (no fixed sleep) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def test_writer_lock_is_first_come_first_served_and_reentrant() -> None:
    lock = WriterLock()
    lock.acquire()
    lock.acquire()  # reentrant on the owning thread
    order: list[str] = []

    def writer(name: str) -> None:
        lock.acquire()
        order.append(name)
        lock.release()

    threads = []
    for i, name in enumerate(("a", "b", "c")):
        t = threading.Thread(target=writer, args=(name,))
        t.start()
        threads.append(t)
        wait_for(lambda n=i + 1: len(lock._queue) == n)
    other = threading.Thread(target=lambda: order.append(f"try={lock.try_acquire()}"))
    other.start()
    other.join()
    lock.release()
    assert lock.busy  # still held once
    lock.release()
    for t in threads:
        t.join(10)
    assert order == ["try=False", "a", "b", "c"] and not lock.busy
    with pytest.raises(RuntimeError, match="does not hold"):
        lock.release()


def test_fast_path_waits_in_a_thread_while_another_writer_holds_the_turn(
    sqlite_db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    app = queue_app(sqlite_db, clock, tmp_path)
    held, release = threading.Event(), threading.Event()

    def long_writer() -> None:
        with sqlite_db.write():
            held.set()
            release.wait(10)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            pending = asyncio.create_task(c.post(f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL"}))
            # the loop still serves other requests while the acquire waits for the writer turn
            alive = await c.get(f"{API}/system/is_alive")
            assert alive.status_code == 200 and not pending.done()
            release.set()
            answer = await pending
            assert answer.status_code == 200 and answer.json()["data"]["jobs"] == []

    writer = threading.Thread(target=long_writer)
    writer.start()
    held.wait(10)
    try:
        asyncio.run(scenario())
    finally:
        release.set()
        writer.join(10)


def test_watchdog_batch_runs_in_short_transactions_on_sqlite_and_one_on_postgresql(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    # given 40 jobs sent and never reported
    submit(client, 40, computingSite="SMALL")
    assert len(acquire(client, "SMALL", n=40)) == 40
    clock.advance(seconds=WatchdogConfig().sent_timeout + 1)
    [agent] = [a for a in watchdog_agents(db, WatchdogConfig(), JobRetryPolicy()) if a.name == "sent_timeout"]
    commits = count_commits(db)
    # when the watchdog runs once, then it ends all of them
    assert agent.run_once(clock()) == 40
    # chunks start at one job and at most double: 40 jobs need at least 6 transactions on SQLite
    assert commits[0] >= 6 if db.is_sqlite else commits[0] == 1
    assert agent.run_once(clock()) == 0


def test_chunks_are_sized_by_the_writer_turn_not_by_the_wait_for_it(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the sizer's clock, which only another writer of this process moves: by 50 budgets each time
    # it holds the turn, while a chunk waits for it
    clock = [0.0]
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    lock = sqlite_db._write_lock
    assert lock is not None
    limits: list[int] = []
    go = threading.Event()
    stop = False

    def other_writer() -> None:
        while not stop:
            if go.wait(0.05):
                go.clear()
                with sqlite_db.writer_turn():
                    # the batch's next chunk waits behind us (none after the last)
                    wait_for(lambda: len(lock._queue) == 1 or stop)
                    clock[0] += 50 * engine.CHUNK_BUDGET_S

    def step(conn: Connection, limit: int) -> int:
        limits.append(limit)
        go.set()
        wait_for(lambda: len(lock._queue) == 1)  # the other writer queues behind this chunk
        return limit

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        # when an agent batch of 7 runs, each chunk after the first waiting for that writer
        assert sqlite_db.write_until_short(step, 7) == 7
    finally:
        stop = True
        thread.join(10)
    # then its chunks still double: the wait is not the chunk's time (counting it once kept the
    # job-stats agent at one delta per transaction while pilots held the writer)
    assert clock[0] > 0 and limits == [1, 2, 4]


def _store(conn: Connection, chunk: Sequence[int]) -> list[int]:
    if 7 in chunk:
        raise ValueError("item 7 is bad")
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
    conn.exec_driver_sql("INSERT INTO t (v) VALUES " + ",".join(f"({v})" for v in chunk))
    return list(chunk)


def test_write_chunks_says_how_much_was_stored_when_a_later_chunk_fails(db: Database) -> None:
    assert db.write_chunks(list(range(5)), _store) == [0, 1, 2, 3, 4]
    with pytest.raises(Exception) as info:
        db.write_chunks([100, 101, 102, 7], _store)
    with db.read() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one()
    if db.is_sqlite:  # chunks commit alone: the error names what was stored
        assert isinstance(info.value, Fatal) and "stored 3 of 4" in str(info.value) and stored == 8
    else:  # one transaction: nothing of the failed batch is stored
        assert isinstance(info.value, ValueError) and stored == 5


def test_big_submit_is_stored_whole_and_in_order(client: TestClient) -> None:
    jobs = submit(client, 600, computingSite="SMALL")
    ids = [j["PandaID"] for j in jobs]
    assert len(set(ids)) == 600 and ids == sorted(ids)
    assert all(j["jobStatus"] == "activated" for j in jobs)


def test_submit_with_an_unknown_queue_stores_nothing(client: TestClient) -> None:
    job = {"transformation": "/bin/echo"}
    batch = [{**job, "computingSite": "SMALL"}] * 300 + [{**job, "computingSite": "NOPE"}]
    r = client.post(f"{API}/job/submit", json={"jobs": batch})
    assert r.status_code == 400 and "jobs[300].computingSite: unknown queue 'NOPE'" in r.json()["message"]
    assert ok(client.get(f"{API}/job/list"))["jobs"] == []


def test_only_short_pilot_calls_may_run_on_the_event_loop() -> None:
    from pandawms.protocol.pilot import AcquireRequest, UpdateRequest
    from pandawms.server.fastpath import INLINE_MAX_JOBS, _short

    assert _short(AcquireRequest(site_name="Q", n_jobs=INLINE_MAX_JOBS))
    assert not _short(AcquireRequest(site_name="Q", n_jobs=INLINE_MAX_JOBS + 1))  # tens of ms: a thread
    assert _short(UpdateRequest(job_id=1, job_status="running"))


def test_another_process_holding_the_writer_past_the_busy_timeout_is_transient(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (its own Database, so its own writer turns) holds SQLite's write lock: after
    busy_timeout both a write and a group answer Transient (503, resend), and nothing is half stored."""
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 50)
    other = Database(sqlite_db.url)
    with sqlite_db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE scratch (k TEXT NOT NULL)")
    try:
        with sqlite_db.write() as conn:  # holds the lock while the other process tries
            conn.exec_driver_sql("INSERT INTO scratch (k) VALUES ('held')")
            with pytest.raises(Transient, match="database busy: database is locked"), other.write() as c:
                c.exec_driver_sql("INSERT INTO scratch (k) VALUES ('write')")
            with pytest.raises(Transient, match="database busy"), other.group() as group:
                group.call(lambda: None)
        with other.write() as conn:  # its writer turn and connection are free again
            conn.exec_driver_sql("INSERT INTO scratch (k) VALUES ('after')")
        with other.read() as conn:
            assert [r[0] for r in conn.exec_driver_sql("SELECT k FROM scratch ORDER BY rowid")] == [
                "held",
                "after",
            ]
        assert other.group_stats.transactions == 0
    finally:
        other.dispose()

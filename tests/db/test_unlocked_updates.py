"""A pilot's heartbeat or non-final move on PostgreSQL: one compare-and-set statement in autocommit
(server/routes_pilot.apply_update, services/pilot.update_job_unlocked), no transaction; a job that changed
between the unlocked read and the write falls back to the locked transaction and is answered from the
job as it now is. Reads on PostgreSQL commit each statement (db/engine.Database.read)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from pandawms.core.changes import JobChange
from pandawms.core.commands import PilotCommand
from pandawms.core.states import JobStatus
from pandawms.db import jobs as jobs_db
from pandawms.db.engine import Database
from pandawms.db.jobs import StatusRow
from pandawms.services import lifecycle
from pandawms.services.lifecycle import Move
from tests.conftest import FrozenClock
from tests.db.helpers import acquire, count_commits, describe, submit, update


def _sent_job(client: TestClient) -> int:
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL", node="wn01")
    return int(j["PandaID"])


def test_running_updates_commit_no_transaction_on_postgresql(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    pid = _sent_job(client)
    commits = count_commits(db)
    clock.advance(seconds=30)
    assert update(client, pid, "running", cpu_consumption_time=3)["jobStatus"] == "running"
    clock.advance(seconds=30)
    assert update(client, pid, "running", cpu_consumption_time=7)["jobStatus"] == "running"  # heartbeat
    # SQLite: a transaction each; PostgreSQL: the autocommit statements commit without one
    assert commits == ([2] if db.is_sqlite else [0])
    d = describe(client, pid)
    assert [h["status"] for h in d["history"]] == ["defined", "activated", "sent", "running"]
    assert d["job"]["cpuConsumptionTime"] == 7 and d["job"]["startTime"]
    assert update(client, pid, "finished", attempt_nr=1)["jobStatus"] == "finished"


@pytest.fixture
def killed_after_read(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[StatusRow]]:
    """The unlocked read answers, then another writer fails the job before the pilot's write (the
    window between the two statements, made deterministic); the rows it answered are listed."""
    answered: list[StatusRow] = []
    real = jobs_db.read_status

    def read_then_killed(conn: object, panda_id: int) -> StatusRow | None:
        row = real(conn, panda_id)  # type: ignore[arg-type]
        assert row is not None
        answered.append(row)
        with db.write() as other:
            failed = Move(JobStatus.FAILED, "killed by the watchdog", "watchdog")
            assert lifecycle.transition(other, panda_id, failed, clock()).accepted
        return row

    monkeypatch.setattr(jobs_db, "read_status", read_then_killed)
    yield answered


@pytest.mark.parametrize("first", ["sent", "running"])
def test_a_job_changed_after_the_unlocked_read_is_answered_from_its_new_state(
    client: TestClient, db: Database, clock: FrozenClock, killed_after_read: list[StatusRow], first: str
) -> None:
    """A move (sent -> running) or a heartbeat (running -> running) whose job was failed after the
    read: nothing of the pilot's report is written, and it is told to kill the job."""
    if db.is_sqlite:
        pytest.skip("SQLite applies every update under its writer lock: no unlocked read")
    pid = _sent_job(client)
    if first == "running":
        with db.write() as conn:
            assert lifecycle.transition(conn, pid, Move(JobStatus.RUNNING, "pilot", "wn01"), clock()).accepted
    ans = update(client, pid, "running", cpu_consumption_time=99)
    assert [r.status.value for r in killed_after_read] == [first]
    assert ans["jobStatus"] == "failed" and ans["command"] == "tobekilled"
    d = describe(client, pid)
    assert [h["status"] for h in d["history"]][-1] == "failed"
    assert d["job"]["cpuConsumptionTime"] in (0, None)


def test_a_guarded_field_write_needs_the_expected_status(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    pid = _sent_job(client)
    now = clock()
    change = JobChange(command=PilotCommand.TOBEKILLED, touch=False)
    with db.write() as conn:
        assert not jobs_db.update_fields(conn, pid, change, now, expected=JobStatus.RUNNING)
        row = jobs_db.lock_status(conn, pid)
        assert row is not None and row.command_to_pilot != "tobekilled"
        assert jobs_db.update_fields(conn, pid, change, now, expected=JobStatus.SENT)
        row = jobs_db.lock_status(conn, pid)
        assert row is not None and row.command_to_pilot == "tobekilled"


def test_reads_and_autocommit_on_postgresql_commit_each_statement(db: Database) -> None:
    """txid_current() names the statement's transaction: the same twice within a transaction, a new one
    for each autocommit statement. SQLite has no autocommit() (its writes go through write() and group
    commits)."""
    if db.is_sqlite:
        with pytest.raises(RuntimeError, match="autocommit"), db.autocommit():
            pass
        return
    for block in (db.read, db.autocommit):
        with block() as conn:
            first = conn.execute(text("SELECT txid_current()")).scalar_one()
            second = conn.execute(text("SELECT txid_current()")).scalar_one()
        assert second != first, block
    with db.write() as conn:
        first = conn.execute(text("SELECT txid_current()")).scalar_one()
        assert conn.execute(text("SELECT txid_current()")).scalar_one() == first

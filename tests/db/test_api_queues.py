"""Queue endpoints and the queue file: status changes apply to brokerage and dispatch without restart."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pandawms.agents.queue_file import QueueFileSync
from pandawms.db.engine import Database
from pandawms.protocol.queues import parse_queue_file
from tests.conftest import FrozenClock
from tests.db.helpers import API, acquire, ok, submit, update


def test_list_get_upsert(client: TestClient) -> None:
    names = [q["name"] for q in ok(client.get(f"{API}/queue/list"))]
    assert names == ["BIG", "SMALL"]
    ok(client.post(f"{API}/queue/upsert", json={"name": "GPU", "cores": 16, "max_memory_per_core": 8000}))
    q = ok(client.get(f"{API}/queue/get", params={"name": "GPU"}))
    assert q["cores"] == 16 and q["status"] == "online"
    assert client.get(f"{API}/queue/get", params={"name": "NOPE"}).status_code == 404
    bad = client.post(f"{API}/queue/upsert", json={"name": "X", "cores": 0})
    assert bad.status_code == 422 and "cores" in bad.json()["message"]
    bad = client.post(f"{API}/queue/set_status", json={"name": "SMALL", "status": "sleeping"})
    assert bad.status_code == 422 and "status" in bad.json()["message"]
    assert (
        client.post(f"{API}/queue/set_status", json={"name": "NOPE", "status": "online"}).status_code == 404
    )


def test_brokeroff_queue_gets_no_new_jobs(client: TestClient) -> None:
    ok(client.post(f"{API}/queue/set_status", json={"name": "BIG", "status": "brokeroff"}))
    jobs = submit(client, n=5)
    assert {j["computingSite"] for j in jobs} == {"SMALL"}
    ok(client.post(f"{API}/queue/set_status", json={"name": "SMALL", "status": "offline"}))
    [waiting] = submit(client)
    assert waiting["jobStatus"] == "defined" and "offline" in waiting["brokerageErrorDiag"]
    counts = {q["name"]: q["jobs"] for q in ok(client.get(f"{API}/queue/list"))}
    assert counts["SMALL"]["activated"] == 5


def test_queue_file_parse_errors_name_the_field(tmp_path: Path) -> None:
    f = tmp_path / "q.toml"
    f.write_text('[[queue]]\nname = "A"\ncores = "many"\n')
    with pytest.raises(ValueError, match=r"queue #1 \(A\): cores"):
        parse_queue_file(f)
    f.write_text('[[queue]]\nname = "A"\n[[queue]]\nname = "A"\n')
    with pytest.raises(ValueError, match="duplicate"):
        parse_queue_file(f)


def test_queue_file_edits_apply_without_restart(db: Database, tmp_path: Path) -> None:
    f = tmp_path / "q.toml"
    f.write_text('[[queue]]\nname = "A"\nstatus = "online"\n')
    sync = QueueFileSync(db, f)
    assert sync.run_once(datetime(2026, 1, 1)) == 1
    assert sync.run_once(datetime(2026, 1, 1)) == 0  # unchanged file: nothing to do
    f.write_text('[[queue]]\nname = "A"\nstatus = "offline"\n[[queue]]\nname = "B"\n')
    import os

    os.utime(f, (1e9, 1e9))
    assert sync.run_once(datetime(2026, 1, 1)) == 2
    with db.read() as conn:
        from pandawms.db import queues as queues_db

        assert queues_db.get(conn, "A").status.value == "offline"  # type: ignore[union-attr]


def test_list_counts_the_jobs_ended_in_the_window(client: TestClient, clock: FrozenClock) -> None:
    """queue/list's ``recent``: final jobs per status modified in the last ``hours`` (default 12)."""
    submit(client, n=2, computingSite="SMALL")
    first, second = (j["PandaID"] for j in acquire(client, "SMALL", n=2))
    update(client, first, "running")
    update(client, first, "finished")
    update(client, second, "failed", pilot_error_code=1305)
    recent = {q["name"]: q["recent"] for q in ok(client.get(f"{API}/queue/list"))}
    assert recent == {"SMALL": {"finished": 1, "failed": 1}, "BIG": {}}
    clock.advance(hours=13)
    assert {q["name"]: q["recent"] for q in ok(client.get(f"{API}/queue/list"))}["SMALL"] == {}
    wide = {q["name"]: q["recent"] for q in ok(client.get(f"{API}/queue/list", params={"hours": 14}))}
    assert wide["SMALL"] == {"finished": 1, "failed": 1}
    bad = client.get(f"{API}/queue/list", params={"hours": 0})
    assert bad.status_code == 422 and "hours" in bad.json()["message"]

"""RSEs, distances and replicas on both back ends: the RSE file applies without a restart, queues name
known RSEs, replicas are listed with their URLs in keyset pages and change state only by the table."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pandawms.agents.queue_file import RseFileSync
from pandawms.core.data import DID
from pandawms.core.errors import InvalidInput
from pandawms.core.states import ReplicaStatus
from pandawms.db.engine import Database
from pandawms.services import lifecycle_data
from pandawms.services import rses as rse_service
from pandawms.services.lifecycle import Outcome
from tests.db.catalog_helpers import add_files, add_rse, fails, files, setup
from tests.db.helpers import API, ok

DS = "user.alice:data.001"
NOW = datetime(2026, 1, 1, 12)
RSES = """
[[rse]]
name = "CERN-PROD_DATADISK"
site = "CERN-PROD"
prefix = "root://eos.example//atlas"
total_bytes = 1000000
used_bytes = 2500

[[rse]]
name = "BNL_TAPE"
site = "BNL"
prefix = "file:///tape/bnl"
kind = "tape"

[distances]
CERN-PROD = { BNL = 1 }
"""


def _touch(path: Path, text: str, when: float) -> None:
    path.write_text(text)
    os.utime(path, (when, when))


def test_rse_file_edits_apply_without_restart(db: Database, tmp_path: Path) -> None:
    f = tmp_path / "rses.toml"
    _touch(f, RSES, 1e9)
    sync = RseFileSync(db, f)
    assert sync.run_once(NOW) == 2
    assert sync.run_once(NOW) == 0  # unchanged: nothing to do
    _touch(
        f,
        RSES.replace('kind = "tape"', 'kind = "tape"\navailability_read = false').replace("= 1 }", "= 4 }"),
        1e9 + 1,
    )
    assert sync.run_once(NOW) == 2
    with db.read() as conn:
        assert rse_service.get(conn, "BNL_TAPE").availability_read is False
        assert rse_service.distances(conn) == {"CERN-PROD": {"BNL": 4}}
    _touch(f, RSES.replace('name = "BNL_TAPE"', 'name = "bnl tape"'), 1e9 + 2)
    with pytest.raises(ValueError, match=r"rse #2 \(bnl tape\)"):
        sync.run_once(NOW)  # a bad edit is refused; the old configuration stays
    with db.read() as conn:
        assert [r.name for r in rse_service.list_all(conn)] == ["BNL_TAPE", "CERN-PROD_DATADISK"]


def test_rses_and_distances_through_the_api(client: TestClient) -> None:
    add_rse(client, "LOCAL_DISK", "LOCAL", kind="object_store", total_bytes=10)
    listed = ok(client.get(f"{API}/rse/list"))
    assert listed == [
        {
            "name": "LOCAL_DISK",
            "site": "LOCAL",
            "prefix": "file:///storage/LOCAL_DISK",
            "kind": "object_store",
            "total_bytes": 10,
            "used_bytes": 0,
            "availability_read": True,
            "availability_write": True,
        }
    ]
    bad = {"rses": [{"name": "X", "site": "S", "prefix": "nope"}]}
    fails(client.post(f"{API}/rse/upsert", json=bad), 422, "bad prefix 'nope' of RSE X")
    body = {"distances": {"LOCAL": {"REMOTE": 2}}}
    assert ok(client.post(f"{API}/rse/set_distances", json=body)) == body
    assert ok(client.get(f"{API}/rse/distances")) == body
    fails(
        client.post(f"{API}/rse/set_distances", json={"distances": {"A": {"B": -1}}}),
        422,
        "greater than or equal to 0",
    )


def test_queues_must_name_known_rses(client: TestClient) -> None:
    queue = {"name": "Q1", "site": "LOCAL", "ddm_input": "LOCAL_DISK", "ddm_output": "LOCAL_DISK"}
    fails(
        client.post(f"{API}/queue/upsert", json=queue), 400, "queue Q1: ddm_input: unknown RSE 'LOCAL_DISK'"
    )
    fails(client.get(f"{API}/queue/get", params={"name": "Q1"}), 404, "not found")
    add_rse(client, "LOCAL_DISK", "LOCAL")
    saved = ok(client.post(f"{API}/queue/upsert", json=queue))
    assert (saved["ddm_input"], saved["ddm_output"]) == ("LOCAL_DISK", "LOCAL_DISK")


def test_replicas_of_a_file_and_pages_of_a_dataset(client: TestClient) -> None:
    setup(client, "user.alice", "data.001")
    add_rse(client, "A_DISK", "A")
    add_rse(client, "B_DISK", "B")
    ok(add_files(client, DS, files("user.alice", 5), rse="A_DISK"))
    lfns = [f"user.alice:{f['name']}" for f in files("user.alice", 3)]
    added = ok(client.post(f"{API}/replica/add", json={"rse": "B_DISK", "files": lfns, "state": "copying"}))
    assert added == {"rse": "B_DISK", "added": 3}
    assert ok(client.post(f"{API}/replica/add", json={"rse": "B_DISK", "files": lfns}))["added"] == 0
    one = ok(client.get(f"{API}/replica/list", params={"did": lfns[0]}))
    assert one == {
        "items": [
            {
                "scope": "user.alice",
                "name": "f.000000.root",
                "rse": "A_DISK",
                "state": "available",
                "url": "file:///storage/A_DISK/user.alice/f.000000.root",
            },
            {
                "scope": "user.alice",
                "name": "f.000000.root",
                "rse": "B_DISK",
                "state": "copying",
                "url": "file:///storage/B_DISK/user.alice/f.000000.root",
            },
        ],
        "next": None,
    }
    seen, after = [], None
    while True:
        params = {"did": DS, "limit": 3, **({"after": after} if after else {})}
        page = ok(client.get(f"{API}/replica/list", params=params))
        seen += [(r["name"], r["rse"]) for r in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert len(seen) == 8 and seen == sorted(set(seen))
    fails(
        client.post(f"{API}/replica/add", json={"rse": "NOWHERE", "files": lfns}),
        400,
        "unknown RSE(s) in rse: NOWHERE",
    )
    add_rse(client, "RO_DISK", "C", availability_write=False)
    fails(
        client.post(f"{API}/replica/add", json={"rse": "RO_DISK", "files": lfns}),
        409,
        "RO_DISK is not available for writing",
    )
    assert not any(
        r["rse"] == "RO_DISK" for r in ok(client.get(f"{API}/replica/list", params={"did": DS}))["items"]
    )
    ghost = {"rse": "B_DISK", "files": ["user.alice:ghost.root"]}
    fails(client.post(f"{API}/replica/add", json=ghost), 400, "not registered files: user.alice:ghost.root")
    fails(
        client.get(f"{API}/replica/list", params={"did": "user.alice:ghost.root"}),
        404,
        "no file, dataset or container",
    )
    fails(
        client.get(f"{API}/replica/list", params={"did": DS, "after": "junk"}), 400, "expected scope:name@RSE"
    )


def test_replica_states_follow_the_table(db: Database) -> None:
    did = DID("user.alice", "f.1")
    with db.write() as conn:
        from pandawms.core.data import FileDID
        from pandawms.db import catalog as catalog_db
        from pandawms.db.replicas import NewReplica

        catalog_db.insert_files(
            conn, [FileDID(did, "6f1c3b1e-8d1c-4c4e-9a52-0b0f3c2a9e11", 1, "00000001")], NOW
        )
        lifecycle_data.add_replicas(
            conn, [NewReplica(did, "A_DISK", ReplicaStatus.COPYING, "user.alice/f.1")], NOW
        )
    steps = [
        (ReplicaStatus.AVAILABLE, Outcome.ACCEPTED),
        (ReplicaStatus.AVAILABLE, Outcome.NOOP),
        (ReplicaStatus.COPYING, Outcome.REJECTED),
        (ReplicaStatus.BAD, Outcome.ACCEPTED),
        (ReplicaStatus.COPYING, Outcome.ACCEPTED),
    ]
    for target, outcome in steps:
        with db.write() as conn:
            got = lifecycle_data.transition_replica(conn, did, "A_DISK", target, NOW)
        assert got.outcome is outcome, (target, got)
    assert "available: it cannot become copying" in _refusal(db, did)


def _refusal(db: Database, did: DID) -> str:
    with db.write() as conn:
        lifecycle_data.transition_replica(conn, did, "A_DISK", ReplicaStatus.AVAILABLE, NOW)
        return lifecycle_data.transition_replica(conn, did, "A_DISK", ReplicaStatus.COPYING, NOW).reason


def test_server_loads_the_rse_file_before_the_queue_file(db: Database, tmp_path: Path) -> None:
    from importlib import resources

    from pandawms.config import ServerConfig
    from pandawms.server.app import create_app

    example = Path(str(resources.files("pandawms.examples") / "rses.toml"))
    queues = tmp_path / "queues.toml"
    queues.write_text(
        '[[queue]]\nname = "Q"\nsite = "LOCAL"\nddm_input = "LOCAL_DISK"\nddm_output = "REMOTE_DISK"\n'
    )
    cfg = ServerConfig(agents=False, db_url=db.url, data_dir=tmp_path, queues_file=queues, rses_file=example)
    with TestClient(create_app(cfg, db)) as client:
        assert [r["name"] for r in ok(client.get(f"{API}/rse/list"))] == ["LOCAL_DISK", "REMOTE_DISK"]
        assert ok(client.get(f"{API}/rse/distances")) == {"distances": {"LOCAL": {"REMOTE": 2}}}
        assert ok(client.get(f"{API}/queue/get", params={"name": "Q"}))["ddm_output"] == "REMOTE_DISK"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[queue]]\nname = "Q2"\nddm_input = "NOWHERE"\n')
    cfg = ServerConfig(agents=False, db_url=db.url, data_dir=tmp_path, queues_file=bad, rses_file=example)
    app = create_app(cfg, db)
    with pytest.raises(InvalidInput, match="queue Q2: ddm_input: unknown RSE 'NOWHERE'"), TestClient(app):
        pass

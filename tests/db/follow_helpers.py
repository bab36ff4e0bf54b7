"""A two-site world for the jobs-follow-the-data tests: RSEs A_DISK (site A) and B_DISK (site B), queues
QA and QB reading and writing them, and a dataset of files with replicas at A_DISK."""

from __future__ import annotations

import uuid
import zlib
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from pandawms.agents.data import data_agents
from pandawms.core.data import DID, DIDType, FileDID, RSESpec
from pandawms.core.ids import QueueName
from pandawms.core.specs import QueueSpec
from pandawms.core.states import RuleStatus
from pandawms.db.engine import Database
from pandawms.services import catalog, lifecycle_data, queues, rses, rules
from pandawms.services.termination import JobRetryPolicy
from tests.db.helpers import submit

SCOPE = "user.alice"
INPUTS = DID(SCOPE, "data.001")
OUTPUT_DATASET = f"{SCOPE}:user.alice.out.001"


def input_file(i: int, size: int = 1_000_000) -> FileDID:
    name = f"in.{i:04d}.root"
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SCOPE}:{name}"))
    return FileDID(DID(SCOPE, name), guid, size, f"{zlib.adler32(name.encode()):08x}")


def world(db: Database, now: datetime, n_files: int = 3) -> list[FileDID]:
    files = [input_file(i) for i in range(n_files)]
    with db.write() as conn:
        specs = [
            RSESpec("A_DISK", "A", "file:///storage/A_DISK"),
            RSESpec("B_DISK", "B", "file:///storage/B_DISK"),
        ]
        rses.sync(conn, specs, {}, now)
        queues.sync(
            conn,
            [
                QueueSpec(QueueName("QA"), site="A", ddm_input="A_DISK", ddm_output="A_DISK"),
                QueueSpec(QueueName("QB"), site="B", ddm_input="B_DISK", ddm_output="B_DISK"),
            ],
            now,
        )
        catalog.add_scope(conn, SCOPE, "alice", now)
        catalog.add_dids(conn, [(INPUTS, DIDType.DATASET)], now)
        catalog.add_files(conn, INPUTS, files, "A_DISK", now)
    return files


def inputs(*lfns: str) -> list[dict[str, Any]]:
    return [{"lfn": lfn, "type": "input", "scope": SCOPE, "dataset": str(INPUTS)} for lfn in lfns]


def outputs(*lfns: str) -> list[dict[str, Any]]:
    return [{"lfn": lfn, "type": "output", "scope": SCOPE, "dataset": OUTPUT_DATASET} for lfn in lfns]


def submit_with(client: TestClient, files: list[dict[str, Any]], n: int = 1, **kw: Any) -> list[int]:
    return [j["PandaID"] for j in submit(client, n, files=files, **kw)]


def run_agents(db: Database, now: datetime) -> dict[str, int]:
    return {a.name: a.run_once(now) for a in data_agents(db, 60, 1000, JobRetryPolicy())}


def set_rules(db: Database, did: DID, status: RuleStatus, now: datetime) -> int:
    """Move the rules on ``did`` as the transfer agent does when its copies end (the rule writer)."""
    with db.write() as conn:
        found = rules.rules_of(conn, did)
        for r in found:
            lifecycle_data.transition_rule(conn, r.id, status, now)
    return len(found)


def report(lfn: str, i: int, endpoint: str) -> dict[str, Any]:
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"out:{lfn}:{i}"))
    return {lfn: {"guid": guid, "fsize": 1234 + i, "adler32": f"{i + 1:08x}", "endpoint": endpoint}}

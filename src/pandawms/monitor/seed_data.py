"""The cast of the seeded history: queues, users, transformations and failure modes (plain data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    status: str
    site: str
    cores: int
    memory: int  # MB per core
    walltime: int  # s
    max_running: int
    share: float  # fraction of the jobs brokered here
    fail_rate: float
    description: str
    incident: bool = False  # a storage outage 30 to 26 hours before "now"


@dataclass(frozen=True, slots=True)
class Failure:
    component: str
    code: int
    acronym: str
    diag: str
    weight: float
    phase: str  # stagein, payload, stageout, heartbeat, brokerage
    retry: bool = True
    exe_code: int = 0


@dataclass(frozen=True, slots=True)
class User:
    label: str
    weight: float
    scope: str


QUEUES: tuple[Queue, ...] = (
    Queue(
        "CERN-PROD", "online", "CERN", 8, 2000, 172800, 3000, 0.20, 0.08, "Tier-0 production, 8-core slots"
    ),
    Queue("BNL_ATLAS", "online", "BNL", 8, 2000, 172800, 2500, 0.17, 0.09, "US Tier-1"),
    Queue("TRIUMF", "online", "TRIUMF", 8, 2500, 172800, 800, 0.08, 0.10, "Canadian Tier-1"),
    Queue("DESY-HH", "online", "DESY", 1, 2000, 86400, 600, 0.08, 0.11, "German Tier-2, single-core"),
    Queue("IN2P3-CC", "online", "IN2P3", 8, 2000, 172800, 1200, 0.10, 0.09, "French Tier-1"),
    Queue("RAL-LCG2", "online", "RAL", 8, 2000, 172800, 1200, 0.10, 0.12, "UK Tier-1"),
    Queue(
        "MWT2_UCORE",
        "online",
        "MWT2",
        8,
        2000,
        172800,
        900,
        0.09,
        0.22,
        "US Tier-2; flaky storage",
        incident=True,
    ),
    Queue("AGLT2", "online", "AGLT2", 8, 2000, 172800, 700, 0.08, 0.10, "US Tier-2"),
    Queue("LRZ-LMU", "online", "LRZ", 1, 1000, 43200, 200, 0.05, 0.15, "small-memory Tier-2 queue"),
    Queue("CERN-TEST", "test", "CERN", 1, 2000, 3600, 50, 0.05, 0.25, "functional tests"),
    Queue("INFN-T1", "brokeroff", "INFN", 8, 2000, 172800, 1000, 0.0, 0.1, "draining for a storage upgrade"),
    Queue("SWT2_CPB", "offline", "SWT2", 8, 2000, 172800, 500, 0.0, 0.1, "offline: site downtime"),
)
QUEUES_ACCEPTING: tuple[Queue, ...] = tuple(q for q in QUEUES if q.share > 0)

USERS: Mapping[str, User] = MappingProxyType(
    {
        "atlasprod": User("managed", 40, "mc23"),
        "mcprod": User("managed", 18, "mc23"),
        "gangarbt": User("test", 3, "hc_test"),
        **{
            name: User("user", w, f"user.{name}")
            for name, w in (
                ("jdoe", 6),
                ("asmith", 5),
                ("mrossi", 4),
                ("lchen", 4),
                ("kmueller", 3),
                ("pdubois", 3),
                ("ynakamura", 2.5),
                ("sgarcia", 2),
                ("oivanova", 2),
                ("tnguyen", 1.5),
                ("rpatel", 1.5),
                ("ekowalski", 1),
                ("hjensen", 1),
                ("bsilva", 0.8),
                ("fokafor", 0.6),
                ("wzhang", 0.5),
            )
        },
    }
)

PROD_TRFS = ("Sim_tf.py", "Reco_tf.py", "Derivation_tf.py", "EVNTtoHITS_tf.py", "AODMerge_tf.py")
USER_TRFS = (
    "http://pandaserver.example.org/trf/user/runGen-00-00-02",
    "/bin/bash run_analysis.sh",
    "python3 ana.py",
    "http://pandaserver.example.org/trf/user/runAthena-00-00-12",
)

FAILURES: tuple[Failure, ...] = (
    Failure(
        "pilot",
        1099,
        "STAGEINFAILED",
        "stage-in failed: rucio download timed out after 3 attempts",
        10,
        "stagein",
    ),
    Failure(
        "pilot",
        1100,
        "REPLICANOTFOUND",
        "no replica found for mc23:EVNT.35012._000045.pool.root.1",
        5,
        "stagein",
    ),
    Failure(
        "pilot",
        1305,
        "PAYLOADEXECUTIONFAILURE",
        "payload failed: Athena exited with 65 (ERROR IN TRANSFORM)",
        18,
        "payload",
        exe_code=65,
    ),
    Failure(
        "pilot",
        1212,
        "PAYLOADOUTOFMEMORY",
        "payload ran out of memory: PSS above the queue limit",
        9,
        "payload",
    ),
    Failure(
        "pilot",
        1137,
        "STAGEOUTFAILED",
        "stage-out failed: copy to DATADISK: connection reset by peer",
        7,
        "stageout",
    ),
    Failure("pilot", 1201, "SIGTERM", "job killed by SIGTERM (batch system walltime limit)", 4, "payload"),
    Failure("pilot", 1150, "LOOPINGJOB", "looping job: no output file modified for 2 hours", 3, "payload"),
    Failure(
        "pilot",
        1186,
        "NOSOFTWAREDIR",
        "software directory /cvmfs/atlas.cern.ch not found",
        2,
        "stagein",
        retry=False,
    ),
    Failure("jobdispatcher", 100, "LOST_HEARTBEAT", "lost heartbeat: no update for 7200 s", 6, "heartbeat"),
    Failure(
        "ddm", 200, "ADDER_FAILURE", "output registration failed: rucio server returned 503", 2, "stageout"
    ),
    Failure(
        "brokerage",
        1,
        "NO_QUEUE",
        "no queue: every queue refuses 6000 MB for 1 core(s)",
        1.5,
        "brokerage",
        retry=False,
    ),
)
INCIDENT_FAILURE = Failure(
    "pilot",
    1099,
    "STAGEINFAILED",
    "stage-in failed: MWT2_DATADISK: server not responding (xrootd)",
    1,
    "stagein",
)
WAITING_DIAG = (
    "no queue: SWT2_CPB: queue is offline; INFN-T1: queue is brokeroff (takes no new jobs from brokerage)"
)
REJECTIONS: tuple[tuple[str, str, bool], ...] = (
    ("SWT2_CPB", "queue is offline", False),
    ("INFN-T1", "queue is brokeroff (takes no new jobs from brokerage)", False),
    ("LRZ-LMU", "memory 4000 MB for 1 core(s) exceeds queue limit 1000 MB/core x 1 = 1000 MB", True),
    ("CERN-TEST", "test queue accepts only prod_test/ptest/test jobs, not user", True),
)

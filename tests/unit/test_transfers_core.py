"""The transfer service's pure parts: rule and request tables, source choice, retry backoff, counters."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta

import pytest

from pandawms.config import load_config
from pandawms.core.data import DID, RSESpec
from pandawms.core.states import (
    RULE_TRANSITIONS,
    TRANSFER_TRANSITIONS,
    ReplicaStatus,
    RuleStatus,
    TransferStatus,
    rule_allowed,
    transfer_allowed,
)
from pandawms.core.transfers import (
    FileState,
    RetryPolicy,
    RuleCounters,
    after_failure,
    choose_source,
    counter_delta,
    no_source_reason,
    rule_status,
)

NOW = datetime(2026, 1, 1, 12)
Ru, T = RuleStatus, TransferStatus
RULE_ALLOWED = {
    (Ru.REPLICATING, Ru.OK),
    (Ru.REPLICATING, Ru.STUCK),
    (Ru.OK, Ru.REPLICATING),
    (Ru.STUCK, Ru.REPLICATING),
    (Ru.STUCK, Ru.OK),
}
TRANSFER_ALLOWED = {
    (T.QUEUED, T.SUBMITTED),
    (T.QUEUED, T.DONE),
    (T.SUBMITTED, T.DONE),
    (T.SUBMITTED, T.QUEUED),
    (T.SUBMITTED, T.FAILED),
    (T.DONE, T.QUEUED),
    (T.FAILED, T.QUEUED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(RuleStatus, RuleStatus)))
def test_rule_table(current: RuleStatus, target: RuleStatus) -> None:
    assert rule_allowed(current, target) is ((current, target) in RULE_ALLOWED)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(TransferStatus, TransferStatus)))
def test_transfer_table(current: TransferStatus, target: TransferStatus) -> None:
    assert transfer_allowed(current, target) is ((current, target) in TRANSFER_ALLOWED)


def test_tables_cover_every_state() -> None:
    assert set(RULE_TRANSITIONS) == set(RuleStatus) and set(TRANSFER_TRANSITIONS) == set(TransferStatus)


def rse(name: str, site: str, *, read: bool = True) -> RSESpec:
    return RSESpec(name, site, f"file:///data/{name}", availability_read=read)


RSES = {
    s.name: s
    for s in [
        rse("DEST", "B"),
        rse("SAME_SITE", "B"),
        rse("NEAR", "C"),
        rse("FAR", "D"),
        rse("FAR_TOO", "E"),
        rse("OFFLINE", "B", read=False),
    ]
}
DISTANCES = {"C": {"B": 1}, "D": {"B": 5}}


@pytest.mark.parametrize(
    ("replicas", "chosen"),
    [
        ([("FAR", "available"), ("NEAR", "available"), ("SAME_SITE", "available")], "SAME_SITE"),
        ([("FAR", "available"), ("NEAR", "available")], "NEAR"),
        ([("FAR_TOO", "available"), ("FAR", "available")], "FAR"),  # a known distance beats none
        ([("SAME_SITE", "bad"), ("FAR_TOO", "available")], "FAR_TOO"),
        ([("OFFLINE", "available"), ("NEAR", "copying"), ("FAR", "unavailable")], None),
        ([("DEST", "available")], None),  # never the destination itself
    ],
)
def test_source_is_the_nearest_available_readable_replica(
    replicas: list[tuple[str, str]], chosen: str | None
) -> None:
    choice = choose_source([(n, ReplicaStatus(s)) for n, s in replicas], RSES, RSES["DEST"], DISTANCES)
    assert (choice.rse.name if choice.rse else None) == chosen


def test_no_source_names_each_replica_passed_over() -> None:
    reps = [
        ("SAME_SITE", ReplicaStatus.BAD),
        ("OFFLINE", ReplicaStatus.AVAILABLE),
        ("GONE", ReplicaStatus.AVAILABLE),
    ]
    choice = choose_source(reps, RSES, RSES["DEST"], DISTANCES)
    reason = no_source_reason(DID("user.a", "f.1"), choice)
    assert choice.rse is None
    assert reason == (
        "no usable replica of user.a:f.1 to copy from (GONE: unknown RSE; OFFLINE: RSE not available for"
        " reading; SAME_SITE: replica is bad)"
    )


def test_failures_back_off_with_full_jitter_then_fail() -> None:
    policy = RetryPolicy(base_seconds=10, cap_seconds=25)
    rng = random.Random(1)
    delays = []
    for attempt in (1, 2, 3, 4):
        d = after_failure(attempt, 5, NOW, policy, rng)
        assert d.status is TransferStatus.QUEUED
        delays.append((d.next_attempt_at - NOW).total_seconds())
    ceilings = [10, 20, 25, 25]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    final = after_failure(5, 5, NOW, policy, rng)
    assert (final.status, final.next_attempt_at) == (TransferStatus.FAILED, NOW)


@pytest.mark.parametrize(
    ("counters", "status"),
    [
        (RuleCounters(3, 0, 0), RuleStatus.OK),
        (RuleCounters(0, 0, 0), RuleStatus.OK),
        (RuleCounters(2, 1, 0), RuleStatus.REPLICATING),
        (RuleCounters(1, 1, 1), RuleStatus.STUCK),
    ],
)
def test_rule_status_from_counters(counters: RuleCounters, status: RuleStatus) -> None:
    assert rule_status(counters) is status


def test_counter_delta_moves_one_file_between_counters() -> None:
    assert counter_delta(FileState.REPLICATING, FileState.OK) == RuleCounters(1, -1, 0)
    assert counter_delta(FileState.OK, FileState.REPLICATING) == RuleCounters(-1, 1, 0)
    assert counter_delta(FileState.STUCK, FileState.REPLICATING) == RuleCounters(0, 1, -1)
    assert counter_delta(FileState.NONE, FileState.REPLICATING) == RuleCounters(0, 1, 0)


def test_transfer_and_storage_sections_are_read_from_the_environment() -> None:
    env = {"PANDA_TRANSFERS_CONCURRENCY": "8", "PANDA_STORAGE_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}
    cfg = load_config(env=env)
    assert cfg.transfers.concurrency == 8 and cfg.storage.s3_endpoint_url == "http://127.0.0.1:9000"
    assert cfg.transfers.lease_seconds == 600 and cfg.watchdog.interval == 60.0
    with pytest.raises(ValueError, match=r"transfers\.concurrency"):
        load_config(env={"PANDA_TRANSFERS_CONCURRENCY": "0"})
    with pytest.raises(ValueError, match=r"unknown config key transfers\.speed"):
        load_config(env={}, overrides={"transfers": {"speed": 1}})
    assert timedelta(seconds=cfg.transfers.lease_seconds) == timedelta(minutes=10)

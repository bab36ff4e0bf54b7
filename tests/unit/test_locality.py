"""Jobs follow the data, pure: locality per queue, its weight and reason, the Setupper's action, block
verdicts and the data timeouts (tables, no database)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pandawms.agents.watchdogs import rules_from_config
from pandawms.config import WatchdogConfig
from pandawms.core.blocks import Verdict, block_verdict, outputs_at_destination
from pandawms.core.brokerage import BrokerageRequest, DataView, broker
from pandawms.core.data import DID, dis_name, sub_did
from pandawms.core.ids import QueueName
from pandawms.core.locality import (
    InputFile,
    SetupAction,
    input_states,
    locality,
    locality_weight,
    readable_rses,
    setup_action,
)
from pandawms.core.specs import FileSpec, FileType, ProdSourceLabel, QueueLoad, QueueSpec, ResourceRequest
from pandawms.core.states import JobStatus, RuleStatus

GB = 1_000_000_000


def f(i: int, size: int, *rses: str) -> InputFile:
    return InputFile(DID("mc23", f"f{i}.root"), size, frozenset(rses))


@pytest.mark.parametrize(
    ("inputs", "readable", "fraction", "moving", "absent", "reason"),
    [
        (
            [f(1, GB, "CERN-PROD_DATADISK")],
            {"CERN-PROD_DATADISK"},
            1.0,
            0,
            0,
            "inputs 100 % at CERN-PROD_DATADISK",
        ),
        ([f(1, 2_300_000_000, "X")], {"Y"}, 0.0, 1, 0, "inputs 0 % at Y, 2.3 GB to transfer (1 files)"),
        (
            [f(1, 3 * GB, "A"), f(2, GB, "B")],
            {"A"},
            0.75,
            1,
            0,
            "inputs 75 % at A, 1.0 GB to transfer (1 files)",
        ),
        ([f(1, GB, "NEAR"), f(2, GB)], {"NEAR"}, 0.5, 0, 1, "inputs 50 % at NEAR, 1 not produced yet"),
        ([f(1, 0, "A"), f(2, 0, "B")], {"A"}, 0.5, 1, 0, "inputs 50 % at A, 0.0 GB to transfer (1 files)"),
    ],
)
def test_locality_splits_inputs_and_says_how_much_is_there(
    inputs: list[InputFile], readable: set[str], fraction: float, moving: int, absent: int, reason: str
) -> None:
    rse = sorted(readable)[0]
    loc = locality(inputs, frozenset(readable), rse)
    assert loc.fraction == pytest.approx(fraction)
    assert (len(loc.to_move), len(loc.absent)) == (moving, absent)
    assert loc.reason() == reason


@pytest.mark.parametrize(
    ("load", "local", "expected"),
    [
        # fully local: (R+1)/(activated+starting+defined+10), times (1 + 1.0)
        (QueueLoad(running=9, activated=5, assigned=100), True, 10 / 15 * 2),
        # not local: assigned counts, manyAssigned = clamp((4+1)/(0+1), 1, 2) = 2, times (1 + 0)/(1/100 + 1)
        (QueueLoad(running=9, assigned=4), False, 10 / 14 / 2 / 1.01),
        # manyAssigned floor 1: (0+1)/(9+1) -> 1
        (QueueLoad(running=0, activated=9), False, 1 / 19 / 1 / 1.01),
    ],
)
def test_locality_weight_follows_pandas_formula(load: QueueLoad, local: bool, expected: float) -> None:
    inputs = [f(1, GB, "HERE" if local else "FAR")]
    loc = locality(inputs, frozenset({"HERE"}), "HERE")
    assert locality_weight(load, loc) == pytest.approx(expected)


def _queue(name: str, site: str, ddm_input: str = "") -> QueueSpec:
    return QueueSpec(name=QueueName(name), site=site, ddm_input=ddm_input)


def test_brokerage_prefers_the_queue_with_the_data_and_names_it() -> None:
    queues = [_queue("AT_DATA", "A", "A_DISK"), _queue("ELSEWHERE", "B", "B_DISK")]
    readable = readable_rses(queues, {"A": frozenset({"A_DISK"})})
    inputs = [f(1, 5 * GB, "A_DISK")]
    view = DataView({q.name: locality(inputs, readable[q.name], q.ddm_input) for q in queues})
    request = BrokerageRequest(ResourceRequest(), ProdSourceLabel.USER)
    # ELSEWHERE is emptier, but the data is at A
    loads = {QueueName("AT_DATA"): QueueLoad(activated=20, running=5), QueueName("ELSEWHERE"): QueueLoad()}
    decision = broker(request, queues, loads, view)
    assert decision.chosen == "AT_DATA"
    assert decision.notes[QueueName("ELSEWHERE")] == "inputs 0 % at B_DISK, 5.0 GB to transfer (1 files)"
    assert "chosen AT_DATA (weight" in decision.summary() and "inputs 100 % at A_DISK" in decision.summary()


def test_a_queue_that_cannot_receive_transfers_is_refused_with_the_reason() -> None:
    queues = [_queue("NO_RSE", "B"), _queue("RO", "C", "C_DISK")]
    inputs = [f(1, GB, "A_DISK")]
    view = DataView(
        {q.name: locality(inputs, frozenset({q.ddm_input}), q.ddm_input) for q in queues},
        unwritable=frozenset({"C_DISK"}),
    )
    decision = broker(BrokerageRequest(ResourceRequest(), ProdSourceLabel.USER), queues, {}, view)
    assert decision.chosen is None and decision.hopeless is False  # RO may become writable
    assert decision.rejected[QueueName("NO_RSE")].permanent
    assert "no ddm_input RSE" in decision.rejected[QueueName("NO_RSE")].reason
    assert "C_DISK is not available for writing" in decision.rejected[QueueName("RO")].reason


def test_without_catalog_inputs_brokerage_is_unchanged() -> None:
    queues = [_queue("Q1", "A"), _queue("Q2", "B")]
    loads = {QueueName("Q1"): QueueLoad(running=3, assigned=2)}
    decision = broker(BrokerageRequest(ResourceRequest(), ProdSourceLabel.USER), queues, loads)
    (name, weight), _second = decision.ranked
    assert name == "Q1" and weight == pytest.approx(4 / 12) and not decision.notes


@pytest.mark.parametrize(
    ("inputs", "action"),
    [
        ([f(1, 10, "HERE")], SetupAction.ACTIVATE),
        ([f(1, 10, "HERE"), f(2, 10, "FAR")], SetupAction.ASSIGN),
        ([f(1, 10, "FAR"), f(2, 10)], SetupAction.WAIT),
        ([], SetupAction.ACTIVATE),
    ],
)
def test_setupper_action(inputs: list[InputFile], action: SetupAction) -> None:
    assert setup_action(locality(inputs, frozenset({"HERE"}), "HERE")) is action


def test_input_rows_get_ready_pending_and_missing() -> None:
    rows = (
        FileSpec("f1.root", FileType.INPUT, scope="mc23"),
        FileSpec("f2.root", FileType.INPUT, scope="mc23"),
        FileSpec("f3.root", FileType.INPUT, scope="mc23"),
        FileSpec("plain.txt", FileType.INPUT),
        FileSpec("out.root", FileType.OUTPUT, scope="mc23"),
    )
    loc = locality([f(1, 1, "HERE"), f(2, 1, "FAR"), f(3, 1)], frozenset({"HERE"}), "HERE")
    assert [r.status for r in input_states(rows, loc)] == ["ready", "pending", "missing", "", ""]


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        ([RuleStatus.OK], Verdict.PROCEED),
        ([RuleStatus.OK, RuleStatus.REPLICATING], Verdict.WAIT),
        ([RuleStatus.REPLICATING, RuleStatus.STUCK], Verdict.FAIL),
        ([], Verdict.FAIL),
        ([None], Verdict.FAIL),
    ],
)
def test_block_verdicts(statuses: list[RuleStatus | None], verdict: Verdict) -> None:
    assert block_verdict("panda:x_dis1", statuses).verdict is verdict


def test_outputs_at_destination() -> None:
    assert outputs_at_destination("DST", ["DST", "DST"])
    assert not outputs_at_destination("DST", ["DST", "SRC"])
    assert outputs_at_destination("", ["SRC"])  # no destination: where they were written


def test_block_names() -> None:
    name = dis_name(None, datetime(2026, 12, 1, 23, 0), 42)
    assert name.startswith("panda.0.12.01.GEN.") and name.endswith("_dis42")
    assert dis_name(7, datetime(2026, 3, 9), 42).startswith("panda.7.03.09.GEN.")
    assert sub_did(DID("mc23", "out.ds"), 42) == DID("mc23", "out.ds_sub42")
    long = sub_did(DID("mc23", "x" * 250), 1234567)
    assert len(long.name) == 250 and long.name.endswith("_sub1234567")


def test_data_timeouts_are_generous_and_separate() -> None:
    cfg = WatchdogConfig()
    rules = {r.name: r for r in rules_from_config(cfg)}
    assert rules["assigned_expiry"].statuses == (JobStatus.ASSIGNED,)
    assert rules["waiting_expiry"].statuses == (JobStatus.WAITING,)
    assert rules["assigned_expiry"].after == rules["waiting_expiry"].after == timedelta(days=7)
    assert rules["defined_expiry"].statuses == (JobStatus.DEFINED,)
    now = datetime(2026, 12, 8, 12, 0)
    assert rules["waiting_expiry"].cutoff(now) == datetime(2026, 12, 1, 12, 0)
    assert rules["waiting_expiry"].target is JobStatus.CLOSED


def test_a_nearby_replica_counts_as_local_and_the_reason_names_where_it_is_read() -> None:
    queues = [_queue("QB", "B", "B_DISK")]
    readable = readable_rses(queues, {"B": frozenset({"A_DISK", "B_DISK"})})  # A is near B
    assert readable[QueueName("QB")] == {"A_DISK", "B_DISK"}
    loc = locality([f(1, GB, "A_DISK"), f(2, GB, "A_DISK", "B_DISK")], readable[QueueName("QB")], "B_DISK")
    assert loc.fully_local and loc.reason() == "inputs 100 % at A_DISK+B_DISK"

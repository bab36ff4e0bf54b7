"""Job brokerage: filters with reasons, weights, ranking and the user-facing summary."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pandawms.core.brokerage import (
    BrokerageDecision,
    BrokerageRequest,
    Rejection,
    broker,
    queue_weight,
)
from pandawms.core.dispatch import TEST_LABELS
from pandawms.core.ids import QueueName
from pandawms.core.specs import ProdSourceLabel, QueueLoad, QueueSpec, QueueStatus, ResourceRequest

USER = ProdSourceLabel.USER


def q(name: str, **kwargs: object) -> QueueSpec:
    return QueueSpec(name=QueueName(name), **kwargs)  # type: ignore[arg-type]


def req(
    memory: int = 0,
    cores: int = 1,
    walltime: int = 0,
    disk: int = 0,
    label: ProdSourceLabel = USER,
    included: tuple[str, ...] = (),
    excluded: tuple[str, ...] = (),
) -> BrokerageRequest:
    return BrokerageRequest(
        resources=ResourceRequest(memory=memory, cores=cores, walltime=walltime, disk=disk),
        prod_source_label=label,
        included_sites=included,
        excluded_sites=excluded,
    )


def only(request: BrokerageRequest, queue: QueueSpec, load: QueueLoad | None = None) -> BrokerageDecision:
    loads = {queue.name: load} if load is not None else {}
    return broker(request, [queue], loads)


# --- each filter: reason text and permanence ---------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "queue", "load", "reason", "permanent"),
    [
        pytest.param(
            req(excluded=("CERN*",)), q("CERN_1"), None, "excluded_sites pattern 'CERN*'", True, id="excluded"
        ),
        pytest.param(
            req(included=("BNL*", "X")),
            q("CERN_1"),
            None,
            "not in included_sites (BNL*, X)",
            True,
            id="not-included",
        ),
        pytest.param(req(), q("A", status=QueueStatus.OFFLINE), None, "offline", False, id="offline"),
        pytest.param(req(), q("A", status=QueueStatus.BROKEROFF), None, "brokeroff", False, id="brokeroff"),
        pytest.param(
            req(label=ProdSourceLabel.MANAGED),
            q("A", status=QueueStatus.TEST),
            None,
            "test queue accepts only install/prod_test/ptest/test jobs, not managed",
            True,
            id="test-queue",
        ),
        pytest.param(
            req(cores=8), q("A", cores=4), None, "job needs 8 core(s) but queue has 4", True, id="cores"
        ),
        pytest.param(
            req(memory=8000),
            q("A"),
            None,
            "memory 8000 MB for 1 core(s) exceeds queue limit 2000 MB/core x 1 = 2000 MB",
            True,
            id="memory",
        ),
        pytest.param(
            req(memory=9000, cores=4),
            q("A", cores=8),
            None,
            "memory 9000 MB for 4 core(s) exceeds queue limit 2000 MB/core x 4 = 8000 MB",
            True,
            id="memory-multicore",
        ),
        pytest.param(
            req(walltime=90000),
            q("A"),
            None,
            "walltime 90000 s exceeds queue limit 86400 s",
            True,
            id="walltime",
        ),
        pytest.param(
            req(disk=5000),
            q("A", max_disk=4000),
            None,
            "disk 5000 MB exceeds queue limit 4000 MB",
            True,
            id="disk",
        ),
        pytest.param(
            req(),
            q("A", max_queued=5),
            QueueLoad(defined=1, assigned=2, activated=2),
            "queue full: 5 jobs queued (defined+assigned+activated) >= max_queued 5",
            False,
            id="full",
        ),
    ],
)
def test_each_filter_rejects_with_reason_and_permanence(
    request_: BrokerageRequest, queue: QueueSpec, load: QueueLoad | None, reason: str, permanent: bool
) -> None:
    # given one queue that fails exactly one filter; when brokering
    decision = only(request_, queue, load)
    # then it is rejected with a reason naming the numbers and the right permanence
    assert decision.chosen is None
    rejection = decision.rejected[queue.name]
    assert reason in rejection.reason
    assert rejection.permanent is permanent
    assert decision.hopeless is permanent


@pytest.mark.parametrize(
    ("request_", "queue", "load"),
    [
        pytest.param(req(memory=2000), q("A"), None, id="memory-at-limit"),
        pytest.param(req(memory=0, cores=1), q("A", max_memory_per_core=1), None, id="memory-unspecified"),
        pytest.param(req(memory=10**6), q("A", max_memory_per_core=0), None, id="memory-no-limit"),
        pytest.param(req(walltime=86400), q("A"), None, id="walltime-at-limit"),
        pytest.param(req(walltime=0), q("A", max_walltime=1), None, id="walltime-unknown"),
        pytest.param(req(walltime=10**7), q("A", max_walltime=0), None, id="walltime-no-limit"),
        pytest.param(req(disk=10**7), q("A"), None, id="disk-unchecked"),
        pytest.param(req(disk=4000), q("A", max_disk=4000), None, id="disk-at-limit"),
        pytest.param(req(cores=4), q("A", cores=4), None, id="cores-equal"),
        pytest.param(
            req(), q("A", max_queued=5), QueueLoad(activated=4, sent=9, running=9), id="queued-below"
        ),
        pytest.param(req(), q("A", max_queued=0), QueueLoad(activated=10**6), id="queued-unlimited"),
    ],
)
def test_limits_are_inclusive_and_zero_means_unchecked(
    request_: BrokerageRequest, queue: QueueSpec, load: QueueLoad | None
) -> None:
    assert only(request_, queue, load).chosen == queue.name


def test_first_failing_filter_gives_the_reason() -> None:
    # given a queue that is excluded, offline and too small
    queue = q("CERN_1", status=QueueStatus.OFFLINE, cores=1)
    # when brokering a job that fails all three
    decision = only(req(cores=8, excluded=("CERN_1",)), queue)
    # then the exclusion (the first filter) is reported
    assert "excluded" in decision.rejected[queue.name].reason
    assert decision.rejected[queue.name].permanent


def test_offline_before_resource_checks_makes_rejection_temporary() -> None:
    decision = only(req(cores=8), q("A", status=QueueStatus.OFFLINE))
    assert decision.rejected[QueueName("A")] == Rejection("queue is offline", permanent=False)


# --- wildcards ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("included", "excluded", "expected"),
    [
        ((), (), ["BNL_1", "BNL_2", "CERN_1", "CERN_2"]),
        (("BNL*",), (), ["BNL_1", "BNL_2"]),
        (("*_1",), (), ["BNL_1", "CERN_1"]),
        ((), ("CERN*",), ["BNL_1", "BNL_2"]),
        (("BNL*", "CERN_2"), ("*_1",), ["BNL_2", "CERN_2"]),
        (("bnl*",), (), []),
        (("BNL_1",), ("BNL_1",), []),
    ],
)
def test_wildcard_include_and_exclude(
    included: tuple[str, ...], excluded: tuple[str, ...], expected: list[str]
) -> None:
    # given four identical queues; when brokering with site lists
    queues = [q(n) for n in ("CERN_2", "BNL_1", "CERN_1", "BNL_2")]
    decision = broker(req(included=included, excluded=excluded), queues, {})
    # then only the matching queues are ranked (ties by name) and the rest are permanent rejections
    assert [name for name, _ in decision.ranked] == expected
    assert all(r.permanent for r in decision.rejected.values())
    assert len(decision.rejected) == 4 - len(expected)


# --- test queues --------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", list(ProdSourceLabel))
def test_test_queue_accepts_only_test_labels(label: ProdSourceLabel) -> None:
    decision = broker(req(label=label), [q("T", status=QueueStatus.TEST), q("O")], {})
    accepted = {name for name, _ in decision.ranked}
    assert accepted == ({"T", "O"} if label in TEST_LABELS else {"O"})


# --- weights and ranking ------------------------------------------------------------------------------


def test_weight_formula() -> None:
    load = QueueLoad(defined=1, assigned=2, activated=3, sent=100, starting=4, running=9)
    assert queue_weight(load) == pytest.approx(10 / 20)
    assert queue_weight(QueueLoad()) == pytest.approx(0.1)


def test_ties_are_broken_by_queue_name() -> None:
    # given queues with identical (empty) load in arbitrary order
    queues = [q("C"), q("A"), q("B")]
    # when brokering
    decision = broker(req(), queues, {})
    # then they rank by name and A is chosen
    assert decision.ranked == ((QueueName("A"), 0.1), (QueueName("B"), 0.1), (QueueName("C"), 0.1))
    assert decision.chosen == "A"


def test_load_affects_ranking() -> None:
    # given A busy with a long backlog, B running a lot with little waiting, C empty
    loads = {
        QueueName("A"): QueueLoad(activated=90, running=0),
        QueueName("B"): QueueLoad(activated=10, running=99),
        QueueName("C"): QueueLoad(),
    }
    # when brokering
    decision = broker(req(), [q("A"), q("B"), q("C")], loads)
    # then B (100/20) beats C (1/10) beats A (1/100)
    assert [name for name, _ in decision.ranked] == ["B", "C", "A"]
    assert [w for _, w in decision.ranked] == pytest.approx([5.0, 0.1, 0.01])


def test_loads_for_unknown_queues_are_ignored() -> None:
    decision = broker(req(), [q("A")], {QueueName("Z"): QueueLoad(running=100)})
    assert decision.ranked == ((QueueName("A"), 0.1),)


def test_duplicate_queue_names_are_refused() -> None:
    with pytest.raises(ValueError, match="'A' is listed twice"):
        broker(req(), [q("A"), q("A")], {})


# --- hopeless vs temporary ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("queues", "hopeless"),
    [
        pytest.param([], True, id="no-queues"),
        pytest.param([q("A", cores=1), q("B", max_walltime=10)], True, id="all-permanent"),
        pytest.param([q("A", cores=1), q("B", status=QueueStatus.OFFLINE)], False, id="one-offline"),
        pytest.param(
            [q("A", cores=1), q("B", cores=8, status=QueueStatus.BROKEROFF)], False, id="one-brokeroff"
        ),
        pytest.param([q("A", cores=8, max_queued=1)], False, id="full"),
        pytest.param([q("A", cores=8)], False, id="accepted"),
    ],
)
def test_hopeless_only_when_every_rejection_is_permanent(queues: list[QueueSpec], hopeless: bool) -> None:
    loads = {QueueName("A"): QueueLoad(defined=3)}
    decision = broker(req(cores=4, walltime=100), queues, loads)
    assert decision.hopeless is hopeless


# --- summary and immutability -------------------------------------------------------------------------


def test_summary_with_chosen_queue_lists_rejections_by_name() -> None:
    # given an offline queue, a fitting queue and one too small, in no particular order
    queues = [q("Z", status=QueueStatus.OFFLINE), q("M", cores=2), q("B", cores=1)]
    # when brokering a 2-core job
    decision = broker(req(cores=2), queues, {})
    # then the summary names the choice and every rejection in queue-name order
    assert decision.summary() == (
        "chosen M (weight 0.1); rejected: B: job needs 2 core(s) but queue has 1; Z: queue is offline"
    )


def test_summary_without_rejections() -> None:
    assert (
        broker(req(), [q("A")], {QueueName("A"): QueueLoad(running=2)}).summary() == "chosen A (weight 0.3)"
    )


def test_summary_when_nothing_fits() -> None:
    decision = broker(req(memory=3000), [q("B"), q("A", status=QueueStatus.BROKEROFF)], {})
    assert decision.summary() == (
        "no queue: A: queue is brokeroff (takes no new jobs from brokerage); "
        "B: memory 3000 MB for 1 core(s) exceeds queue limit 2000 MB/core x 1 = 2000 MB"
    )
    assert broker(req(), [], {}).summary() == "no queue: no queues configured"


def test_decision_is_immutable() -> None:
    source = {QueueName("A"): Rejection("x", permanent=True)}
    decision = BrokerageDecision(ranked=(), rejected=source)
    source[QueueName("B")] = Rejection("y", permanent=False)
    assert list(decision.rejected) == ["A"]
    with pytest.raises(TypeError):
        decision.rejected[QueueName("C")] = Rejection("z", permanent=True)  # type: ignore[index]
    assert decision == BrokerageDecision(ranked=(), rejected={QueueName("A"): Rejection("x", permanent=True)})
    assert hash(decision) == hash(BrokerageDecision(ranked=(), rejected={}))


# --- properties ---------------------------------------------------------------------------------------

NAMES = ["A", "B", "C", "D", "E", "F"]
small = st.integers(min_value=0, max_value=50)

queue_specs = st.builds(
    QueueSpec,
    name=st.sampled_from(NAMES).map(QueueName),
    status=st.sampled_from(list(QueueStatus)),
    cores=st.integers(min_value=1, max_value=16),
    max_memory_per_core=st.integers(min_value=0, max_value=4000),
    max_walltime=st.integers(min_value=0, max_value=200000),
    max_disk=st.integers(min_value=0, max_value=10000),
    max_queued=small,
)
queue_lists = st.lists(queue_specs, max_size=len(NAMES), unique_by=lambda s: s.name)
load_maps = st.dictionaries(
    st.sampled_from(NAMES).map(QueueName),
    st.builds(
        QueueLoad, defined=small, assigned=small, activated=small, sent=small, starting=small, running=small
    ),
)
patterns = st.lists(st.sampled_from(["A", "B*", "*", "[CD]", "?", "Z*"]), max_size=2).map(tuple)
requests = st.builds(
    req,
    memory=st.integers(min_value=0, max_value=40000),
    cores=st.integers(min_value=1, max_value=16),
    walltime=st.integers(min_value=0, max_value=200000),
    disk=st.integers(min_value=0, max_value=10000),
    label=st.sampled_from(list(ProdSourceLabel)),
    included=patterns,
    excluded=patterns,
)


def _satisfies_permanent_constraints(request: BrokerageRequest, queue: QueueSpec) -> bool:
    res, name = request.resources, str(queue.name)
    return (
        not any(fnmatchcase(name, p) for p in request.excluded_sites)
        and (not request.included_sites or any(fnmatchcase(name, p) for p in request.included_sites))
        and (queue.status is not QueueStatus.TEST or request.prod_source_label in TEST_LABELS)
        and res.cores <= queue.cores
        and (
            res.memory == 0
            or queue.max_memory_per_core == 0
            or res.memory <= queue.max_memory_per_core * res.cores
        )
        and (res.walltime == 0 or queue.max_walltime == 0 or res.walltime <= queue.max_walltime)
        and (queue.max_disk == 0 or res.disk <= queue.max_disk)
    )


@given(request=requests, queues=queue_lists, loads=load_maps)
def test_brokerage_properties(
    request: BrokerageRequest, queues: list[QueueSpec], loads: dict[QueueName, QueueLoad]
) -> None:
    decision = broker(request, queues, loads)
    by_name = {s.name: s for s in queues}
    ranked_names = [name for name, _ in decision.ranked]
    # every queue appears exactly once in ranked or rejected
    assert sorted(ranked_names + list(decision.rejected)) == sorted(by_name)
    assert len(set(ranked_names)) == len(ranked_names)
    assert not set(ranked_names) & set(decision.rejected)
    # weights are non-increasing, ties ordered by name
    keys = [(-w, name) for name, w in decision.ranked]
    assert keys == sorted(keys)
    # every ranked queue (so the chosen one) satisfies every permanent constraint and is online/test
    for name in ranked_names:
        assert _satisfies_permanent_constraints(request, by_name[name])
        assert by_name[name].status in (QueueStatus.ONLINE, QueueStatus.TEST)
    # a permanent rejection really violates a permanent constraint
    for name, rejection in decision.rejected.items():
        if rejection.permanent:
            assert not _satisfies_permanent_constraints(request, by_name[name])
    # the decision is deterministic and independent of input order
    assert broker(request, list(reversed(queues)), loads) == decision
    assert decision.hopeless == (not decision.ranked and all(r.permanent for r in decision.rejected.values()))


def _scout() -> BrokerageRequest:
    return BrokerageRequest(ResourceRequest(cores=1), ProdSourceLabel.MANAGED, long_queues=True)


def test_scouts_go_to_queues_of_24_hours_when_there_are_any() -> None:
    queues = [q("SHORT", max_walltime=12 * 3600), q("LONG", max_walltime=48 * 3600), q("NOLIMIT")]
    d = broker(_scout(), queues, {QueueName("SHORT"): QueueLoad(running=100)})
    assert [n for n, _w in d.ranked] == ["LONG", "NOLIMIT"]
    assert d.rejected[QueueName("SHORT")].reason == (
        "scout: maxtime 43200 s < 24 h while a longer queue can run it"
    )
    assert not d.rejected[QueueName("SHORT")].permanent
    assert d.notes[QueueName("LONG")] == "scout: maxtime >= 24 h"
    assert "scout: maxtime >= 24 h" in d.summary()
    # not a scout: the short, busy queue is the best
    plain = broker(
        BrokerageRequest(ResourceRequest(cores=1), ProdSourceLabel.MANAGED),
        queues,
        {QueueName("SHORT"): QueueLoad(running=100)},
    )
    assert plain.chosen == "SHORT"


def test_scouts_without_a_long_queue_still_run_with_the_reason_noted() -> None:
    d = broker(_scout(), [q("SHORT", max_walltime=3600)], {})
    assert d.chosen == "SHORT" and d.notes[QueueName("SHORT")] == "scout: no queue with maxtime >= 24 h"

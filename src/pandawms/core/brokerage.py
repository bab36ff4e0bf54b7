"""Job brokerage: choose a PanDA queue for a job from frozen queue specs and loads (scheduling.md §3).

Pure and deterministic: every queue ends up either ranked (best first, ties by name) or rejected with a reason
that says whether it is permanent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType

from pandawms.core.dispatch import TEST_LABELS  # the labels a queue in status test takes (one definition)
from pandawms.core.ids import QueueName
from pandawms.core.locality import Locality, data_refusal, locality_weight
from pandawms.core.specs import ProdSourceLabel, QueueLoad, QueueSpec, QueueStatus, ResourceRequest

_NO_LOAD = QueueLoad()


@dataclass(frozen=True, slots=True)
class BrokerageRequest:
    """What brokerage needs of a job: resources, label and the user's site lists (fnmatch patterns)."""

    resources: ResourceRequest
    prod_source_label: ProdSourceLabel
    included_sites: tuple[str, ...] = ()
    excluded_sites: tuple[str, ...] = ()
    long_queues: bool = False  # a scout: queues with maxtime >= 24 h when there are any (§6)


LONG_QUEUE_S = 24 * 3600  # scheduling.md §3.1/§6: scouts (walltime still unknown) need maxtime >= 24 h
SCOUT_FLAG = "sj"  # a scout job's specialHandling (JEDI's)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a queue was refused; ``permanent`` means the job can never run there as configured."""

    reason: str
    permanent: bool


@dataclass(frozen=True, slots=True)
class BrokerageDecision:
    """Acceptable queues ranked best first with their weight, and every other queue with its rejection."""

    ranked: tuple[tuple[QueueName, float], ...]
    rejected: Mapping[QueueName, Rejection] = field(hash=False)
    notes: Mapping[QueueName, str] = field(default_factory=dict, hash=False)  # data locality per ranked queue

    def __post_init__(self) -> None:
        # Freeze whatever mappings the caller gave, in queue-name order, so the decision is immutable.
        object.__setattr__(self, "rejected", MappingProxyType(dict(sorted(self.rejected.items()))))
        object.__setattr__(self, "notes", MappingProxyType(dict(sorted(self.notes.items()))))

    @property
    def chosen(self) -> QueueName | None:
        """The best queue, or None when no queue is acceptable."""
        return self.ranked[0][0] if self.ranked else None

    @property
    def hopeless(self) -> bool:
        """True when nothing is ranked and no rejection can go away (or there are no queues at all)."""
        return not self.ranked and all(r.permanent for r in self.rejected.values())

    def summary(self) -> str:
        """One line for users: the chosen queue and weight, then every rejection ordered by queue name."""
        reasons = "; ".join(f"{name}: {rej.reason}" for name, rej in sorted(self.rejected.items()))
        if not self.ranked:
            return f"no queue: {reasons or 'no queues configured'}"
        name, weight = self.ranked[0]
        note = f"; {self.notes[name]}" if name in self.notes else ""
        head = f"chosen {name} (weight {weight:.4g}{note})"
        return f"{head}; rejected: {reasons}" if reasons else head


_Filter = Callable[[BrokerageRequest, QueueSpec, QueueLoad], Rejection | None]


def _check_site_lists(request: BrokerageRequest, queue: QueueSpec, load: QueueLoad) -> Rejection | None:
    name = str(queue.name)
    for pattern in request.excluded_sites:
        if fnmatchcase(name, pattern):
            return Rejection(f"excluded by excluded_sites pattern {pattern!r}", permanent=True)
    if request.included_sites and not any(fnmatchcase(name, p) for p in request.included_sites):
        listed = ", ".join(request.included_sites)
        return Rejection(f"not in included_sites ({listed})", permanent=True)
    return None


def _check_status(request: BrokerageRequest, queue: QueueSpec, load: QueueLoad) -> Rejection | None:
    if queue.status is QueueStatus.OFFLINE:
        return Rejection("queue is offline", permanent=False)
    if queue.status is QueueStatus.BROKEROFF:
        return Rejection("queue is brokeroff (takes no new jobs from brokerage)", permanent=False)
    if queue.status is QueueStatus.TEST and request.prod_source_label not in TEST_LABELS:
        allowed = "/".join(sorted(label.value for label in TEST_LABELS))
        label = request.prod_source_label.value
        return Rejection(f"test queue accepts only {allowed} jobs, not {label}", permanent=True)
    return None


def _check_cores(request: BrokerageRequest, queue: QueueSpec, load: QueueLoad) -> Rejection | None:
    cores = request.resources.cores
    if cores > queue.cores:
        return Rejection(f"job needs {cores} core(s) but queue has {queue.cores}", permanent=True)
    return None


def _check_memory(request: BrokerageRequest, queue: QueueSpec, load: QueueLoad) -> Rejection | None:
    memory = request.resources.memory
    cores = max(request.resources.cores, 1)
    limit = queue.max_memory_per_core * cores
    if memory > 0 and queue.max_memory_per_core > 0 and memory > limit:
        return Rejection(
            f"memory {memory} MB for {cores} core(s) exceeds queue limit "
            f"{queue.max_memory_per_core} MB/core x {cores} = {limit} MB",
            permanent=True,
        )
    return None


def _check_walltime(request: BrokerageRequest, queue: QueueSpec, load: QueueLoad) -> Rejection | None:
    walltime = request.resources.walltime
    if walltime > 0 and queue.max_walltime > 0 and walltime > queue.max_walltime:
        return Rejection(f"walltime {walltime} s exceeds queue limit {queue.max_walltime} s", permanent=True)
    return None


def _check_disk(request: BrokerageRequest, queue: QueueSpec, load: QueueLoad) -> Rejection | None:
    disk = request.resources.disk
    if queue.max_disk > 0 and disk > queue.max_disk:
        return Rejection(f"disk {disk} MB exceeds queue limit {queue.max_disk} MB", permanent=True)
    return None


def _check_queued(request: BrokerageRequest, queue: QueueSpec, load: QueueLoad) -> Rejection | None:
    if queue.max_queued > 0 and load.queued >= queue.max_queued:
        return Rejection(
            f"queue full: {load.queued} jobs queued (defined+assigned+activated) >= max_queued "
            f"{queue.max_queued}",
            permanent=False,
        )
    return None


FILTERS: tuple[_Filter, ...] = (
    _check_site_lists,
    _check_status,
    _check_cores,
    _check_memory,
    _check_walltime,
    _check_disk,
    _check_queued,
)
"""The filters in the order they run; the first one that refuses gives the queue's reason."""


def queue_weight(load: QueueLoad) -> float:
    """Weight without data locality: ``(R + 1) / (activated + assigned + starting + defined + 10)``."""
    waiting = load.activated + load.assigned + load.starting + load.defined
    return (load.running + 1) / (waiting + 10)


def check_queue(request: BrokerageRequest, queue: QueueSpec, load: QueueLoad) -> Rejection | None:
    """Run the filters on one queue; None when the queue is acceptable."""
    for check in FILTERS:
        rejection = check(request, queue, load)
        if rejection is not None:
            return rejection
    return None


@dataclass(frozen=True, slots=True)
class DataView:
    """A job's catalog inputs seen from each queue, and the RSEs that take no writes (no transfers in)."""

    localities: Mapping[QueueName, Locality]
    unwritable: frozenset[str] = frozenset()

    def refusal(self, queue: QueueSpec) -> Rejection | None:
        refused = data_refusal(queue, self.localities[queue.name], queue.ddm_input not in self.unwritable)
        return Rejection(*refused) if refused is not None else None


def broker(
    request: BrokerageRequest,
    queues: Sequence[QueueSpec],
    loads: Mapping[QueueName, QueueLoad],
    data: DataView | None = None,
) -> BrokerageDecision:
    """Rank every acceptable queue by weight (descending, ties by name) and give every other queue a reason.

    With ``data`` (a job with catalog inputs) the weight follows the inputs (core.locality) and each
    ranked queue gets a note saying how much is there. Queues missing from ``loads`` count as empty.
    Raises ValueError if two queues share a name.
    """
    accepted: list[tuple[QueueName, float]] = []
    rejected: dict[QueueName, Rejection] = {}
    notes: dict[QueueName, str] = {}
    seen: set[QueueName] = set()
    for queue in queues:
        if queue.name in seen:
            raise ValueError(f"queue {queue.name!r} is listed twice")
        seen.add(queue.name)
        load = loads.get(queue.name, _NO_LOAD)
        rejection = check_queue(request, queue, load) or (data.refusal(queue) if data else None)
        if rejection is not None:
            rejected[queue.name] = rejection
        elif data is None:
            accepted.append((queue.name, queue_weight(load)))
        else:
            loc = data.localities[queue.name]
            accepted.append((queue.name, locality_weight(load, loc)))
            notes[queue.name] = loc.reason()
    if request.long_queues:
        accepted = _long_queues_first(queues, accepted, rejected, notes)
    accepted.sort(key=lambda item: (-item[1], item[0]))
    return BrokerageDecision(ranked=tuple(accepted), rejected=rejected, notes=notes)


def _is_long(queue: QueueSpec) -> bool:
    return queue.max_walltime == 0 or queue.max_walltime >= LONG_QUEUE_S  # 0: no limit


def _long_queues_first(
    queues: Sequence[QueueSpec],
    accepted: list[tuple[QueueName, float]],
    rejected: dict[QueueName, Rejection],
    notes: dict[QueueName, str],
) -> list[tuple[QueueName, float]]:
    """A scout goes to an acceptable queue with maxtime >= 24 h; the shorter ones are refused (not
    permanently) while there is one, else kept with a note saying none was long enough."""
    by_name = {q.name: q for q in queues}
    long = [(n, w) for n, w in accepted if _is_long(by_name[n])]
    if not long:
        for n, _w in accepted:
            notes[n] = "; ".join(filter(None, [notes.get(n), "scout: no queue with maxtime >= 24 h"]))
        return accepted
    for n, _w in accepted:
        if not _is_long(by_name[n]):
            why = f"scout: maxtime {by_name[n].max_walltime} s < 24 h while a longer queue can run it"
            rejected[n] = Rejection(why, permanent=False)
            notes.pop(n, None)
    for n, _w in long:
        notes[n] = "; ".join(filter(None, [notes.get(n), "scout: maxtime >= 24 h"]))
    return long

"""Jobs follow the data: how much of a job's input a queue can read, the weight it earns, and what the
Setupper must do for it (scheduling.md §3 and §12). Pure: the replicas and RSEs come in as frozen data.

A queue reads the available replicas at its ``ddm_input`` RSE and at the RSEs near its site
(core.data.nearby_rses). Inputs only elsewhere go to the queue's ``ddm_input`` through a ``_dis``
dispatch block; an input with no available replica anywhere (another job will produce it) makes the job
wait.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pandawms.core.data import DID
from pandawms.core.specs import FileSpec, FileType, QueueLoad, QueueSpec
from pandawms.core.states import FileState

GB = 1_000_000_000


@dataclass(frozen=True, slots=True)
class InputFile:
    """A job's catalog input: its size and the RSEs holding an available replica (empty: none yet)."""

    did: DID
    bytes: int
    rses: frozenset[str]


@dataclass(frozen=True, slots=True)
class Locality:
    """A job's inputs seen from one queue: read in place, to transfer to ``rse``, or absent everywhere."""

    rse: str  # the queue's ddm_input ("" when it has none)
    total_bytes: int
    local_bytes: int
    local_files: int
    to_move: tuple[InputFile, ...]
    absent: tuple[DID, ...]
    sources: tuple[str, ...] = ()  # the readable RSEs the local inputs are read from

    @property
    def fully_local(self) -> bool:
        return not self.to_move and not self.absent

    @property
    def fraction(self) -> float:
        """The share of the input bytes readable at the queue (by file count when every size is 0)."""
        if self.total_bytes:
            return self.local_bytes / self.total_bytes
        n = self.local_files + len(self.to_move) + len(self.absent)
        return self.local_files / n if n else 1.0

    @property
    def bytes_to_move(self) -> int:
        return sum(f.bytes for f in self.to_move)

    def reason(self) -> str:
        """What brokerage says about the data: "inputs 100 % at X" or "0 % at X, 2.3 GB to transfer"."""
        where = "+".join(self.sources) or self.rse or "the queue (no ddm_input)"
        head = f"inputs {self.fraction * 100:.0f} % at {where}"
        parts = [head]
        if self.to_move:
            parts.append(f"{self.bytes_to_move / GB:.1f} GB to transfer ({len(self.to_move)} files)")
        if self.absent:
            parts.append(f"{len(self.absent)} not produced yet")
        return ", ".join(parts)


def locality(inputs: Sequence[InputFile], readable: frozenset[str], rse: str) -> Locality:
    """Split ``inputs`` for a queue that reads the RSEs in ``readable`` and receives transfers at ``rse``."""
    local_bytes = local_files = 0
    to_move: list[InputFile] = []
    absent: list[DID] = []
    sources: set[str] = set()
    for f in inputs:
        here = f.rses & readable
        if here:
            local_bytes += f.bytes
            local_files += 1
            sources.add(rse if rse in here else min(here))
        elif f.rses:
            to_move.append(f)
        else:
            absent.append(f.did)
    total = sum(f.bytes for f in inputs)
    return Locality(
        rse, total, local_bytes, local_files, tuple(to_move), tuple(absent), tuple(sorted(sources))
    )


def locality_weight(load: QueueLoad, loc: Locality) -> float:
    """PanDA's production weight with data (scheduling.md §3.1).

    Fully local: ``(R + 1) / (activated + starting + defined + 10)``; else the assigned jobs count too and
    ``manyAssigned = clamp((assigned + 1) / (activated + 1), 1, 2)`` divides. Then ``w *= (total + local) /
    total / (nFilesToMove / 100 + 1)`` (the local share as a fraction, so zero-byte inputs count by file).
    """
    r = load.running + 1
    if loc.fully_local:
        w = r / (load.activated + load.starting + load.defined + 10)
    else:
        many_assigned = min(max((load.assigned + 1) / (load.activated + 1), 1.0), 2.0)
        w = r / (load.activated + load.assigned + load.starting + load.defined + 10) / many_assigned
    return w * (1.0 + loc.fraction) / (len(loc.to_move) / 100 + 1)


def data_refusal(queue: QueueSpec, loc: Locality, writable: bool) -> tuple[str, bool] | None:
    """Why a queue cannot get the job's inputs, (reason, permanent); None when it can."""
    if not loc.to_move:
        return None
    moving = loc.reason()
    if not queue.ddm_input:
        return f"{moving}, but the queue has no ddm_input RSE to transfer them to", True
    if not writable:
        return f"{moving}, but {queue.ddm_input} is not available for writing", False
    return None


class SetupAction(StrEnum):
    """What the Setupper does with a brokered job (states.md §1.1)."""

    ACTIVATE = "activate"  # every input readable at the queue: defined -> activated
    ASSIGN = "assign"  # some only elsewhere: a _dis block + rule, defined -> assigned
    WAIT = "wait"  # an input exists nowhere yet: waiting until it is registered


def setup_action(loc: Locality) -> SetupAction:
    if loc.absent:
        return SetupAction.WAIT
    return SetupAction.ASSIGN if loc.to_move else SetupAction.ACTIVATE


def readable_rses(
    queues: Sequence[QueueSpec], nearby: Mapping[str, frozenset[str]]
) -> dict[str, frozenset[str]]:
    """Per queue name: its ddm_input plus the RSEs near its site (``nearby``: site -> RSE names)."""
    out: dict[str, frozenset[str]] = {}
    for q in queues:
        own = frozenset({q.ddm_input}) if q.ddm_input else frozenset()
        out[str(q.name)] = own | nearby.get(q.site, frozenset())
    return out


def input_states(files: Sequence[FileSpec], loc: Locality) -> tuple[FileSpec, ...]:
    """The job's file rows with its catalog inputs' states (states.md §4): ``ready`` where the queue
    reads them, ``pending`` while a transfer brings them, ``missing`` while no replica exists."""
    moving = {(f.did.scope, f.did.name) for f in loc.to_move}
    absent = {(d.scope, d.name) for d in loc.absent}
    out = []
    for f in files:
        if f.type is not FileType.INPUT or not (f.scope or ":" in f.dataset):
            out.append(f)  # not a catalog file (core.data.job_file_did's rule)
            continue
        key = (f.scope or f.dataset.partition(":")[0], f.lfn)
        state = (
            FileState.PENDING if key in moving else FileState.MISSING if key in absent else FileState.READY
        )
        out.append(_with_status(f, state.value))
    return tuple(out)


def _with_status(f: FileSpec, status: str) -> FileSpec:
    # Spelled out: dataclasses.replace costs several times more, and this runs for every input row.
    return FileSpec(
        f.lfn, f.type, f.scope, f.dataset, f.guid, f.fsize, f.checksum, status, f.destination_se, f.surl
    )

"""What the rules on a job's blocks say about the job (scheduling.md §12), pure: the Activator moves an
``assigned`` job once its ``_dis`` rule is ok, the Finisher a ``transferring`` job once its ``_sub`` rule
is ok; a stuck rule fails the job with PanDA's DDM error. The Adder's choice between ``finished`` and
``transferring`` is here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pandawms.core.states import RuleStatus


class Verdict(StrEnum):
    PROCEED = "proceed"  # every rule ok: the data is where the job needs it
    WAIT = "wait"  # still replicating
    FAIL = "fail"  # a rule is stuck (or the block has none): the job fails with a DDM error


@dataclass(frozen=True, slots=True)
class BlockVerdict:
    verdict: Verdict
    reason: str = ""


def block_verdict(block: str, statuses: Sequence[RuleStatus | None]) -> BlockVerdict:
    """The rules of one block (None: a rule id whose status was not found) -> what its jobs do."""
    if not statuses or any(s is None for s in statuses):
        return BlockVerdict(Verdict.FAIL, f"block {block} has no replication rule")
    if any(s is RuleStatus.STUCK for s in statuses):
        return BlockVerdict(Verdict.FAIL, f"the rule of block {block} is stuck: its files cannot be copied")
    if all(s is RuleStatus.OK for s in statuses):
        return BlockVerdict(Verdict.PROCEED)
    return BlockVerdict(Verdict.WAIT)


def outputs_at_destination(destination: str, endpoints: Iterable[str]) -> bool:
    """Whether the outputs are already where they must end up (no destination: wherever they were written)."""
    return not destination or all(e == destination for e in endpoints)

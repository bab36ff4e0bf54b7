"""What a job transition does besides changing the status, keyed by (from, to) beside JOB_TRANSITIONS.

services/lifecycle.transition applies these rules for every caller (API, pilot updates, watchdogs,
kill, brokerage), so a new state or rule is one edit here. Modelled on Prefect's orchestration rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pandawms.core.states import JobStatus, is_allowed

S = JobStatus


@dataclass(frozen=True, slots=True)
class Rule:
    stamp_start: bool = False  # set start_time (if the change has none) to now
    stamp_end: bool = False  # set end_time (if the change has none) to now
    retry: bool = False  # the job gets its retry decision in the same transaction
    if_kill_pending: JobStatus | None = None  # the job ends here instead when a kill was requested


_END = Rule(stamp_end=True)
_FAIL = Rule(stamp_end=True, retry=True, if_kill_pending=S.CANCELLED)

# (from, to) -> rule; ``None`` as from = any state. The exact pair wins over the wildcard.
TRANSITION_RULES: Mapping[tuple[JobStatus | None, JobStatus], Rule] = MappingProxyType(
    {
        (None, S.FINISHED): Rule(stamp_end=True, if_kill_pending=S.CANCELLED),
        (None, S.FAILED): _FAIL,
        (None, S.CANCELLED): _END,
        (None, S.CLOSED): _END,
        (S.SENT, S.RUNNING): Rule(stamp_start=True),
        (S.STARTING, S.RUNNING): Rule(stamp_start=True),
    }
)
NO_RULE = Rule()


def rule_for(current: JobStatus, target: JobStatus) -> Rule:
    return TRANSITION_RULES.get((current, target)) or TRANSITION_RULES.get((None, target)) or NO_RULE


@dataclass(frozen=True, slots=True)
class Plan:
    """The decided transition: the path written (current, via..., target) and the rule of its last step."""

    path: tuple[JobStatus, ...]
    rule: Rule
    refusal: str = ""

    @property
    def target(self) -> JobStatus:
        return self.path[-1]


def plan_transition(
    current: JobStatus,
    target: JobStatus,
    via: tuple[JobStatus, ...] = (),
    *,
    kill_pending: bool = False,
    only_from: frozenset[JobStatus] | None = None,
) -> Plan:
    """Decide current -> via... -> target (redirected when a kill is pending); a refusal names the path."""
    redirect = rule_for(via[-1] if via else current, target).if_kill_pending
    if kill_pending and redirect is not None:
        target = redirect
    path = (current, *via, target)
    rule = rule_for(path[-2], target)
    if not all(is_allowed(a, b) for a, b in itertools.pairwise(path)):
        return Plan(path, rule, "cannot go " + " -> ".join(s.value for s in path))
    if only_from is not None and current not in only_from:
        return Plan(path, rule, f"is {current.value}, not {'/'.join(sorted(s.value for s in only_from))}")
    return Plan(path, rule)

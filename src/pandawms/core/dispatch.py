"""Pure dispatch rules: which labels a pilot's request serves and what a claimable job must fit."""

from __future__ import annotations

from dataclasses import dataclass

from pandawms.core.specs import ProdSourceLabel, QueueSpec, QueueStatus

L = ProdSourceLabel

# Requested label -> labels served (reference scheduling.md §7).
SERVED_LABELS: dict[str, frozenset[ProdSourceLabel]] = {
    "user": frozenset({L.USER, L.PANDA, L.INSTALL}),
    "managed": frozenset({L.MANAGED, L.TEST, L.PROD_TEST, L.INSTALL}),
    "test": frozenset({L.TEST, L.PTEST, L.PROD_TEST, L.INSTALL}),
    "ptest": frozenset({L.TEST, L.PTEST, L.PROD_TEST, L.INSTALL}),
    "unified": frozenset(ProdSourceLabel),
}
TEST_LABELS = SERVED_LABELS["test"]
"""The only labels a queue in status ``test`` takes, in brokerage and at dispatch."""


@dataclass(frozen=True, slots=True)
class ClaimCriteria:
    """What a pilot can run: the queue, served labels and its resources (0 = not limited)."""

    queue: str  # the PanDA queue (computingSite) the pilot serves
    labels: frozenset[ProdSourceLabel]
    memory: int = 0
    disk: int = 0
    cores: int = 0
    remaining_time: int = 0
    # global shares to serve first, most under-served first (services/shares.py); then any job
    shares: tuple[str, ...] = ()


def served_labels(requested: str | None, queue: QueueSpec) -> frozenset[ProdSourceLabel]:
    """Labels a request may receive; a queue in test status serves only test labels. ValueError if unknown."""
    key = requested or "unified"
    if key not in SERVED_LABELS:
        raise ValueError(f"unknown prod_source_label {key!r}; expected one of: {', '.join(SERVED_LABELS)}")
    labels = SERVED_LABELS[key]
    if queue.status is QueueStatus.TEST:
        labels = labels & TEST_LABELS
    return labels


def dispatch_refusal(queue: QueueSpec) -> str | None:
    """Why a queue hands out no job at all, or None when it may dispatch."""
    if queue.status is QueueStatus.OFFLINE:
        return f"queue {queue.name} is offline"
    return None

"""Per-item outcomes of the bulk actions: kill / reassign / retry on jobs, worker reports from factories.

Bulk calls answer one outcome per id; these enums are the only values the server sends.
"""

from __future__ import annotations

from enum import StrEnum


class ActionOutcome(StrEnum):
    """What a kill, reassign or retry did to one job."""

    DONE = "done"  # acted at once (job ended, or new attempt created)
    REQUESTED = "requested"  # a pilot holds the job: it is told to kill it at its next heartbeat
    NOOP = "noop"  # nothing to do: already final, or already retried
    REJECTED = "rejected"  # not allowed in the job's current status (the message says why)
    NOTFOUND = "notfound"


# Outcomes counted as "acted on" in the answer's message.
ACTED_ON: frozenset[ActionOutcome] = frozenset({ActionOutcome.DONE, ActionOutcome.REQUESTED})


class WorkerReportOutcome(StrEnum):
    """What update_workers did with one worker report (a transition's outcome, or why there was none)."""

    ACCEPTED = "accepted"
    NOOP = "noop"  # the worker is already in the reported status: a repeat
    REJECTED = "rejected"  # not allowed from the worker's status, or the worker is another factory's
    NOTFOUND = "notfound"

"""Job state machine as data: the allowed transitions, terminal set and state groups (reference/states.md §1).

Adding a state is editing JOB_TRANSITIONS. services/lifecycle.py is the only code that applies it.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    DEFINED = "defined"
    WAITING = "waiting"
    ASSIGNED = "assigned"
    ACTIVATED = "activated"
    SENT = "sent"
    STARTING = "starting"
    RUNNING = "running"
    HOLDING = "holding"
    TRANSFERRING = "transferring"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CLOSED = "closed"


S = JobStatus

FINAL_STATES: frozenset[JobStatus] = frozenset({S.FINISHED, S.FAILED, S.CANCELLED, S.CLOSED})
# Before a pilot has the job: killing these ends them at once (closed/cancelled by kill code).
PRE_DISPATCH_STATES: frozenset[JobStatus] = frozenset({S.DEFINED, S.WAITING, S.ASSIGNED, S.ACTIVATED})
# A pilot holds the job: a kill becomes commandToPilot='tobekilled', ended at the next heartbeat.
PILOT_STATES: frozenset[JobStatus] = frozenset({S.SENT, S.STARTING, S.RUNNING})
ACTIVE_STATES: frozenset[JobStatus] = frozenset(set(JobStatus) - FINAL_STATES)
# States the pilot may report in update_job (protocol.md §4).
PILOT_REPORTABLE: frozenset[str] = frozenset(
    {"starting", "running", "holding", "transferring", "finished", "failed"}
)

_ENDS = {S.FAILED, S.CANCELLED, S.CLOSED}

JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.DEFINED: frozenset({S.ASSIGNED, S.ACTIVATED, S.WAITING, *_ENDS}),
    S.WAITING: frozenset({S.DEFINED, S.ACTIVATED, *_ENDS}),
    S.ASSIGNED: frozenset({S.ACTIVATED, *_ENDS}),
    S.ACTIVATED: frozenset({S.SENT, *_ENDS}),
    S.SENT: frozenset({S.STARTING, S.RUNNING, S.HOLDING, *_ENDS}),
    S.STARTING: frozenset({S.RUNNING, S.HOLDING, S.TRANSFERRING, *_ENDS}),
    S.RUNNING: frozenset({S.HOLDING, S.TRANSFERRING, *_ENDS}),
    S.HOLDING: frozenset({S.TRANSFERRING, S.FINISHED, *_ENDS}),
    S.TRANSFERRING: frozenset({S.FINISHED, *_ENDS}),
    S.FINISHED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.CLOSED: frozenset(),
}


def is_allowed(current: JobStatus, target: JobStatus) -> bool:
    """True when the table allows current -> target (a same-state write is not a transition)."""
    return target in JOB_TRANSITIONS[current]


def parse_status(value: str) -> JobStatus:
    """Parse a status string; raises ValueError naming the allowed values."""
    try:
        return JobStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
        raise ValueError(f"unknown job status {value!r}; expected one of: {allowed}") from None


class FileState(StrEnum):
    """A job file row's state (reference states.md §4; PanDA's filesTable4 status). Inputs: ready (readable
    at the queue), pending (a _dis transfer brings it), missing (no replica yet). Outputs: transferring
    (registered, shipping to the destination), ready (at the destination), failed (the job failed)."""

    READY = "ready"
    PENDING = "pending"
    MISSING = "missing"
    TRANSFERRING = "transferring"
    FAILED = "failed"


class WorkerStatus(StrEnum):
    """Factory worker (pilot slot) states (reference states.md §7)."""

    SUBMITTED = "submitted"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"


W = WorkerStatus
_WORKER_ENDS = frozenset({W.FINISHED, W.FAILED, W.CANCELLED, W.MISSED})
WORKER_FINAL_STATES: frozenset[WorkerStatus] = _WORKER_ENDS
WORKER_TRANSITIONS: dict[WorkerStatus, frozenset[WorkerStatus]] = {
    W.SUBMITTED: frozenset({W.RUNNING, *_WORKER_ENDS}),
    W.RUNNING: _WORKER_ENDS,
    W.FINISHED: frozenset(),
    W.FAILED: frozenset(),
    W.CANCELLED: frozenset(),
    W.MISSED: frozenset(),
}


def worker_allowed(current: WorkerStatus, target: WorkerStatus) -> bool:
    return target in WORKER_TRANSITIONS[current]


def worker_stamps(target: WorkerStatus) -> tuple[bool, bool]:
    """(stamp start_time, stamp end_time) when a worker enters ``target``: running starts it, ends end it."""
    return target is W.RUNNING, target in WORKER_FINAL_STATES


# -- data catalog: datasets/containers and replicas (reference states.md §3 and §4; Rucio's vocabulary) --
# services/lifecycle_data.py is the only code that applies these tables.


class DatasetStatus(StrEnum):
    """A dataset's or container's state: open takes new content, closed takes none, frozen never changes."""

    OPEN = "open"
    CLOSED = "closed"
    FROZEN = "frozen"


DATASET_TRANSITIONS: dict[DatasetStatus, frozenset[DatasetStatus]] = {
    DatasetStatus.OPEN: frozenset({DatasetStatus.CLOSED, DatasetStatus.FROZEN}),
    # closed -> open: reopened for a retried task's outputs (Rucio lets an admin reopen a dataset)
    DatasetStatus.CLOSED: frozenset({DatasetStatus.OPEN, DatasetStatus.FROZEN}),
    DatasetStatus.FROZEN: frozenset(),
}
# Contents may be attached or detached only in these states; a frozen DID is never deleted.
DATASET_MUTABLE: frozenset[DatasetStatus] = frozenset({DatasetStatus.OPEN})
DATASET_DELETABLE: frozenset[DatasetStatus] = frozenset({DatasetStatus.OPEN, DatasetStatus.CLOSED})


class ReplicaStatus(StrEnum):
    """A file's copy on one RSE: copying while a transfer writes it, bad once found missing or corrupt."""

    AVAILABLE = "available"
    COPYING = "copying"
    UNAVAILABLE = "unavailable"
    BAD = "bad"


_R = ReplicaStatus
REPLICA_TRANSITIONS: dict[ReplicaStatus, frozenset[ReplicaStatus]] = {
    _R.COPYING: frozenset({_R.AVAILABLE, _R.UNAVAILABLE, _R.BAD}),
    _R.AVAILABLE: frozenset({_R.UNAVAILABLE, _R.BAD}),
    _R.UNAVAILABLE: frozenset({_R.AVAILABLE, _R.COPYING, _R.BAD}),
    _R.BAD: frozenset({_R.COPYING}),  # re-copied from another replica
}


def dataset_allowed(current: DatasetStatus, target: DatasetStatus) -> bool:
    return target in DATASET_TRANSITIONS[current]


def replica_allowed(current: ReplicaStatus, target: ReplicaStatus) -> bool:
    return target in REPLICA_TRANSITIONS[current]


# -- transfer service: replication rules and transfer requests (Rucio's rule and request states) --
# services/lifecycle_data.py is the only code that applies these tables.


class RuleStatus(StrEnum):
    """A replication rule (DID -> RSE): ok once every file has an available replica at the RSE, stuck
    when a transfer of it failed for good (a re-evaluation or a new copy moves it back to replicating)."""

    REPLICATING = "replicating"
    OK = "ok"
    STUCK = "stuck"


RULE_TRANSITIONS: dict[RuleStatus, frozenset[RuleStatus]] = {
    RuleStatus.REPLICATING: frozenset({RuleStatus.OK, RuleStatus.STUCK}),
    RuleStatus.OK: frozenset({RuleStatus.REPLICATING}),  # a replica it holds was declared bad
    RuleStatus.STUCK: frozenset({RuleStatus.REPLICATING, RuleStatus.OK}),
}


class TransferStatus(StrEnum):
    """One copy of one file to a rule's RSE: queued (runnable at next_attempt_at), submitted (claimed by
    an agent under a lease), done, failed (attempts exhausted)."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    DONE = "done"
    FAILED = "failed"


_T = TransferStatus
TRANSFER_TRANSITIONS: dict[TransferStatus, frozenset[TransferStatus]] = {
    _T.QUEUED: frozenset({_T.SUBMITTED, _T.DONE}),  # done: the file arrived through another request
    # queued: a retry after backoff (an expired lease is re-claimed as submitted: a new lease, same state)
    _T.SUBMITTED: frozenset({_T.DONE, _T.QUEUED, _T.FAILED}),
    _T.DONE: frozenset({_T.QUEUED}),  # the copy was later declared bad: copied again
    _T.FAILED: frozenset({_T.QUEUED}),  # re-queued (a new source, or the replica declared bad)
}
TRANSFER_ACTIVE: frozenset[TransferStatus] = frozenset({_T.QUEUED, _T.SUBMITTED})


def rule_allowed(current: RuleStatus, target: RuleStatus) -> bool:
    return target in RULE_TRANSITIONS[current]


def transfer_allowed(current: TransferStatus, target: TransferStatus) -> bool:
    return target in TRANSFER_TRANSITIONS[current]

"""JEDI's task, task-dataset and task-file state machines as data (reference/states.md §2, §3, §4).

A task is the unit users submit: input datasets through a transformation into output datasets. Its
status changes only through services/lifecycle_tasks.py, which applies TASK_TRANSITIONS; commands
(kill, finish, retry, pause, resume, reassign, avalanche) are queued and carried out asynchronously, each
allowed only from the states of COMMAND_ALLOWED_FROM. Progress is counted in input files.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TaskStatus(StrEnum):
    REGISTERED = "registered"
    DEFINED = "defined"
    READY = "ready"
    SCOUTING = "scouting"
    SCOUTED = "scouted"
    RUNNING = "running"
    PREPARED = "prepared"
    DONE = "done"
    FINISHED = "finished"
    FAILED = "failed"
    PENDING = "pending"
    EXHAUSTED = "exhausted"
    PAUSED = "paused"
    TOBROKEN = "tobroken"
    BROKEN = "broken"
    ABORTING = "aborting"
    ABORTED = "aborted"
    FINISHING = "finishing"
    PASSED = "passed"
    TORETRY = "toretry"
    TOREASSIGN = "toreassign"


T = TaskStatus

TASK_FINAL_STATES: frozenset[TaskStatus] = frozenset({T.DONE, T.FINISHED, T.FAILED, T.BROKEN, T.ABORTED})
# JobGenerator works only on these (states.md §2.1 "Other status groups").
GENERATING_STATES: frozenset[TaskStatus] = frozenset({T.READY, T.SCOUTING, T.SCOUTED, T.RUNNING})
# Tasks whose jobs may still be running and whose files are still being accounted.
ACTIVE_TASK_STATES: frozenset[TaskStatus] = frozenset(set(TaskStatus) - TASK_FINAL_STATES)
# setOnHold (-> pending) applies from these; pending returns to the saved old status.
HOLDABLE_STATES: frozenset[TaskStatus] = frozenset(
    {T.READY, T.RUNNING, T.SCOUTING, T.SCOUTED, T.DEFINED, T.REGISTERED, T.PREPARED}
)
# Parameter/attribute changes are refused in these (states.md §2.1).
FROZEN_STATES: frozenset[TaskStatus] = frozenset(
    {T.FINISHED, T.DONE, T.PREPARED, T.BROKEN, T.TOBROKEN, T.ABORTED, T.ABORTING, T.FAILED, T.PASSED}
)

_ANY_ACTIVE = frozenset({T.PENDING, T.PAUSED, T.EXHAUSTED, T.ABORTING, T.FINISHING, T.TOBROKEN, T.TOREASSIGN})

TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    T.REGISTERED: frozenset({T.DEFINED, T.BROKEN, *_ANY_ACTIVE} - {T.EXHAUSTED, T.TOBROKEN}),
    T.DEFINED: frozenset({T.READY, T.BROKEN, *_ANY_ACTIVE} - {T.EXHAUSTED}),
    T.READY: frozenset({T.SCOUTING, T.RUNNING, T.PREPARED, *_ANY_ACTIVE}),
    T.SCOUTING: frozenset({T.SCOUTED, T.RUNNING, T.PREPARED, *_ANY_ACTIVE}),
    T.SCOUTED: frozenset({T.RUNNING, T.PREPARED, *_ANY_ACTIVE}),
    T.RUNNING: frozenset({T.PREPARED, T.READY, *_ANY_ACTIVE}),
    T.PREPARED: frozenset({T.DONE, T.FINISHED, T.FAILED, T.RUNNING, T.PENDING, T.ABORTING, T.FINISHING}),
    T.PENDING: frozenset(
        {T.REGISTERED, T.DEFINED, T.READY, T.SCOUTING, T.SCOUTED, T.RUNNING, T.PREPARED}
        | {T.EXHAUSTED, T.PAUSED, T.ABORTING, T.FINISHING, T.TOBROKEN, T.TOREASSIGN}
    ),
    T.EXHAUSTED: frozenset({T.TORETRY, T.ABORTING, T.FINISHING, T.PAUSED, T.TOREASSIGN, T.READY, T.RUNNING}),
    # resume restores the status saved when pausing
    T.PAUSED: frozenset(
        {T.REGISTERED, T.DEFINED, T.READY, T.SCOUTING, T.SCOUTED, T.RUNNING, T.PREPARED, T.PENDING}
        | {T.EXHAUSTED, T.ABORTING, T.FINISHING, T.TOREASSIGN}
    ),
    T.TOBROKEN: frozenset({T.BROKEN, T.ABORTING}),
    T.ABORTING: frozenset({T.ABORTED}),
    T.FINISHING: frozenset({T.PASSED, T.ABORTING}),
    T.PASSED: frozenset({T.DONE, T.FINISHED, T.FAILED}),
    T.TORETRY: frozenset({T.READY, T.RUNNING, T.ABORTING}),
    T.TOREASSIGN: frozenset({T.READY, T.RUNNING, T.SCOUTING, T.SCOUTED, T.DEFINED, T.ABORTING}),
    T.DONE: frozenset({T.TORETRY}),
    T.FINISHED: frozenset({T.TORETRY}),
    T.FAILED: frozenset({T.TORETRY}),
    T.ABORTED: frozenset({T.TORETRY}),
    T.BROKEN: frozenset(),
}


def task_allowed(current: TaskStatus, target: TaskStatus) -> bool:
    """True when the table allows current -> target (a same-state write is not a transition)."""
    return target in TASK_TRANSITIONS[current]


class TaskCommand(StrEnum):
    """The asynchronous task commands (states.md §2.1), queued by the API and run by the task commando."""

    KILL = "kill"
    FINISH = "finish"
    RETRY = "retry"
    PAUSE = "pause"
    RESUME = "resume"
    REASSIGN = "reassign"
    AVALANCHE = "avalanche"


C = TaskCommand
# Tasks a user command can act on: not final, not already ending or in post-processing.
_NON_FINAL = ACTIVE_TASK_STATES - {T.ABORTING, T.FINISHING, T.PASSED}
_TRANSIENT = frozenset({T.TOBROKEN, T.TORETRY, T.TOREASSIGN})

# Where each command may be given (states.md §2.1); anything else is refused with return code 4.
COMMAND_ALLOWED_FROM: dict[TaskCommand, frozenset[TaskStatus]] = {
    C.KILL: frozenset(_NON_FINAL | {T.FINISHING}),
    C.FINISH: frozenset(_NON_FINAL - _TRANSIENT),
    C.RETRY: frozenset({T.FINISHED, T.FAILED, T.ABORTED, T.EXHAUSTED}),
    C.PAUSE: frozenset(_NON_FINAL - _TRANSIENT - {T.PAUSED, T.PREPARED}),
    C.RESUME: frozenset({T.PAUSED}),
    C.REASSIGN: frozenset(
        {T.REGISTERED, T.DEFINED, T.READY, T.RUNNING, T.SCOUTING, T.SCOUTED, T.PENDING, T.EXHAUSTED}
    ),
    C.AVALANCHE: frozenset({T.SCOUTING, T.READY}),
}

# The status a command puts the task in while it is carried out (None: no status of its own).
COMMAND_STATUS: dict[TaskCommand, TaskStatus | None] = {
    C.KILL: T.ABORTING,
    C.FINISH: T.FINISHING,
    C.RETRY: T.TORETRY,
    C.PAUSE: T.PAUSED,
    C.RESUME: None,
    C.REASSIGN: T.TOREASSIGN,
    C.AVALANCHE: None,
}


def command_refusal(command: TaskCommand, status: TaskStatus) -> str | None:
    """Why ``command`` cannot be given to a task in ``status`` (None: it can)."""
    allowed = COMMAND_ALLOWED_FROM[command]
    if status in allowed:
        return None
    return f"{command.value} is not allowed for a {status.value} task (allowed from: {_names(allowed)})"


def _names(states: frozenset[TaskStatus]) -> str:
    order = list(TaskStatus)
    return ", ".join(s.value for s in sorted(states, key=order.index))


class TaskDatasetType(StrEnum):
    """JEDI dataset roles (states.md §3): inputs (master and secondary), outputs, logs, pre-merge pieces."""

    INPUT = "input"
    PSEUDO_INPUT = "pseudo_input"
    OUTPUT = "output"
    LOG = "log"
    TRN_OUTPUT = "trn_output"  # pre-merge outputs, to be merged into the output dataset
    TRN_LOG = "trn_log"


INPUT_TYPES: frozenset[TaskDatasetType] = frozenset({TaskDatasetType.INPUT, TaskDatasetType.PSEUDO_INPUT})


class TaskDatasetStatus(StrEnum):
    """JEDI dataset states (states.md §3): inputs defined/toupdate/pending/broken/ready/done; outputs
    defined/ready/running/prepared/done."""

    DEFINED = "defined"
    TOUPDATE = "toupdate"
    PENDING = "pending"
    BROKEN = "broken"
    READY = "ready"
    RUNNING = "running"
    PREPARED = "prepared"
    DONE = "done"


D = TaskDatasetStatus
TASK_DATASET_TRANSITIONS: dict[TaskDatasetStatus, frozenset[TaskDatasetStatus]] = {
    D.DEFINED: frozenset({D.READY, D.TOUPDATE, D.PENDING, D.BROKEN, D.RUNNING}),
    D.TOUPDATE: frozenset({D.READY, D.PENDING, D.BROKEN, D.DONE}),
    D.PENDING: frozenset({D.READY, D.TOUPDATE, D.BROKEN}),
    D.BROKEN: frozenset({D.TOUPDATE}),
    D.READY: frozenset({D.TOUPDATE, D.RUNNING, D.PREPARED, D.DONE, D.PENDING, D.BROKEN}),
    D.RUNNING: frozenset({D.PREPARED, D.DONE, D.READY}),
    D.PREPARED: frozenset({D.DONE, D.RUNNING}),
    D.DONE: frozenset({D.TOUPDATE, D.RUNNING, D.READY}),
}


def task_dataset_allowed(current: TaskDatasetStatus, target: TaskDatasetStatus) -> bool:
    return target in TASK_DATASET_TRANSITIONS[current]


class TaskFileStatus(StrEnum):
    """JEDI contents states (states.md §4). Inputs: ready, missing, lost, broken, picked, running,
    finished, failed, partial. Outputs: defined, running, prepared, merging, finished, failed."""

    READY = "ready"
    MISSING = "missing"
    LOST = "lost"
    BROKEN = "broken"
    PICKED = "picked"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    PARTIAL = "partial"
    DEFINED = "defined"
    PREPARED = "prepared"
    MERGING = "merging"


F = TaskFileStatus
TASK_FILE_TRANSITIONS: dict[TaskFileStatus, frozenset[TaskFileStatus]] = {
    # inputs
    F.READY: frozenset({F.PICKED, F.MISSING, F.LOST, F.BROKEN, F.FAILED, F.FINISHED}),
    F.MISSING: frozenset({F.READY, F.LOST, F.FAILED}),
    F.LOST: frozenset({F.READY, F.FAILED}),
    F.BROKEN: frozenset({F.READY, F.FAILED}),
    F.PICKED: frozenset({F.RUNNING, F.READY, F.FAILED}),  # picked -> ready: job creation failed / rescue
    # running: an input used by a job, or an output being produced (-> prepared for a pre-merge piece)
    F.RUNNING: frozenset({F.FINISHED, F.READY, F.FAILED, F.PARTIAL, F.PREPARED}),
    F.PARTIAL: frozenset({F.RUNNING, F.FINISHED, F.READY, F.FAILED}),
    # retry of a task (states.md §2.1): failed files return to ready
    F.FAILED: frozenset({F.READY}),
    F.FINISHED: frozenset(),
    # outputs
    F.DEFINED: frozenset({F.RUNNING, F.PREPARED, F.FINISHED, F.FAILED}),
    F.PREPARED: frozenset({F.MERGING, F.FINISHED, F.FAILED}),
    F.MERGING: frozenset({F.FINISHED, F.FAILED, F.PREPARED}),
}

# An input file row that no job will use again.
FILE_FINAL_STATES: frozenset[TaskFileStatus] = frozenset({F.FINISHED, F.FAILED})


def task_file_allowed(current: TaskFileStatus, target: TaskFileStatus) -> bool:
    return target in TASK_FILE_TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class FileCounts:
    """Master input files of a task by outcome (the final-status rule's input)."""

    total: int
    finished: int
    failed: int

    @property
    def ended(self) -> int:
        return self.finished + self.failed


def final_status(
    counts: FileCounts,
    *,
    parent_done: bool = True,
    input_closed: bool = True,
    goal_per_mille: int = 1000,
    fail_goal_unreached: bool = False,
) -> TaskStatus:
    """PostProcessor's rule (states.md §2.2): all master files OK -> done (finished if the parent is not
    done or the input is still mutable); none OK -> failed; some OK -> finished; with
    ``failGoalUnreached`` and success below ``goal`` -> failed."""
    if counts.total == 0 or counts.finished == 0:
        return T.FAILED
    if fail_goal_unreached and counts.finished * 1000 < goal_per_mille * counts.total:
        return T.FAILED
    if counts.finished == counts.total:
        return T.DONE if parent_done and input_closed else T.FINISHED
    return T.FINISHED

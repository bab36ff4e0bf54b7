"""Access policies (pure), one per resource, after DiracX: (caller, action, facts of the ids) -> refusals.

Each policy answers for a whole batch at once from facts read in one query (db/access.py); an id with
no facts (unknown) is not refused here, so the handler answers "not found" as without auth. Roles
(reference protocol.md §9): users act on their own jobs and tasks (ownership keyed on the token's
``sub``, a job's own or its task's); production on managed work and its own; a pilot acquires for the
queue its token names and updates only jobs dispatched there; factories manage workers; admin all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pandawms.core.auth import Caller, Role
from pandawms.core.errors import Forbidden
from pandawms.core.states import PRE_DISPATCH_STATES, JobStatus

MANAGED_LABELS = frozenset({"managed", "ptest", "prod_test", "rc_test"})  # production work
MAX_NAMED = 10  # refused ids named in one message


class Resource(StrEnum):
    JOBS = "jobs"
    TASKS = "tasks"
    DATASETS = "datasets"
    QUEUES = "queues"
    WORKERS = "workers"
    LOGS = "logs"
    AUDIT = "audit"
    SYSTEM = "system"


class Action(StrEnum):
    READ = "read"
    SUBMIT = "submit"
    MANAGE = "manage"  # kill, reassign, retry, task commands
    ACQUIRE = "acquire"  # a pilot takes jobs of a queue
    UPDATE = "update"  # a pilot reports on a job (status, log tarball)
    WRITE = "write"  # catalog, queue or worker changes


@dataclass(frozen=True, slots=True)
class JobFacts:
    panda_id: int
    owner: str  # prod_user_id
    task_owner: str  # its task's owner_sub ("" = none)
    label: str
    queue: str
    status: JobStatus


@dataclass(frozen=True, slots=True)
class TaskFacts:
    task_id: int
    owner: str
    label: str


def _owns(caller: Caller, *owners: str) -> bool:
    return any(o and o == caller.sub for o in owners)


def job_refusal(caller: Caller, action: Action, job: JobFacts) -> str | None:
    """Why the caller may not do ``action`` on this job, or None."""
    if caller.has(Role.ADMIN):
        return None
    if action is Action.READ:
        return None
    if action is Action.UPDATE:
        if caller.has(Role.PRODUCTION):
            return None
        if not caller.has(Role.PILOT):
            return "only pilots report on jobs"
        if job.queue != caller.identity.queue:
            return f"dispatched to {job.queue}, not to this pilot's queue {caller.identity.queue}"
        if job.status in PRE_DISPATCH_STATES:
            return "not dispatched yet"
        return None
    if _owns(caller, job.owner, job.task_owner):
        return None
    if caller.has(Role.PRODUCTION) and job.label in MANAGED_LABELS:
        return None
    return "not your job" if caller.has(Role.USER, Role.PRODUCTION) else f"{action.value}: not allowed"


def task_refusal(caller: Caller, action: Action, task: TaskFacts) -> str | None:
    if caller.has(Role.ADMIN) or action is Action.READ or _owns(caller, task.owner):
        return None
    if caller.has(Role.PRODUCTION) and task.label in MANAGED_LABELS:
        return None
    return "not your task"


def queue_refusal(caller: Caller, action: Action, queue: str) -> str | None:
    """Acquire: a pilot only for its token's queue."""
    if action is not Action.ACQUIRE or caller.has(Role.ADMIN, Role.PRODUCTION):
        return None
    if caller.has(Role.PILOT) and caller.identity.queue == queue:
        return None
    return f"this token acquires only for queue {caller.identity.queue or '(none)'}"


def label_refusal(caller: Caller, labels: Iterable[str]) -> str | None:
    """Submit: production labels need the production role (protocol.md §9)."""
    if caller.has(Role.ADMIN, Role.PRODUCTION):
        return None
    managed = sorted(set(labels) & MANAGED_LABELS)
    return f"prodSourceLabel {managed[0]} needs the production role" if managed else None


def refuse(what: str, refusals: Mapping[int, str] | Sequence[tuple[object, str]]) -> None:
    """Raise Forbidden naming (at most MAX_NAMED of) the refused ids and why; nothing when none."""
    items = list(refusals.items()) if isinstance(refusals, Mapping) else list(refusals)
    if not items:
        return
    named = "; ".join(f"{i}: {why}" for i, why in items[:MAX_NAMED])
    more = f" (and {len(items) - MAX_NAMED} more)" if len(items) > MAX_NAMED else ""
    raise Forbidden(f"{what}: {len(items)} refused: {named}{more}")

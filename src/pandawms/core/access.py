"""Access policies (pure), one per resource, after DiracX: (caller, action, facts of the ids) -> refusals.

Each policy answers for a whole batch at once from facts read in one query (db/access.py); an id with
no facts (unknown) is not refused here, so the handler answers "not found" as without auth. Roles
(reference protocol.md §9): users act on their own jobs and tasks (ownership keyed on the token's
``sub``, a job's own or its task's); production on managed work and its own; a pilot acquires for the
queue its token names and updates only jobs dispatched there; factories manage workers; admin all.
Catalog writes are owned per scope, as in Rucio (a scope's ``account`` is its owner's ``sub``): users
write only in scopes they own and add scopes only for themselves, under ``user.``; a rule belongs to the
``sub`` that made it; production and admin write everywhere.
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
USER_SCOPE_PREFIX = "user."  # the namespace users may add scopes in (the rest is production's)


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


@dataclass(frozen=True, slots=True)
class ScopeFacts:
    scope: str
    account: str  # the owner's sub ("" = nobody's: production's and admins')


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


def _writes_everywhere(caller: Caller) -> bool:
    return caller.has(Role.ADMIN, Role.PRODUCTION)


def scope_refusal(caller: Caller, action: Action, scope: ScopeFacts) -> str | None:
    """Catalog writes (datasets, files, replicas) in a scope: its owner, production and admin."""
    if action is Action.READ or _writes_everywhere(caller) or _owns(caller, scope.account):
        return None
    return "not your scope" if scope.account else "not your scope (it belongs to production)"


def scope_add_refusal(caller: Caller, scope: str, account: str) -> str | None:
    """A new scope: production and admin add any for anyone; a user only ``user.*`` for their own sub."""
    if _writes_everywhere(caller):
        return None
    if owner_of_new(caller, account, scope=True) != caller.sub:
        return f"a user adds scopes only for their own account {caller.sub!r}, not {account!r}"
    if not scope.startswith(USER_SCOPE_PREFIX) or len(scope) == len(USER_SCOPE_PREFIX):
        return f"a user adds scopes only under {USER_SCOPE_PREFIX!r} (user.<name>)"
    return None


def owner_of_new(caller: Caller, requested: str, *, scope: bool) -> str:
    """The account a new scope or rule is recorded for: the one asked for, else the caller's ``sub``
    (a scope an operator adds with none is production's: "")."""
    if requested:
        return requested
    return "" if scope and _writes_everywhere(caller) else caller.sub


def rule_refusal(caller: Caller, account: str) -> str | None:
    """Adding (for ``account``) or deleting (a rule of ``account``) a replication rule, as Rucio: a user
    only rules of their own; production and admin any."""
    if _writes_everywhere(caller) or _owns(caller, account):
        return None
    return "not your rule" if account else "not your rule (it belongs to production)"


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

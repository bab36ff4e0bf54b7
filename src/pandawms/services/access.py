"""The resource policies applied to a batch of ids: read their facts in one query, refuse with reasons."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection

from pandawms.core.access import (
    Action,
    JobFacts,
    job_refusal,
    refuse,
    rule_refusal,
    scope_add_refusal,
    scope_refusal,
    task_refusal,
)
from pandawms.core.auth import Caller, Role
from pandawms.core.states import PRE_DISPATCH_STATES
from pandawms.db import access as access_db


def check_jobs(conn: Connection, caller: Caller, action: Action, ids: Sequence[int]) -> list[JobFacts]:
    """Forbidden naming the jobs the caller may not ``action`` (unknown ids pass: the handler says so);
    else the facts read (none when the caller needs no read)."""
    if caller.has(Role.ADMIN) or action is Action.READ or not ids:
        return []
    facts = access_db.job_facts(conn, ids)
    refuse(f"jobs {action.value}", [(f.panda_id, r) for f in facts if (r := job_refusal(caller, action, f))])
    return facts


class DispatchedQueues:
    """PandaID -> queue of the jobs seen past dispatch, so a pilot's next updates of its job need no read.

    These facts never change: a job never returns to a pre-dispatch state, and only a ``defined`` job is
    re-brokered (core/states.JOB_TRANSITIONS, services/placement.rebroker); so for a pilot whose token
    names that queue ``job_refusal`` on ``update`` is None for good. Only jobs read from the database in
    a dispatched state, or claimed by this server's own acquire, are kept (an unknown id never is), per
    server process; bounded: the older half goes at ``MAX``.
    """

    MAX = 200_000

    def __init__(self) -> None:
        self._queue: dict[int, str] = {}

    def allows(self, caller: Caller, ids: Sequence[int]) -> bool:
        """True when every id is known to be dispatched to this pilot's queue (False: read and decide)."""
        queue = caller.identity.queue
        if not ids or not queue or not caller.has(Role.PILOT):
            return False
        return all(self._queue.get(i) == queue for i in ids)

    def learn(self, facts: Iterable[JobFacts]) -> None:
        for f in facts:
            if f.status not in PRE_DISPATCH_STATES and f.queue:
                self._queue[f.panda_id] = f.queue
        self._bound()

    def sent(self, jobs: Iterable[tuple[int, str | None]]) -> None:
        """(PandaID, queue) of jobs this server just dispatched (the acquire's own claim: no read needed)."""
        for panda_id, queue in jobs:
            if queue:
                self._queue[panda_id] = queue
        self._bound()

    def _bound(self) -> None:
        if len(self._queue) > self.MAX:
            for old in list(self._queue)[: self.MAX // 2]:
                self._queue.pop(old, None)

    def __len__(self) -> int:
        return len(self._queue)


def check_tasks(conn: Connection, caller: Caller, action: Action, ids: Sequence[int]) -> None:
    if caller.has(Role.ADMIN) or action is Action.READ or not ids:
        return
    facts = access_db.task_facts(conn, ids)
    refuse(f"tasks {action.value}", [(f.task_id, r) for f in facts if (r := task_refusal(caller, action, f))])


def check_scopes(conn: Connection, caller: Caller, action: Action, names: Sequence[str]) -> None:
    """Forbidden naming the scopes the caller may not write in (unknown scopes pass: the handler says
    so, or a task's new scope is checked by ``check_new_scopes``)."""
    if caller.has(Role.ADMIN, Role.PRODUCTION) or action is Action.READ or not names:
        return
    facts = access_db.scope_facts(conn, names)
    refuse(f"scopes {action.value}", [(f.scope, r) for f in facts if (r := scope_refusal(caller, action, f))])


def check_new_scopes(conn: Connection, caller: Caller, names: Sequence[str]) -> None:
    """The scopes a submission writes in (a task's outputs): owned by the caller, or new and ones the
    caller may add (``user.*``); production and admin write everywhere."""
    if caller.has(Role.ADMIN, Role.PRODUCTION) or not names:
        return
    check_scopes(conn, caller, Action.WRITE, names)
    known = {f.scope for f in access_db.scope_facts(conn, names)}
    new = sorted(set(names) - known)
    refuse("new scopes", [(n, r) for n in new if (r := scope_add_refusal(caller, n, caller.sub))])


def check_rules(conn: Connection, caller: Caller, rule_ids: Sequence[int]) -> None:
    """Forbidden naming the rules the caller may not delete (unknown ids pass: the handler says so)."""
    if caller.has(Role.ADMIN, Role.PRODUCTION) or not rule_ids:
        return
    owners = access_db.rule_accounts(conn, rule_ids)
    refuse("rules delete", [(i, r) for i, a in sorted(owners.items()) if (r := rule_refusal(caller, a))])

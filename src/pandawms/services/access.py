"""The resource policies applied to a batch of ids: read their facts in one query, refuse with reasons."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from pandawms.core.access import (
    Action,
    job_refusal,
    refuse,
    rule_refusal,
    scope_add_refusal,
    scope_refusal,
    task_refusal,
)
from pandawms.core.auth import Caller, Role
from pandawms.db import access as access_db


def check_jobs(conn: Connection, caller: Caller, action: Action, ids: Sequence[int]) -> None:
    """Forbidden naming the jobs the caller may not ``action`` (unknown ids pass: the handler says so)."""
    if caller.has(Role.ADMIN) or action is Action.READ or not ids:
        return
    facts = access_db.job_facts(conn, ids)
    refuse(f"jobs {action.value}", [(f.panda_id, r) for f in facts if (r := job_refusal(caller, action, f))])


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

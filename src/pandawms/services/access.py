"""The resource policies applied to a batch of ids: read their facts in one query, refuse with reasons."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from pandawms.core.access import Action, job_refusal, refuse, task_refusal
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

"""What the access policies need to know about a batch of ids: one query per batch (chunked on SQLite)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, select

from pandawms.core.access import JobFacts, ScopeFacts, TaskFacts
from pandawms.core.states import JobStatus
from pandawms.db.bulk import chunks
from pandawms.db.direct import Direct
from pandawms.db.schema import jobs, rules, scopes, tasks

_JOB_FACTS_STMT = (
    select(
        jobs.c.panda_id,
        jobs.c.prod_user_id,
        tasks.c.owner_sub,
        jobs.c.prod_source_label,
        jobs.c.computing_site,
        jobs.c.job_status,
    )
    .select_from(jobs.outerjoin(tasks, tasks.c.task_id == jobs.c.task_id))
    .where(jobs.c.panda_id.in_(bindparam("b_ids", expanding=True)))
)
# every pilot update's policy check reads one job: on the DBAPI (db/direct.py compiles a plan per list
# length, so only short lists go that way)
_JOB_FACTS = Direct(_JOB_FACTS_STMT, expanding=("b_ids",))
DIRECT_MAX_IDS = 8


def job_facts(conn: Connection, ids: Sequence[int]) -> list[JobFacts]:
    """Owner, its task's owner, label, queue and status of each known job."""
    out: list[JobFacts] = []
    for part in chunks(sorted(set(ids))):
        params = {"b_ids": list(part)}
        rows = (
            _JOB_FACTS.execute(conn, params)[0]
            if len(part) <= DIRECT_MAX_IDS
            else conn.execute(_JOB_FACTS_STMT, params)
        )
        out += [
            JobFacts(int(r[0]), r[1] or "", r[2] or "", r[3] or "", r[4] or "", JobStatus(r[5])) for r in rows
        ]
    return out


def task_facts(conn: Connection, ids: Sequence[int]) -> list[TaskFacts]:
    out: list[TaskFacts] = []
    for part in chunks(sorted(set(ids))):
        stmt = select(tasks.c.task_id, tasks.c.owner_sub, tasks.c.prod_source_label).where(
            tasks.c.task_id.in_(part)
        )
        out += [TaskFacts(int(r[0]), r[1] or "", r[2] or "") for r in conn.execute(stmt)]
    return out


def scope_facts(conn: Connection, names: Sequence[str]) -> list[ScopeFacts]:
    """The owner of each known scope."""
    out: list[ScopeFacts] = []
    for part in chunks(sorted(set(names))):
        stmt = select(scopes.c.scope, scopes.c.account).where(scopes.c.scope.in_(part))
        out += [ScopeFacts(str(r[0]), r[1] or "") for r in conn.execute(stmt)]
    return out


def rule_accounts(conn: Connection, rule_ids: Sequence[int]) -> dict[int, str]:
    """The account of each known rule."""
    out: dict[int, str] = {}
    for part in chunks(sorted(set(rule_ids))):
        stmt = select(rules.c.rule_id, rules.c.account).where(rules.c.rule_id.in_(part))
        out.update((int(r[0]), r[1] or "") for r in conn.execute(stmt))
    return out

"""Job submission: validate the batch, broker every job and store it, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.auth import Caller
from pandawms.core.changes import Lineage
from pandawms.core.errors import InvalidInput
from pandawms.core.shares import DEFAULT_TREE, Share
from pandawms.core.specs import JobSpec
from pandawms.db import queues as queues_db
from pandawms.services import access, shares
from pandawms.services.adder import catalog_outputs
from pandawms.services.placement import Broker, Placement, create_and_place


def submit(
    conn: Connection,
    specs: Sequence[JobSpec],
    now: datetime,
    max_batch: int,
    broker_: Broker | None = None,
    tree: Share = DEFAULT_TREE,
) -> list[Placement]:
    """All or nothing: a bad job rejects the whole batch before anything is stored. Each job gets its
    global share in ``tree`` (the server's configured one)."""
    validate(specs, max_batch)
    placed = shares.assign(specs, tree)
    return create_and_place(conn, [(s, Lineage()) for s in placed], now, broker_=broker_)


def check_queues(conn: Connection, specs: Sequence[JobSpec]) -> None:
    """Reject preset queues that do not exist (``submit`` does too, but chunked stores check first)."""
    known = {q.name for q in queues_db.list_all(conn)}
    for i, spec in enumerate(specs):
        if spec.computing_site is not None and spec.computing_site not in known:
            raise InvalidInput(
                f"jobs[{i}].computingSite: unknown queue {spec.computing_site!r}", f"jobs[{i}].computingSite"
            )


def check_output_scopes(conn: Connection, caller: Caller, specs: Sequence[JobSpec]) -> None:
    """Forbidden when a job's catalog outputs go to a scope the caller may not write in (the Adder adds
    new ones when the job ends; a user's may only be ``user.*``)."""
    scopes = {
        s for spec in specs for o in catalog_outputs(spec.files) for s in (o.did.scope, o.dataset.scope)
    }
    access.check_new_scopes(conn, caller, sorted(scopes))


def validate(specs: Sequence[JobSpec], max_batch: int) -> None:
    """The checks that need no database: batch size and include/exclude overlaps."""
    if not specs:
        raise InvalidInput("jobs: at least one job is required", "jobs")
    if len(specs) > max_batch:
        raise InvalidInput(f"jobs: {len(specs)} jobs in one call, the limit is {max_batch}", "jobs")
    for i, spec in enumerate(specs):
        overlap = set(spec.included_sites) & set(spec.excluded_sites)
        if overlap:
            raise InvalidInput(
                f"jobs[{i}].includedSites: queue(s) both included and excluded: {', '.join(sorted(overlap))}",
                f"jobs[{i}].includedSites",
            )

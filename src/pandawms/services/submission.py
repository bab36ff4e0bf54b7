"""Job submission: validate the batch, broker every job and store it, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.changes import Lineage
from pandawms.core.errors import InvalidInput
from pandawms.core.specs import JobSpec
from pandawms.services.placement import Placement, create_and_place


def submit(conn: Connection, specs: Sequence[JobSpec], now: datetime, max_batch: int) -> list[Placement]:
    """All or nothing: a bad job rejects the whole batch before anything is stored."""
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
    return create_and_place(conn, [(s, Lineage()) for s in specs], now)

"""Brokerage decision repository: the latest decision per job, so users can ask why a job went where."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, insert, select

from pandawms.db.lean import LeanInsert
from pandawms.db.schema import brokerage_decisions as bd


@dataclass(frozen=True, slots=True)
class StoredDecision:
    panda_id: int
    time: datetime
    chosen: str | None
    summary: str
    rejected: dict[str, dict[str, object]]


# Built once: every stored chunk of a submission runs them (a statement built per call cost more than it ran).
_DELETE = delete(bd).where(bd.c.panda_id.in_(bindparam("b_ids", expanding=True)))
_INSERT = LeanInsert(insert(bd))


def save(conn: Connection, decisions: Sequence[StoredDecision], *, new_jobs: bool = False) -> None:
    """Store each job's latest decision, replacing an older one; ``new_jobs``: jobs created in this
    transaction, which have none yet (no DELETE)."""
    if not decisions:
        return
    if not new_jobs:
        conn.execute(_DELETE, {"b_ids": [d.panda_id for d in decisions]})
    _INSERT.execute(
        conn,
        [
            {
                "panda_id": d.panda_id,
                "decision_time": d.time,
                "chosen": d.chosen,
                "summary": d.summary,
                "rejected": json.dumps(d.rejected, sort_keys=True),
            }
            for d in decisions
        ],
    )


def get(conn: Connection, panda_id: int) -> StoredDecision | None:
    row = conn.execute(select(bd).where(bd.c.panda_id == panda_id)).mappings().first()
    if row is None:
        return None
    return StoredDecision(
        row["panda_id"], row["decision_time"], row["chosen"], row["summary"], json.loads(row["rejected"])
    )

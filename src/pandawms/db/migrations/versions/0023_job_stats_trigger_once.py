"""PostgreSQL: the job-stats trigger computes a final job's buckets once and tests changes inside

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 16:00:00

Migration 0021's trigger function inserts one delta row per final job from a SELECT over a subquery that
computes the walltime and memory-per-core buckets. PostgreSQL pulls that subquery up into the outer
SELECT, so each of the 22 histogram columns (``CASE WHEN wb = i``) repeated the whole bucket CASE, and
each branch of it the walltime or memory expression: about 0.5 ms of the database's CPU per job reaching
a final state, five times the UPDATE that fires it (docs/benchmarks.md, 2026-12-07). The replacement is
the same SQL with ``OFFSET 0`` on the subquery, which keeps it a subquery; the rows it inserts are the
same. SQLite does not flatten it that way (no difference measured), so its triggers stay as they are.

PostgreSQL also reads a trigger's WHEN clause from its stored text once per statement that fires the
trigger (every UPDATE of jobs: each heartbeat). The UPDATE trigger's WHEN now only asks whether the row
was or is final; the test whether any aggregated column changed moved into the function, which returns
at once when none did.
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_JOB_STATS = importlib.import_module("pandawms.db.migrations.versions.0021_job_stats")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_JOB_STATS.pg_function(fence=True, test_inside=True, replace=True))
        op.execute("DROP TRIGGER job_stats_update ON jobs")
        op.execute(_JOB_STATS.pg_update_trigger(test_inside=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER job_stats_update ON jobs")
        op.execute(_JOB_STATS.pg_update_trigger())
        op.execute(_JOB_STATS.pg_function(replace=True))

"""Per-hour totals of final jobs for the charts: job_stats_by_hour, job_error_stats_by_hour

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 08:00:00

The unfiltered pages chart jobs per (hour, state) and failures per (hour, component, code). Read from
``job_stats`` / ``job_error_stats`` that is a scan of every row of the window (about 350 keys an hour at
ATLAS-like mixes: 234,000 rows for four weeks of a million jobs, 80 ms for the 30-day chart on SQLite), so
the fold keeps two more rollups with only those keys (a few rows an hour), and the two covering indexes
that served the scan go. Filled here from the folded hourly rows; pending deltas reach them at the next
fold like every other aggregate. The triggers do not change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_stats_by_hour",
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "state"),
    )
    op.create_table(
        "job_error_stats_by_hour",
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("component", sa.String(length=16), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "component", "code"),
    )
    op.execute(
        "INSERT INTO job_stats_by_hour (hour, state, jobs) "
        "SELECT hour, state, sum(jobs) FROM job_stats GROUP BY hour, state HAVING sum(jobs) <> 0"
    )
    op.execute(
        "INSERT INTO job_error_stats_by_hour (hour, component, code, jobs) "
        "SELECT hour, component, code, sum(jobs) FROM job_error_stats "
        "GROUP BY hour, component, code HAVING sum(jobs) <> 0"
    )
    op.drop_index("ix_job_stats_hour_state", table_name="job_stats")
    op.drop_index("ix_job_error_stats_hour_code", table_name="job_error_stats")


def downgrade() -> None:
    op.create_index("ix_job_stats_hour_state", "job_stats", ["hour", "state", "jobs"])
    op.create_index("ix_job_error_stats_hour_code", "job_error_stats", ["hour", "component", "code", "jobs"])
    op.drop_table("job_error_stats_by_hour")
    op.drop_table("job_stats_by_hour")

"""Job gshare (the global share a job counts in) and the dispatcher's per-share index

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN with a constant default: no rebuild of a 1M-job table; jobs stored before keep ""
    # (no share: the dispatcher still serves them, after the shares in order)
    op.add_column("jobs", sa.Column("gshare", sa.String(length=64), server_default="", nullable=False))
    op.create_index(
        "ix_jobs_dispatch_share",
        "jobs",
        ["computing_site", "gshare", sa.literal_column("current_priority DESC"), "panda_id"],
        unique=False,
        sqlite_where=sa.text("job_status = 'activated'"),
        postgresql_where=sa.text("job_status = 'activated'"),
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_jobs_dispatch_share",
            sqlite_where=sa.text("job_status = 'activated'"),
            postgresql_where=sa.text("job_status = 'activated'"),
        )
        batch_op.drop_column("gshare")

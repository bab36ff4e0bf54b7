"""jobs.dispatch_dblock, jobs.destination_dblock: a job's _dis and _sub blocks (PanDA's dispatchDBlock,
destinationDBlock)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:40:57
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs with a constant default: no table rebuild on SQLite or PostgreSQL at 1M+ jobs.
    op.add_column(
        "jobs", sa.Column("dispatch_dblock", sa.String(length=250), server_default="", nullable=False)
    )
    op.add_column(
        "jobs", sa.Column("destination_dblock", sa.String(length=250), server_default="", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("destination_dblock")
        batch.drop_column("dispatch_dblock")

"""jobs.destination_se: the storage element a job's outputs go to (PanDA's destinationSE)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 19:54:08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: no table rebuild on SQLite or PostgreSQL at 1M+ jobs.
    op.add_column(
        "jobs", sa.Column("destination_se", sa.String(length=128), server_default="", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("destination_se")

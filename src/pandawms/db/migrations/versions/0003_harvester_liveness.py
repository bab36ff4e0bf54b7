"""harvester liveness

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "harvesters",
        sa.Column("harvester_id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=128), server_default="", nullable=False),
        sa.Column("alive_workers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("harvester_id"),
    )


def downgrade() -> None:
    op.drop_table("harvesters")

"""add_workers request ids: a repeated call gets the workers granted the first time

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 07:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
    op.create_index("ix_workers_request", "workers", ["harvester_id", "request_id"])


def downgrade() -> None:
    op.drop_index("ix_workers_request", table_name="workers")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("request_id")

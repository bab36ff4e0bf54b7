"""The jobs each acquire_jobs call with a request_id claimed, so a repeat gets them back

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acquire_requests",
        sa.Column("claimant", sa.String(length=340), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("panda_ids", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("claimant", "request_id"),
    )
    op.create_index("ix_acquire_requests_time", "acquire_requests", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_acquire_requests_time", table_name="acquire_requests")
    op.drop_table("acquire_requests")

"""factory workers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:24:00.496149
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "workers",
        sa.Column(
            "worker_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("harvester_id", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.String(length=80), server_default="", nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("diag", sa.String(length=500), server_default="", nullable=False),
        sa.Column("panda_id", sa.BigInteger(), nullable=True),
        sa.Column("submit_time", sa.DateTime(), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=True),
        sa.Column("end_time", sa.DateTime(), nullable=True),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id"),
    )
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.create_index("ix_workers_queue_status", ["queue", "status"], unique=False)
        batch_op.create_index("ix_workers_status_modtime", ["status", "modification_time"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_index("ix_workers_status_modtime")
        batch_op.drop_index("ix_workers_queue_status")

    op.drop_table("workers")

"""Workers' native batch states and the last batch-system errors per queue (the monitor's site page)

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-02 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"  # re-chained at merge onto the agent leases
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("batch_state", sa.String(length=32), nullable=True))
    op.create_table(
        "batch_errors",
        sa.Column(
            "error_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("harvester_id", sa.String(length=64), nullable=False),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("worker_id", sa.BigInteger(), nullable=True),
        sa.Column("batch_id", sa.String(length=80), server_default="", nullable=False),
        sa.Column("batch_state", sa.String(length=32), server_default="", nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("error_id"),
    )
    op.create_index("ux_batch_errors_report", "batch_errors", ["harvester_id", "report_id"], unique=True)
    op.create_index("ix_batch_errors_queue", "batch_errors", ["queue", "error_id"])


def downgrade() -> None:
    op.drop_index("ix_batch_errors_queue", table_name="batch_errors")
    op.drop_index("ux_batch_errors_report", table_name="batch_errors")
    op.drop_table("batch_errors")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("batch_state")

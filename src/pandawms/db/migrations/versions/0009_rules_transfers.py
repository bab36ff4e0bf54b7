"""Transfer service: rules (replication rules) and transfers (transfer requests)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:34:10.299445
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column(
            "rule_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scope", sa.String(length=25), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("rse", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("activity", sa.String(length=64), server_default="User Subscriptions", nullable=False),
        sa.Column("account", sa.String(length=64), server_default="", nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("files_ok", sa.Integer(), server_default="0", nullable=False),
        sa.Column("files_replicating", sa.Integer(), server_default="0", nullable=False),
        sa.Column("files_stuck", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id"),
    )
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.create_index("ix_rules_did", ["scope", "name", "rse"], unique=False)
        batch_op.create_index("ix_rules_expires", ["expires_at"], unique=False)
        batch_op.create_index("ix_rules_rse_status", ["rse", "status"], unique=False)

    op.create_table(
        "transfers",
        sa.Column(
            "request_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(length=25), nullable=False),
        sa.Column("lfn", sa.String(length=250), nullable=False),
        sa.Column("source_rse", sa.String(length=64), server_default="", nullable=False),
        sa.Column("dest_rse", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), server_default="", nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("method", sa.String(length=16), server_default="", nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("modification_time", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index("ix_transfers_dest_status", ["dest_rse", "status"], unique=False)
        batch_op.create_index("ix_transfers_file_dest", ["scope", "lfn", "dest_rse"], unique=False)
        batch_op.create_index("ix_transfers_runnable", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ux_transfers_rule_file", ["rule_id", "scope", "lfn"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ux_transfers_rule_file")
        batch_op.drop_index("ix_transfers_runnable")
        batch_op.drop_index("ix_transfers_file_dest")
        batch_op.drop_index("ix_transfers_dest_status")

    op.drop_table("transfers")
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.drop_index("ix_rules_rse_status")
        batch_op.drop_index("ix_rules_did")
        batch_op.drop_index("ix_rules_expires")

    op.drop_table("rules")

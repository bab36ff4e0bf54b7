"""Security: the issuer's signing keys, refresh tokens, the audit log, and the owner (token sub) of jobs/tasks

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-02 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"  # (no 0014: that number was kept for a branch that needed no migration)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("private_jwk", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("sub", sa.String(length=128), nullable=False),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("replaced_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_refresh_tokens_sub", "refresh_tokens", ["sub"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column(
            "audit_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("sub", sa.String(length=128), nullable=False),
        sa.Column("roles", sa.String(length=128), server_default="", nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=128), nullable=False),
        sa.Column("ids", sa.Text(), server_default="", nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    op.create_index("ix_audit_log_sub_time", "audit_log", ["sub", "time"], unique=False)
    # plain ADD COLUMN with a constant default: no rebuild of a 1M-job table; rows stored before keep ""
    op.add_column("jobs", sa.Column("prod_user_id", sa.String(length=128), server_default="", nullable=False))
    op.add_column("tasks", sa.Column("owner_sub", sa.String(length=128), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("owner_sub")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("prod_user_id")
    op.drop_index("ix_audit_log_sub_time", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_refresh_tokens_sub", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("signing_keys")

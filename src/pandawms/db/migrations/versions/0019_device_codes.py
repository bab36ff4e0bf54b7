"""Device logins (RFC 8628 device authorization grant; issue 11, point 4)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_codes",
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("user_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=256), server_default="", nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(), nullable=True),
        sa.Column("login_hash", sa.String(length=64), nullable=True),
        sa.Column("code_verifier", sa.String(length=128), nullable=True),
        sa.Column("sub", sa.String(length=128), nullable=True),
        sa.Column("identity", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("device_hash"),
    )
    op.create_index("ux_device_codes_user", "device_codes", ["user_hash"], unique=True)
    op.create_index("ix_device_codes_login", "device_codes", ["login_hash"])
    op.create_index("ix_device_codes_expires", "device_codes", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_device_codes_expires", table_name="device_codes")
    op.drop_index("ix_device_codes_login", table_name="device_codes")
    op.drop_index("ux_device_codes_user", table_name="device_codes")
    op.drop_table("device_codes")

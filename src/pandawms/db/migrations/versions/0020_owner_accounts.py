"""Scope and rule owners are token subs (up to 128 characters, as core.auth.Identity allows)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _account_length(old: int, new: int) -> None:
    for table in ("scopes", "rules"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "account",
                existing_type=sa.String(length=old),
                type_=sa.String(length=new),
                existing_nullable=False,
            )


def upgrade() -> None:
    _account_length(64, 128)


def downgrade() -> None:
    _account_length(128, 64)
